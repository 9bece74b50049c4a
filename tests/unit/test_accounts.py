"""People's accounts: argon2id hashes, rehashing, the lockout rule, unknown names, and the audit
entries each change and each sign-in leaves. Accounts are kept in a real file, the audit in a
real log (both under tmp_path); time comes from a clock the test moves."""

from datetime import UTC, datetime, timedelta

import argon2
import pytest

from stockflow.accounts import (
    Account,
    AccountError,
    LockoutPolicy,
    Outcome,
    account_name,
    hash_password,
    judge_sign_in,
    password_matches,
)
from stockflow.masking import Role
from stockflow.services.accounts import (
    add_account,
    change_password,
    disable_account,
    enable_account,
    first_accounts,
    sign_in,
    unlock_account,
)
from stores.accounts import AccountFile
from stores.audit_log import AuditLog

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=3, lockout=timedelta(minutes=15))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class CountingHasher(argon2.PasswordHasher):
    """The real hasher, counting how often a password is checked."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    def verify(self, hash, password):  # noqa: A002 — argon2's own parameter name
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def book(tmp_path):
    return AccountFile(tmp_path / "accounts.json")


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path)


def actions(audit: AuditLog) -> list[tuple[str, str, str]]:
    return [(r["actor"], r["role"], r["action"]) for r in audit.records()]


def test_hashes_are_argon2id_with_rfc_9106_parameters():
    stored = hash_password("仓库-2026-春")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and "仓库" not in stored
    params = argon2.extract_parameters(stored)
    # RFC 9106 §4, second recommended option; OWASP asks for at least m=19 MiB, t=2, p=1
    assert (params.type, params.time_cost, params.memory_cost, params.parallelism) == (
        argon2.Type.ID, 3, 64 * 1024, 4,
    )  # fmt: skip
    assert (params.salt_len, params.hash_len) == (16, 32)
    assert hash_password("仓库-2026-春") != stored  # salted
    assert argon2.PasswordHasher().verify(stored, "仓库-2026-春")
    assert password_matches("仓库-2026-春", stored) and not password_matches("仓库-2026-秋", stored)
    assert not password_matches("x", "scrypt$16384$8$1$c2FsdA==$aGFzaA==")  # an old hash: refused
    with pytest.raises(AccountError, match="at least 8"):
        hash_password("1234567")


def test_a_hash_with_old_parameters_is_renewed_at_sign_in(book, audit):
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("old-password")
    with book.changing() as accounts:
        accounts["li.na"] = Account(name="li.na", role=Role.FINANCE, password_hash=weak)
    assert sign_in(book, audit, "li.na", "old-password", POLICY).signed_in
    renewed = book.get("li.na").password_hash
    assert renewed != weak and argon2.extract_parameters(renewed).memory_cost == 64 * 1024
    assert argon2.PasswordHasher().verify(renewed, "old-password")
    # a current hash is kept as it is
    assert sign_in(book, audit, "li.na", "old-password", POLICY).signed_in
    assert book.get("li.na").password_hash == renewed


def test_the_lockout_sequence(book, audit):
    clock = Clock()
    add_account(book, audit, "Wang.Li", Role.WAREHOUSE, "right-password", "admin", now=clock)

    def attempt(password: str):
        return sign_in(book, audit, "wang.li", password, POLICY, now=clock)

    # two failures, then a success: the count starts again
    assert [attempt("wrong").outcome for _ in range(2)] == [Outcome.WRONG, Outcome.WRONG]
    assert book.get("wang.li").failed_sign_ins == 2
    clock.advance(minutes=1)
    ok = attempt("right-password")
    assert ok.signed_in and ok.role is Role.WAREHOUSE and ok.name == "wang.li"
    assert book.get("wang.li").failed_sign_ins == 0 and book.get("wang.li").last_sign_in == clock.now
    # three failures in a row lock the account for 15 minutes from the third
    assert attempt("wrong").outcome is Outcome.WRONG
    clock.advance(seconds=30)
    assert attempt("wrong").outcome is Outcome.WRONG
    clock.advance(seconds=30)
    locked = attempt("wrong")
    until = T0 + timedelta(minutes=2, seconds=0) + timedelta(minutes=15)
    assert locked.outcome is Outcome.LOCKED_OUT and locked.locked_until == until
    # while locked, the right password and a wrong one get the same answer, and neither counts
    clock.advance(minutes=5)
    assert attempt("right-password") == attempt("wrong")
    assert attempt("right-password").outcome is Outcome.LOCKED and not attempt("right-password").signed_in
    assert book.get("wang.li").locked_until == until
    clock.now = until - timedelta(seconds=1)
    assert attempt("right-password").outcome is Outcome.LOCKED
    # once the lockout is over the right password works again
    clock.now = until
    assert attempt("right-password").signed_in
    assert book.get("wang.li").locked_until is None
    entries = actions(audit)
    assert entries[0] == ("admin", "", "account.added")
    assert ("wang.li", "warehouse", "dashboard.signed_in") in entries
    assert entries.count(("wang.li", "warehouse", "dashboard.sign_in_failed")) == 4
    assert entries.count(("wang.li", "warehouse", "dashboard.locked_out")) == 1
    assert entries.count(("wang.li", "warehouse", "dashboard.sign_in_while_locked")) == 5
    lockout = next(r for r in audit.records() if r["action"] == "dashboard.locked_out")
    assert lockout["details"]["locked_until"] == until.isoformat()


def test_a_locked_account_s_password_is_not_checked():
    hasher = CountingHasher()
    account = Account(
        name="a", role=Role.MANAGER, password_hash=hasher.hash("right-password"),
        locked_until=T0 + timedelta(minutes=1),
    )  # fmt: skip
    verdict = judge_sign_in(account, "right-password", T0, POLICY, hasher)
    assert verdict.outcome is Outcome.LOCKED and verdict.updated is None and hasher.verified == 0
    verdict = judge_sign_in(account, "right-password", T0 + timedelta(minutes=1), POLICY, hasher)
    assert verdict.outcome is Outcome.SIGNED_IN and hasher.verified == 1


def test_an_unknown_name_gets_the_answer_of_a_wrong_password_and_changes_nothing(book, audit):
    from stockflow import accounts as domain

    add_account(book, audit, "zhao", Role.FINANCE, "right-password", "admin")
    checks = domain._dummy_hash.cache_info()
    unknown = sign_in(book, audit, "nobody", "right-password", POLICY)
    wrong = sign_in(book, audit, "zhao", "not-it-at-all", POLICY)
    assert unknown.outcome is wrong.outcome is Outcome.WRONG
    assert unknown.locked_until is None and unknown.role is None
    # the password was still checked, against a dummy hash
    after = domain._dummy_hash.cache_info()
    assert after.hits + after.misses == checks.hits + checks.misses + 1
    # many tries on an unknown name lock nothing and write nothing
    before = book.path.read_bytes()
    for _ in range(POLICY.max_failures + 1):
        assert sign_in(book, audit, "nobody", "x", POLICY).outcome is Outcome.WRONG
    assert book.path.read_bytes() == before
    assert [a.name for a in book.all()] == ["zhao"] and book.get("zhao").failed_sign_ins == 1
    failed = [r for r in audit.records() if r["action"] == "dashboard.sign_in_failed"]
    assert [(r["actor"], r["details"]["why"]) for r in failed[:2]] == [
        ("nobody", "unknown account"),
        ("zhao", "wrong password (1 in a row)"),
    ]
    # a name that cannot be one is refused the same way
    assert sign_in(book, audit, "a b c", "x", POLICY).outcome is Outcome.WRONG
    assert sign_in(book, audit, "", "x", POLICY).outcome is Outcome.WRONG
    assert audit.records()[-1]["actor"] == "(no name)"


def test_disabled_accounts_are_refused_even_with_the_right_password(book, audit):
    add_account(book, audit, "qian", Role.AUDITOR, "right-password", "admin")
    disable_account(book, audit, "qian", "admin")
    refused = sign_in(book, audit, "qian", "right-password", POLICY)
    assert refused.outcome is Outcome.WRONG and book.get("qian").disabled
    enable_account(book, audit, "qian", "admin")
    assert sign_in(book, audit, "QIAN", "right-password", POLICY).signed_in


def test_changes_are_checked_and_audited(book, audit):
    add_account(book, audit, "sun", Role.FINANCE, "first-password", "root")
    with pytest.raises(AccountError, match="exists already"):
        add_account(book, audit, "Sun", Role.MANAGER, "other-password", "root")
    with pytest.raises(AccountError, match="no account named 'zhou'"):
        unlock_account(book, audit, "zhou", "root")
    with pytest.raises(AccountError, match="at least 8"):
        change_password(book, audit, "sun", "short", "root")
    change_password(book, audit, "sun", "second-password", "root")
    assert not sign_in(book, audit, "sun", "first-password", POLICY).signed_in
    assert sign_in(book, audit, "sun", "second-password", POLICY).signed_in
    for _ in range(POLICY.max_failures):
        sign_in(book, audit, "sun", "wrong", POLICY)
    assert sign_in(book, audit, "sun", "second-password", POLICY).outcome is Outcome.LOCKED
    unlock_account(book, audit, "sun", "root")
    assert sign_in(book, audit, "sun", "second-password", POLICY).signed_in
    mine = [(actor, action) for actor, _, action in actions(audit) if actor == "root"]
    assert mine == [
        ("root", "account.added"),
        ("root", "account.password_changed"),
        ("root", "account.unlocked"),
    ]


def test_names_are_trimmed_lower_cased_and_checked():
    assert account_name("  Wang.Li ") == "wang.li"
    assert account_name("王经理") == "王经理"
    assert account_name("li_na@north-dc") == "li_na@north-dc"
    for bad in ("", "   ", "wang li", "a/b", "x" * 65, "semi;colon"):
        with pytest.raises(AccountError):
            account_name(bad)


def test_the_first_accounts_are_one_per_role_and_only_once(book, audit):
    chosen = first_accounts(book, audit, "root")
    assert sorted(chosen) == ["auditor", "finance", "manager", "warehouse"]
    assert {a.name: a.role.value for a in book.all()} == {r: r for r in chosen}
    for name, password in chosen.items():
        assert len(password) >= 12 and argon2.PasswordHasher().verify(book.get(name).password_hash, password)
    assert first_accounts(book, audit, "root") == {}
    assert len(book.all()) == 4 and len(audit.records()) == 4
