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


PHONE_CODE = "13812345678"  # a customer whose code is its owner's mobile number
PHONE_IN_TEXT = "+86 139-1234-5678"


@pytest.fixture
def phone_coded_company(tmp_path, monkeypatch):
    """A warehouse of one period whose customer code is a mobile number, and a summary that
    quotes another one."""
    from stockflow.vouchers import AccountingPolicy
    from stockflow.vouchers import Role as AccountRole

    receivable = AccountingPolicy.load(None).account(AccountRole.RECEIVABLE).code
    var = tmp_path / "var"
    (var / "warehouse").mkdir(parents=True)
    with duckdb.connect(str(var / "warehouse" / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE fct_vouchers AS SELECT 'V1' AS voucher_id, '2026-03' AS period")
        con.execute(
            "CREATE TABLE fct_voucher_lines (voucher_id VARCHAR, line_no INTEGER, accounting_unit VARCHAR,"
            " period VARCHAR, voucher_date DATE, account_code VARCHAR, account_name VARCHAR,"
            " debit DECIMAL(18, 2), credit DECIMAL(18, 2), summary VARCHAR, location_id VARCHAR,"
            " sku_id VARCHAR, supplier_id VARCHAR, customer_id VARCHAR)"
        )
        con.execute(
            "INSERT INTO fct_voucher_lines VALUES"
            " ('V1', 1, 'A', '2026-03', DATE '2026-03-02', ?, '应收账款', 500.00, 0, ?, 'ST01', NULL, NULL, ?),"
            " ('V1', 2, 'A', '2026-03', DATE '2026-03-02', '5001', '主营业务收入', 0, 500.00, '批发', 'ST01',"
            "  NULL, NULL, ?)",
            [receivable, f"批发 联系 {PHONE_IN_TEXT}", PHONE_CODE, PHONE_CODE],
        )
        con.execute(
            "CREATE TABLE dim_customers AS SELECT ? AS customer_id, '个体户 张' AS customer_name,"
            " ? AS phone, '31011519870412123X' AS id_number",
            [PHONE_CODE, PHONE_CODE],
        )
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    return var


def test_the_finance_page_masks_a_customer_code_that_is_a_phone_number(phone_coded_company):
    from stockflow.masking import Role
    from tests.integration.test_dashboards import header, signed_in

    at = signed_in(Role.FINANCE)
    at.switch_page("pages/finance.py").run()
    assert not at.exception and at.title[0].value == "Finance"
    journal = at.dataframe[0].value
    assert list(journal[header("customer_id")]) == ["138****5678", "138****5678"]
    assert list(journal[header("summary")]) == ["批发 联系 139****5678", "批发"]
    assert list(journal[header("debit")]) == [D("500.00"), D("0.00")]  # amounts are left as they are
    receivables = at.table[0].value
    assert list(receivables.index) == ["138****5678"] and list(receivables[header("phone")]) == [
        "138****5678"
    ]
    shown = "\n".join(f.to_csv() for f in (journal, at.dataframe[1].value, receivables))
    shown += "\n".join(m.value for m in (*at.markdown, *at.caption))
    for whole in (PHONE_CODE, "13912345678", "139-1234-5678", "1234-5678"):
        assert whole not in shown


def test_the_journal_download_masks_them_too(phone_coded_company):
    """The CSV the page's download button makes (`voucher_journal` for the signed-in role)."""
    from stockflow.masking import Role

    settings = Settings(var_dir=phone_coded_company)
    for role in (Role.FINANCE, Role.MANAGER, Role.AUDITOR):
        csv = data.voucher_journal(settings, role, "2026-03").to_csv(index=False)
        assert csv.count("138****5678") == 2 and "139****5678" in csv
        assert PHONE_CODE not in csv and "1234-5678" not in csv
