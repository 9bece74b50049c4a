"""The real `stockflow` command as a person and a script run it: `--format csv|json` of `inspect`
and `users list` parsed with the csv and json modules against what the test put there (the
generator's truth about each photo, the accounts it made), the piped table one line per row
however long the values, and the interface in Chinese or English as STOCKFLOW_LANGUAGE says.

One var dir and one set of photos for the module; each command is one subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockflow.accounts import AccountError
from stockflow.i18n import Language
from stockflow.masking import Role
from tests.support.vision import damaged_and_sound
from tests.unit.test_i18n import raw_entries

pytestmark = pytest.mark.integration

LONG_NAME = "仓库.王小明.night-shift.receiving-dock-" + "x" * 30  # 64 characters, the most a name has
ACCOUNTS = {"wang.li": Role.FINANCE, "zhao.qian": Role.AUDITOR, LONG_NAME: Role.WAREHOUSE}


def stockflow(var: Path, *args: str, language: str = "en") -> subprocess.CompletedProcess:
    """The installed entry point, its output piped (not a terminal), a narrow terminal width."""
    command = shutil.which("stockflow", path=str(Path(sys.executable).parent)) or "stockflow"
    env = {**os.environ, "STOCKFLOW_VAR_DIR": str(var), "STOCKFLOW_LANGUAGE": language, "COLUMNS": "60"}
    return subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def var(tmp_path_factory) -> Path:
    """A var dir holding the accounts of `ACCOUNTS` (made through the accounts store)."""
    from stockflow.config import get_settings
    from stockflow.services.accounts import add_account
    from stores.accounts import AccountFile
    from stores.audit_log import AuditLog

    var = tmp_path_factory.mktemp("var")
    book, audit = AccountFile(var / "accounts.json"), AuditLog(var)
    for name, role in ACCOUNTS.items():
        try:
            add_account(book, audit, name, role, "a-long-password", "tester")
        except AccountError as exc:  # the accounts store's own rules: say which
            pytest.fail(f"{name}: {exc}")
    get_settings.cache_clear()
    return var


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    """A damaged pallet, a sound one and a photo without a pallet, as JPEG files, with the
    generator's truth about each."""
    import cv2

    folder = tmp_path_factory.mktemp("photos")
    (damaged, damaged_truth), (sound, sound_truth), (ordinary, ordinary_truth) = damaged_and_sound()
    out = {}
    for name, image, truth in (
        ("damaged", damaged, damaged_truth),
        ("sound", sound, sound_truth),
        ("ordinary", ordinary, ordinary_truth),
    ):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        path = folder / f"{name}.jpg"
        path.write_bytes(data.tobytes())
        out[name] = (path, truth)
    return out


def inspect(var: Path, photos: dict, *args: str, language: str = "en") -> subprocess.CompletedProcess:
    paths = [str(photos[n][0]) for n in ("damaged", "sound", "ordinary")]
    return stockflow(var, "inspect", *paths, *args, language=language)


def check_inspections(rows: list[dict], photos: dict, as_text: bool) -> None:
    """Rows as csv (every value a string) or json gives them, against the photos' truth."""

    def value(v):
        return str(v).lower() if as_text and isinstance(v, bool) else str(v) if as_text else v

    by_photo = {Path(r["photo"]).stem: r for r in rows}
    assert set(by_photo) == {"damaged", "sound", "ordinary"}
    damaged, sound, ordinary = by_photo["damaged"], by_photo["sound"], by_photo["ordinary"]
    assert damaged["pallet_found"] == value(True) and damaged["verdict"] == "quarantine"
    assert damaged["damaged_cartons"] == value(photos["damaged"][1].damaged)
    assert sound["pallet_found"] == value(True) and sound["verdict"] == "accept"
    assert sound["cartons"] == value(photos["sound"][1].cartons) and sound["damaged_cartons"] == value(0)
    assert sound["mixed_goods"] == value(False)
    assert 0 < float(sound["confidence"]) <= 1
    assert ordinary["pallet_found"] == value(False)
    assert ordinary["verdict"] in ("", None) and ordinary["cartons"] in ("", None)
    assert all(r["event_id"] in ("", None) for r in rows)  # nothing recorded


