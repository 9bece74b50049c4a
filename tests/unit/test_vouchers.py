"""Voucher rules on the Chinese small-enterprise chart, corrections and closed periods."""

from datetime import date
from decimal import Decimal as D

import pytest

from stockflow.events import PosLine, PosReturn, PosSale, SalesIssue, StockAdjustment, TransferIn, TransferOut
from stockflow.ledger import Ledger
from stockflow.valuation import Valuation
from stockflow.vouchers import (
    AccountingPolicy,
    AccountTotal,
    LocationBalance,
    PostingRejected,
    StockCheck,
    UnbalancedVoucher,
    Voucher,
    VoucherKind,
    VoucherLine,
    VoucherRules,
    book_into_open_period,
    correct_voucher,
    ensure_reversible,
    first_day,
    inventory_by_location,
    inventory_by_location_of,
    next_period,
    number_vouchers,
    parse_period,
    reversal_date,
    reverse_voucher,
    trial_balance,
    trial_balance_of,
    voucher_number,
    voucher_sequence,
)
from tests.unit.conftest import at, receipt

POLICY = AccountingPolicy.cn_small_enterprise()


class Books:
    """Ledger → valuation → vouchers, as the posting flow chains them."""

    def __init__(self, catalog):
        self.ledger = Ledger(catalog)
        self.valuation = Valuation(catalog)
        self.rules = VoucherRules(catalog, POLICY)
        self.vouchers: list[Voucher] = []

    def post(self, event) -> list[Voucher]:
        result = self.ledger.apply(event)
        posted = self.rules.vouchers_for(self.valuation.value_all(result.movements))
        for follow in result.follow_ups:
            posted += self.rules.vouchers_for(self.valuation.value_all(self.ledger.apply(follow).movements))
        self.vouchers += posted
        return posted


def lines(voucher):
    return [(ln.account_code, ln.debit, ln.credit) for ln in voucher.lines]


def test_purchase_receipt_accrues_the_payable(catalog):
    (v,) = Books(catalog).post(receipt(qty="2", unit="case"))  # 24 × 2.50
    assert v.voucher_id == "V:main:r1" and v.voucher_date == date(2026, 3, 2)
    assert lines(v) == [("140501", D("60.00"), 0), ("220201", 0, D("60.00"))]
    assert v.lines[0].supplier == "SUP1" and (v.lines[0].location, v.lines[0].sku, v.lines[0].batch) == (
        "WH1",
        "MILK-1L",
        "B1",
    )


def _store_stock(books):
    books.post(receipt(location="S1", qty="24", unit="each", unit_cost=D("2.00")))


def test_till_sale_splits_vat_and_books_cost_of_sales(catalog):
    books = Books(catalog)
    _store_stock(books)
    sale = PosSale(
        event_id="s1",
        occurred_at=at(10),
        source="till-1",
        store="S1",
        ticket="T1",
        channel="retail",
        lines=[PosLine(sku="MILK-1L", qty=D(2), unit_price=D("6.50"))],
    )
    (v,) = books.post(sale)
    # 13.00 incl. 13% VAT: 11.50 net (13 / 1.13 = 11.504…), 1.50 VAT; cost 2 × 2.00
    assert lines(v) == [
        ("1012", D("13.00"), 0),
        ("5001", 0, D("11.50")),
        ("22210102", 0, D("1.50")),
        ("540101", D("4.00"), 0),
        ("140501", 0, D("4.00")),
    ]
    back = PosReturn(
        event_id="s2",
        occurred_at=at(20),
        source="till-1",
        store="S1",
        ticket="T2",
        original_ticket="T1",
        channel="delivery",
        lines=[PosLine(sku="MILK-1L", qty=D(1), unit_price=D("6.50"), batch="B1")],
    )
    (r,) = books.post(back)
    assert lines(r) == [
        ("5001", D("5.75"), 0),
        ("1122", 0, D("6.50")),  # the delivery platform owes the refund back: one line
        ("22210102", D("0.75"), 0),
        ("140501", D("2.00"), 0),
        ("540101", 0, D("2.00")),
    ]


def test_b2b_issue_books_receivable_at_the_wholesale_price(catalog):
    milk = catalog.skus["MILK-1L"].model_copy(update={"wholesale_price": D("3.10"), "vat_rate": D("0.09")})
    books = Books(catalog.model_copy(update={"skus": {**catalog.skus, "MILK-1L": milk}}))
    books.post(receipt(qty="24", unit="each", unit_cost=D("2.00")))
    issue = SalesIssue(
        event_id="i1",
        occurred_at=at(3),
        source="wms",
        location="WH1",
        sales_order="SO1",
        customer="C1",
        sku="MILK-1L",
        qty=D(10),
    )
    (v,) = books.post(issue)
    assert lines(v) == [
        ("1122", D("33.79"), 0),
        ("5001", 0, D("31.00")),
        ("22210102", 0, D("2.79")),
        ("540101", D("20.00"), 0),
        ("140501", 0, D("20.00")),
    ]
    assert v.lines[0].customer == "C1"


