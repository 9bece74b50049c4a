"""`stockflow vouchers ...`: the CLI calls the books' use cases and says what they refused."""

import csv
import io
import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from cli.main import app
from stockflow.config import get_settings
from stores.audit_log import AuditLog
from tests.integration.test_books import Lake

pytestmark = pytest.mark.integration


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    Lake(tmp_path, days=1).write()
    yield tmp_path
    get_settings.cache_clear()


def test_post_check_export_reverse_and_close(var):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["vouchers", *args])

    posted = run("post")
    assert posted.exit_code == 0 and "posted" in posted.output, posted.output
    balance = run("trial-balance")
    assert balance.exit_code == 0 and "主营业务收入" in balance.output
    assert "inventory accounts vs stock ledger value: equal" in balance.output
    assert run("trial-balance", "--period", "2026-9").exit_code == 2
    # for scripts: exact amounts under stable names; every set of books balances (double entry)
    accounts = json.loads(run("trial-balance", "--format", "json").stdout)
    assert "主营业务收入" in {a["account_name"] for a in accounts}
    for unit in {a["accounting_unit"] for a in accounts}:
        mine = [a for a in accounts if a["accounting_unit"] == unit]
        assert sum(Decimal(a["debit"]) for a in mine) == sum(Decimal(a["credit"]) for a in mine) > 0
    assert all(Decimal(a["balance"]) == Decimal(a["debit"]) - Decimal(a["credit"]) for a in accounts)
    as_csv = list(csv.DictReader(io.StringIO(run("trial-balance", "--format", "csv").stdout)))
    assert as_csv == accounts

    exported = run("export", "2026-09", "--format", "json")
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.stdout)
    target = doc["vouchers"][0]["voucher_id"]
    assert doc["period"] == "2026-09" and doc["vouchers"][0]["voucher_no"] == "记-000001"

    reversed_ = run("reverse", target, "--reason", "keyed twice", "--by", "李会计")
    assert reversed_.exit_code == 0 and f"posted {target}~R1" in reversed_.output, reversed_.output
    again = run("reverse", target, "--reason", "keyed twice", "--by", "李会计")
    assert again.exit_code == 2 and "already reversed" in again.output

    assert run("close", "2026-13").exit_code == 2
    closed = run("close", "2026-09", "--by", "李会计")
    assert closed.exit_code == 0 and "period 2026-09 closed" in closed.output
    assert run("close", "2026-09").exit_code == 2
    actions = [(e["actor"], e["action"]) for e in AuditLog(var).records()]
    assert actions == [
        (actions[0][0], "vouchers.exported"),
        ("李会计", "voucher.reversed"),
        ("李会计", "period.closed"),
    ]


def test_the_books_before_any_master_data_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        for command in (["post"], ["trial-balance"]):
            result = CliRunner().invoke(app, ["vouchers", *command])
            assert result.exit_code == 2, result.output
            assert f"no master data at {tmp_path / 'masterdata.json'}" in result.output
            assert "stockflow up" in result.output
    finally:
        get_settings.cache_clear()
