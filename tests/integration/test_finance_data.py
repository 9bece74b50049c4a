"""The Finance page's trial balance: the books' use case over the warehouse's voucher lines."""

from decimal import Decimal as D

import duckdb
import pytest

from dashboards import data
from stockflow.config import Settings
from stockflow.vouchers import PostingRejected

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path):
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb")) as con:
        con.execute(
            "CREATE TABLE fct_voucher_lines (accounting_unit VARCHAR, period VARCHAR, account_code VARCHAR,"
            " account_name VARCHAR, debit DECIMAL(18, 2), credit DECIMAL(18, 2))"
        )
        con.execute(
            "INSERT INTO fct_voucher_lines VALUES"
            " ('A', '2026-01', '1405', '库存商品', 0.10, 0), ('A', '2026-01', '1405', '库存商品', 0.20, 0),"
            " ('A', '2026-01', '2202', '应付账款', 0, 0.30), ('A', '2026-02', '1405', '库存商品', 0, 0.05),"
            " ('A', '2026-02', '5401', '主营业务成本', 0.05, 0), ('B', '2026-02', '1122', '应收账款', 7.00, 0),"
            " ('B', '2026-02', '5001', '主营业务收入', 0, 7.00)"
        )
    return Settings(var_dir=tmp_path)


def rows(frame):
    return [tuple(r) for r in frame.itertuples(index=False)]


def test_the_trial_balance_to_a_period_per_set_of_books_and_account(settings):
    january = data.trial_balance(settings, "2026-01")
    assert list(january.columns) == [
        "accounting_unit",
        "account_code",
        "account_name",
        "debit",
        "credit",
        "balance",
    ]
    # 0.10 + 0.20 is 0.30 exactly: the sums stay Decimal from the warehouse to the page
    assert rows(january) == [
        ("A", "1405", "库存商品", D("0.30"), D("0.00"), D("0.30")),
        ("A", "2202", "应付账款", D("0.00"), D("0.30"), D("-0.30")),
    ]
    assert rows(data.trial_balance(settings, None, "B")) == [
        ("B", "1122", "应收账款", D("7.00"), D("0.00"), D("7.00")),
        ("B", "5001", "主营业务收入", D("0.00"), D("7.00"), D("-7.00")),
    ]
    everything = data.trial_balance(settings, None)
    assert [(r[0], r[1], r[5]) for r in rows(everything)] == [
        ("A", "1405", D("0.25")),
        ("A", "2202", D("-0.30")),
        ("A", "5401", D("0.05")),
        ("B", "1122", D("7.00")),
        ("B", "5001", D("-7.00")),
    ]
    assert data.trial_balance(settings, "2025-12").empty
    with pytest.raises(PostingRejected, match="not YYYY-MM"):
        data.trial_balance(settings, "2026-1")


def test_no_warehouse_yet_is_said(tmp_path):
    with pytest.raises(data.Unavailable, match="not been built yet"):
        data.trial_balance(Settings(var_dir=tmp_path), None)