def _transfer(model, event_id, qty):
    return model(
        event_id=event_id,
        occurred_at=at(5),
        source="s",
        transfer_id="TR1",
        from_location="WH1",
        to_location="S1",
        sku="MILK-1L",
        batch="B1",
        qty=D(qty),
    )


def test_transfer_within_one_set_of_books(catalog):
    books = Books(catalog)
    books.post(receipt(qty="24", unit="each", unit_cost=D("2.00")))
    (out,) = books.post(_transfer(TransferOut, "t1", 10))
    assert lines(out) == [("140502", D("20.00"), 0), ("140501", 0, D("20.00"))]
    assert (out.lines[0].location, out.lines[1].location) == ("S1", "WH1")
    (inn,) = books.post(_transfer(TransferIn, "t2", 10))
    assert lines(inn) == [("140501", D("20.00"), 0), ("140502", 0, D("20.00"))]
    assert inventory_by_location(books.vouchers, POLICY) == books.valuation.stock_values()


def test_transfer_between_separate_books_uses_interunit_accounts(catalog):
    store = catalog.locations["S1"].model_copy(update={"accounting_unit": "RETAIL"})
    books = Books(catalog.model_copy(update={"locations": {**catalog.locations, "S1": store}}))
    books.post(receipt(qty="24", unit="each", unit_cost=D("2.00")))
    source, destination = books.post(_transfer(TransferOut, "t1", 10))
    assert (source.accounting_unit, destination.accounting_unit) == ("main", "RETAIL")
    assert lines(source) == [("122101", D("20.00"), 0), ("140501", 0, D("20.00"))]
    assert lines(destination) == [("140502", D("20.00"), 0), ("224101", 0, D("20.00"))]
    assert source.voucher_id != destination.voucher_id
    (inn,) = books.post(_transfer(TransferIn, "t2", 10))
    assert inn.accounting_unit == "RETAIL"
    assert inventory_by_location(books.vouchers, POLICY) == {"WH1": D("28.00"), "S1": D("20.00")}


def test_stock_losses_wait_in_pending_losses(catalog):
    books = Books(catalog)
    books.post(receipt(qty="24", unit="each", unit_cost=D("2.00")))
    damage = StockAdjustment(
        event_id="a1",
        occurred_at=at(9),
        source="s",
        location="WH1",
        sku="MILK-1L",
        batch="B1",
        qty=D(-3),
        reason="damage",
    )
    (v,) = books.post(damage)
    assert lines(v) == [("190101", D("6.00"), 0), ("140501", 0, D("6.00"))]
    assert v.summary.startswith("报损")


def test_the_same_event_always_gets_the_same_voucher_id(catalog):
    assert Books(catalog).post(receipt())[0] == Books(catalog).post(receipt())[0]


def _voucher(**kw):
    base = dict(
        voucher_id="V1",
        accounting_unit="main",
        voucher_date=date(2026, 3, 2),
        summary="x",
        source_event_id="e",
        source_event_type="goods_receipt",
        occurred_at=at(0),
        lines=(
            VoucherLine("140501", "库存商品-在库", D("1.00"), D(0), "x"),
            VoucherLine("220201", "应付账款-暂估应付款", D(0), D("1.00"), "x"),
        ),
    )
    base.update(kw)
    return Voucher(**base)


def test_unbalanced_or_malformed_vouchers_cannot_exist():
    with pytest.raises(UnbalancedVoucher, match="debits 1.00 ≠ credits 2.00"):
        _voucher(
            lines=(VoucherLine("1", "a", D("1.00"), D(0), "x"), VoucherLine("2", "b", D(0), D("2.00"), "x"))
        )
    with pytest.raises(UnbalancedVoucher, match="whole fen"):
        _voucher(
            lines=(VoucherLine("1", "a", D("1.001"), D(0), "x"), VoucherLine("2", "b", D(0), D("1.001"), "x"))
        )
    with pytest.raises(UnbalancedVoucher, match="reversals"):
        _voucher(lines=(VoucherLine("1", "a", D("-1"), D(0), "x"), VoucherLine("2", "b", D(0), D("-1"), "x")))


