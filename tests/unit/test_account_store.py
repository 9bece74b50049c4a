"""The accounts file: written whole and private (0600), and changed under a lock, so processes
and threads that add accounts at the same time lose none."""

import json
import multiprocessing
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import argon2

from stockflow.accounts import Account
from stockflow.masking import Role
from stores.accounts import AccountFile

#: one real hash made once: the test is about the file, not about hashing
HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("not-used-here")
EACH = 40


def add_many(path: str, prefix: str) -> None:
    book = AccountFile(Path(path))
    for i in range(EACH):
        with book.changing() as accounts:
            name = f"{prefix}{i:03d}"
            accounts[name] = Account(name=name, role=Role.WAREHOUSE, password_hash=HASH)


def test_two_processes_adding_accounts_lose_none(tmp_path):
    path = tmp_path / "accounts.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=add_many, args=(str(path), p)) for p in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    names = [r["name"] for r in json.loads(path.read_text())["accounts"]]
    assert sorted(names) == [f"{p}{i:03d}" for p in "ab" for i in range(EACH)]


def test_threads_adding_accounts_lose_none(tmp_path):
    path = tmp_path / "accounts.json"
    threads = [threading.Thread(target=add_many, args=(str(path), p)) for p in ("x", "y", "z")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(AccountFile(path).all()) == 3 * EACH


def test_the_file_is_private_whole_and_round_trips(tmp_path):
    path = tmp_path / "var" / "accounts.json"
    book = AccountFile(path)
    assert book.all() == [] and book.get("nobody") is None
    (tmp_path / "var").mkdir()
    stale = path.with_name(".accounts.json.tmp")
    stale.write_text("left over")
    stale.chmod(0o644)
    when = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    account = Account(
        name="王经理", role=Role.MANAGER, password_hash=HASH, disabled=True, failed_sign_ins=2,
        locked_until=when, last_sign_in=when, created_at=when,
    )  # fmt: skip
    with book.changing() as accounts:
        accounts[account.name] = account
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not stale.exists()  # it became the file
    assert AccountFile(path).get("王经理") == account
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["format"] == 1 and stored["accounts"][0]["locked_until"] == "2026-03-02T08:00:00+00:00"
    # a block that fails stores nothing
    try:
        with book.changing() as accounts:
            accounts.clear()
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert book.get("王经理") == account
