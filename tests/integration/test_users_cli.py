"""`stockflow users ...`: people's accounts from the command line, each change in the audit log
under the operating-system user who ran it."""

import json

import argon2
import pytest
from typer.testing import CliRunner

from cli.main import app
from stockflow.config import get_settings
from stores.audit_log import AuditLog

pytestmark = pytest.mark.integration


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("LOGNAME", "ops.chen")  # who runs the commands
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def users(*args: str, input: str | None = None):  # noqa: A002 — CliRunner's name
    return CliRunner().invoke(app, ["users", *args], input=input)


def stored(var) -> dict:
    return {a["name"]: a for a in json.loads((var / "accounts.json").read_text())["accounts"]}


def test_add_list_passwd_disable_enable_unlock(var):
    added = users("add", "Wang.Li", "--role", "finance", input="first-password\nfirst-password\n")
    assert added.exit_code == 0 and "account wang.li added (finance)" in added.output, added.output
    hashed = stored(var)["wang.li"]["password_hash"]
    assert argon2.PasswordHasher().verify(hashed, "first-password") and "first-password" not in hashed
    piped = users("add", "zhao", "--role", "auditor", "--password-stdin", input="from-a-pipe-1\n")
    assert piped.exit_code == 0, piped.output
    assert argon2.PasswordHasher().verify(stored(var)["zhao"]["password_hash"], "from-a-pipe-1")

    # refusals: exit 2 and the reason, nothing stored
    assert (
        "at least 8" in users("add", "sun", "--role", "finance", "--password-stdin", input="short\n").output
    )
    assert users("add", "sun", "--role", "boss", "--password-stdin", input="long-enough\n").exit_code == 2
    again = users("add", "WANG.LI", "--role", "manager", "--password-stdin", input="long-enough\n")
    assert again.exit_code == 2 and "exists already" in again.output
    mismatch = users("add", "sun", "--role", "finance", input="one-password\nother-password\n")
    assert mismatch.exit_code != 0 and set(stored(var)) == {"wang.li", "zhao"}

    changed = users("passwd", "wang.li", input="second-password\nsecond-password\n")
    assert changed.exit_code == 0, changed.output
    assert argon2.PasswordHasher().verify(stored(var)["wang.li"]["password_hash"], "second-password")
    assert users("disable", "zhao").exit_code == 0 and stored(var)["zhao"]["disabled"] is True
    assert users("enable", "zhao").exit_code == 0 and stored(var)["zhao"]["disabled"] is False
    assert users("unlock", "nobody").exit_code == 2

    # a locked account is listed as locked, until when; unlocking it clears that
    accounts = json.loads((var / "accounts.json").read_text())
    accounts["accounts"][0]["locked_until"] = "2999-01-01T00:00:00+00:00"
    (var / "accounts.json").write_text(json.dumps(accounts))
    users("disable", "zhao")
    listed = users("list")  # not a terminal: a plain table, one line per account
    assert listed.exit_code == 0
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert (
        "locked" in rows["wang.li"] and "2999-01-01 08:00" in rows["wang.li"] and "finance" in rows["wang.li"]
    )
    assert "disabled" in rows["zhao"] and "auditor" in rows["zhao"]
    as_json = {a["name"]: a for a in json.loads(users("list", "--format", "json").stdout)}
    assert (as_json["wang.li"]["state"], as_json["wang.li"]["locked_until"]) == (
        "locked",
        "2999-01-01T00:00:00+00:00",
    )
    assert (as_json["zhao"]["state"], as_json["zhao"]["role"]) == ("disabled", "auditor")
    assert users("unlock", "wang.li").exit_code == 0 and stored(var)["wang.li"]["locked_until"] is None

    entries = [(r["actor"], r["action"], r["target"]) for r in AuditLog(var).records()]
    assert entries == [
        ("ops.chen", "account.added", "wang.li"),
        ("ops.chen", "account.added", "zhao"),
        ("ops.chen", "account.password_changed", "wang.li"),
        ("ops.chen", "account.disabled", "zhao"),
        ("ops.chen", "account.enabled", "zhao"),
        ("ops.chen", "account.disabled", "zhao"),
        ("ops.chen", "account.unlocked", "wang.li"),
    ]
    assert all("password" not in json.dumps(r["details"]) for r in AuditLog(var).records())


def test_the_old_role_password_command_is_gone(var):
    result = CliRunner().invoke(app, ["dashboard", "password", "manager"])
    assert result.exit_code == 2 and not (var / "dashboard_passwords.json").exists()