def test_red_letter_reversal_and_correction():
    original = _voucher()
    reversal, corrected = correct_voucher(
        original,
        [
            VoucherLine("140501", "库存商品-在库", D("1.20"), D(0), "x"),
            VoucherLine("220201", "应付账款-暂估应付款", D(0), D("1.20"), "x"),
        ],
        date(2026, 3, 5),
        "invoice price 1.20",
    )
    assert reversal.kind is VoucherKind.REVERSAL and reversal.reverses == "V1"
    assert [ln.debit for ln in reversal.lines] == [D("-1.00"), D("0")]  # 红字: same side, negative
    balances = {r.account_code: r.balance for r in trial_balance([original, reversal, corrected])}
    assert balances == {"140501": D("1.20"), "220201": D("-1.20")}
    with pytest.raises(PostingRejected, match="itself a reversal"):
        reverse_voucher(reversal, date(2026, 3, 5), "again")
    with pytest.raises(PostingRejected, match="needs a reason"):
        reverse_voucher(original, date(2026, 3, 5), " ")


def test_a_voucher_in_a_closed_period_goes_to_the_first_open_one():
    v = _voucher(voucher_date=date(2026, 11, 30))
    assert book_into_open_period(v, set()) is v
    moved = book_into_open_period(v, {"2026-11", "2026-12"})
    assert moved.voucher_date == date(2027, 1, 1) and moved.period == "2027-01"
    assert "2026-11 已结账" in moved.note


def test_policy_refuses_unknown_or_parent_accounts():
    with pytest.raises(ValueError, match="not in the chart"):
        POLICY.model_copy(update={"default_till_account": "9999"}).model_validate(
            POLICY.model_dump() | {"default_till_account": "9999"}
        )
    with pytest.raises(ValueError, match="has sub-accounts"):
        AccountingPolicy.model_validate(POLICY.model_dump() | {"default_inventory_account": "1405"})


# ---------------------------------------------------------------------------- periods
@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01", (2026, 1)), ("2026-12", (2026, 12)), ("0999-09", (999, 9))],
)
def test_periods_are_calendar_months_written_yyyy_mm(text, expected):
    assert parse_period(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-1",
        "26-01",
        "2026/01",
        "2026-01-01",
        "２０２６-01",
        "",
        " 2026-01",
        "0000-01",
    ],
)
def test_anything_else_is_not_a_period(text):
    with pytest.raises(PostingRejected, match="is not YYYY-MM") as refused:
        parse_period(text)
    assert refused.value.reason == "bad_period"


def test_next_period_and_first_day_follow_the_calendar():
    assert [next_period(p) for p in ("2026-01", "2026-11", "2026-12", "2099-12")] == [
        "2026-02",
        "2026-12",
        "2027-01",
        "2100-01",
    ]
    assert first_day("2026-02") == date(2026, 2, 1)
    with pytest.raises(PostingRejected, match="not YYYY-MM"):
        next_period("2026-13")


# ---------------------------------------------------------------------------- voucher numbers
def test_voucher_numbers_are_six_digits_after_the_word_ji():
    assert voucher_number(1) == "记-000001"
    assert voucher_number(42) == "记-000042"
    assert voucher_number(1_000_000) == "记-1000000"  # grows past six digits, never wraps
    assert voucher_sequence("记-000042") == 42 and voucher_sequence("记-1000000") == 1_000_000
    for bad in ("000042", "记-", "记-4a", "收-000001", "记-００００４２"):
        with pytest.raises(ValueError, match="not a voucher number"):
            voucher_sequence(bad)
    with pytest.raises(ValueError, match="start at 1"):
        voucher_number(0)


def test_numbers_run_per_set_of_books_and_period_and_skip_what_is_posted():
    def v(vid, unit, day):
        return _voucher(voucher_id=vid, accounting_unit=unit, voucher_date=day)

    march, april = date(2026, 3, 31), date(2026, 4, 1)
    drafts = [
        (v("a", "RETAIL", march), None),
        (v("b", "DIST", march), None),
        (v("c", "RETAIL", april), None),
        (v("d", "RETAIL", march), None),
        (v("posted", "RETAIL", march), None),  # posted by an earlier pass
        (v("a", "RETAIL", march), None),  # the same event twice in one pass
        (v("e", "DIST", march), None),
    ]
    numbered = number_vouchers(
        drafts, {("RETAIL", "2026-03"): "记-000007", ("DIST", "2026-02"): "记-000003"}, {"posted"}
    )
    assert [(n.voucher.voucher_id, n.voucher_no) for n in numbered] == [
        ("a", "记-000008"),
        ("b", "记-000001"),  # DIST's February numbers do not carry into March
        ("c", "记-000001"),
        ("d", "记-000009"),
        ("e", "记-000002"),
    ]
    assert number_vouchers([], {}, set()) == []