def test_inspect_as_csv(var, photos):
    run = inspect(var, photos, "--format", "csv")
    assert run.returncode == 0, run.stderr
    reader = csv.DictReader(io.StringIO(run.stdout))
    assert reader.fieldnames == [
        "photo", "pallet_found", "cartons", "layers", "damaged_cartons", "mixed_goods", "confidence", "verdict",
        "event_id",
    ]  # fmt: skip
    check_inspections(list(reader), photos, as_text=True)


def test_inspect_as_json(var, photos):
    run = inspect(var, photos, "--format", "json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert isinstance(rows[0]["cartons"], int) and isinstance(rows[0]["confidence"], float)
    check_inspections(rows, photos, as_text=False)


def test_inspect_in_chinese_is_a_plain_table_of_one_line_per_photo(var, photos):
    run = inspect(var, photos, language="zh_CN")
    assert run.returncode == 0, run.stderr
    zh = raw_entries(Language.ZH_CN)
    lines = run.stdout.splitlines()
    assert len(lines) == 4, run.stdout
    headers = [zh[f"column.{c}"] for c in ("photo", "pallet_found", "cartons", "layers", "damaged_cartons",
               "mixed_goods", "confidence", "verdict", "event_id")]  # fmt: skip
    places = [lines[0].find(h) for h in headers]
    assert -1 not in places and places == sorted(places), lines[0]
    rows = {Path(line.split()[0]).stem: line for line in lines[1:]}
    assert rows["damaged"].split()[-1] == zh["value.verdict.quarantine"]
    assert rows["sound"].split()[-1] == zh["value.verdict.accept"]
    assert zh["cli.inspect.no_pallet"] in rows["ordinary"]


def test_users_list_as_csv_and_json_are_the_accounts_made(var):
    as_csv = stockflow(var, "users", "list", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {r["name"]: r["role"] for r in rows} == {n: r.value for n, r in ACCOUNTS.items()}
    assert {(r["state"], r["failed_sign_ins"], r["locked_until"], r["last_sign_in"]) for r in rows} == {
        ("active", "0", "", "")
    }
    as_json = stockflow(var, "users", "list", "--format", "json", language="zh_CN")  # the same in Chinese
    assert as_json.returncode == 0, as_json.stderr
    accounts = json.loads(as_json.stdout)
    assert {a["name"]: a["role"] for a in accounts} == {n: r.value for n, r in ACCOUNTS.items()}
    assert {(a["state"], a["failed_sign_ins"], a["locked_until"]) for a in accounts} == {("active", 0, None)}


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_table_and_messages_speak_the_language_chosen(var, language):
    ours = raw_entries(Language(language))
    other = raw_entries(Language.EN if language == "zh_CN" else Language.ZH_CN)
    listed = stockflow(var, "users", "list", language=language)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    # one line per account, though the long name is far wider than the 60 columns given
    assert len(lines) == 1 + len(ACCOUNTS), listed.stdout
    headers = [ours[f"column.{c}"] for c in ("name", "role", "state")]
    assert all(h in lines[0] for h in headers) and not any(
        other[f"column.{c}"] in lines[0] for c in ("role", "state")
    )
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[LONG_NAME][1:3] == [ours["role.warehouse"], ours["value.state.active"]]
    assert rows["wang.li"][1] == ours["role.finance"]

    refused = stockflow(var, "users", "add", "sun", "--role", "boss", "--password-stdin", language=language)
    assert refused.returncode == 2
    expected = ours["cli.users.unknown_role"].format(
        role="boss", known="manager, warehouse, finance, auditor"
    )
    assert expected in refused.stderr, refused.stderr