# ---------------------------------------------------------------------------- reversals
def test_what_may_be_reversed():
    original = _voucher()
    assert ensure_reversible("V1", original, already_reversed=False) is original
    refusals = [
        (("V9", None, False), "unknown_voucher", "no voucher 'V9'"),
        (("V1", original, True), "already_reversed", "already reversed"),
        (
            ("V1~R1", reverse_voucher(original, date(2026, 3, 5), "typo"), False),
            "reverse_reversal",
            "itself a reversal",
        ),
    ]
    for args, reason, message in refusals:
        with pytest.raises(PostingRejected, match=message) as refused:
            ensure_reversible(*args)
        assert refused.value.reason == reason
    # a correction may itself be corrected later (it is an ordinary voucher with a reason)
    _, corrected = correct_voucher(original, original.lines, date(2026, 3, 5), "wrong date")
    assert ensure_reversible(corrected.voucher_id, corrected, already_reversed=False) is corrected


def test_a_reversal_is_booked_today_in_the_books_time_zone_unless_dated():
    from datetime import UTC, datetime

    from stockflow.config import Settings

    # the company's default zone (UTC+8), whatever this machine's environment sets
    shanghai = POLICY.model_copy(update={"timezone": Settings.model_fields["timezone"].default})
    late_evening_utc = datetime(2026, 3, 31, 17, 30, tzinfo=UTC)  # 01:30 on 1 April at UTC+8
    assert reversal_date(None, late_evening_utc, shanghai) == date(2026, 4, 1)
    assert reversal_date(date(2026, 3, 20), late_evening_utc, shanghai) == date(2026, 3, 20)


# ---------------------------------------------------------------------------- balances
def test_trial_balance_adds_up_per_set_of_books_and_account():
    totals = [
        AccountTotal("RETAIL", "5001", "主营业务收入", D(0), D("10.10")),
        AccountTotal("RETAIL", "1012", "其他货币资金", D("11.41"), D(0)),
        AccountTotal("DIST", "1122", "应收账款", D("3.00"), D(0)),
        AccountTotal("RETAIL", "5001", "主营业务收入", D("0.20"), D("0.20")),
        AccountTotal("RETAIL", "22210102", "应交税费-应交增值税(销项税额)", D(0), D("1.31")),
        AccountTotal("DIST", "5001", "主营业务收入", D(0), D("3.00")),
    ]
    rows = trial_balance_of(totals)
    assert [(r.accounting_unit, r.account_code, r.debit, r.credit, r.balance) for r in rows] == [
        ("DIST", "1122", D("3.00"), D("0"), D("3.00")),
        ("DIST", "5001", D("0"), D("3.00"), D("-3.00")),
        ("RETAIL", "1012", D("11.41"), D("0"), D("11.41")),
        ("RETAIL", "22210102", D("0"), D("1.31"), D("-1.31")),
        ("RETAIL", "5001", D("0.20"), D("10.30"), D("-10.10")),
    ]
    # however the lines were summed before (one total per line, or per store, or all together)
    split = [
        AccountTotal(t.accounting_unit, t.account_code, t.account_name, part_d, part_c)
        for t in totals
        for part_d, part_c in ((t.debit, t.credit), (D(0), D(0)))
    ]
    assert trial_balance_of(split) == rows == trial_balance_of(reversed(totals))


def test_a_renamed_account_is_still_one_row():
    rows = trial_balance_of(
        [
            AccountTotal("main", "1405", "库存商品", D("1.00"), D(0)),
            AccountTotal("main", "1405", "商品", D("2.00"), D(0)),
        ]
    )
    assert [(r.account_code, r.account_name, r.debit) for r in rows] == [("1405", "商品", D("3.00"))]


def test_the_inventory_accounts_per_location_and_the_check_against_the_stock_ledger():
    balances = [
        LocationBalance("140501", "WH1", D("100.00")),
        LocationBalance("140502", "ST01", D("20.00")),  # goods in transfer to ST01
        LocationBalance("140501", "ST01", D("5.00")),
        LocationBalance("220201", "WH1", D("-100.00")),  # not stock
        LocationBalance("140501", "ST02", D("3.00")),
        LocationBalance("140501", "ST02", D("-3.00")),  # sold out: left out
    ]
    inventory = inventory_by_location_of(balances, POLICY)
    assert inventory == {"WH1": D("100.00"), "ST01": D("25.00")}
    check = StockCheck(inventory, {"WH1": D("100.00"), "ST01": D("25.00")})
    assert check.equal and check.differences == {} and check.stock_value == D("125.00")
    off = StockCheck(inventory, {"WH1": D("99.99"), "ST01": D("25.00"), "ST03": D("1.00")})
    assert not off.equal
    assert off.differences == {"ST03": D("-1.00"), "WH1": D("0.01")}
