"""The finance rules on their own: three-way match, price differences, settling open items,
ageing buckets, the credit check, the second person on a write-off."""

from datetime import date
from decimal import Decimal

import pytest

from stockflow.finance import (
    DocumentRefused,
    MatchedLine,
    MatchProblem,
    OpenItem,
    PartyKind,
    ReceiptPosition,
    Tolerance,
    WriteOffCause,
    WriteOffRequest,
    ageing,
    ageing_bucket,
    apply_settlement,
    check_approver,
    credit_check,
    match_line,
    parse_document,
    settle,
    split_difference,
)
from stockflow.masterdata import OverLimit

D = Decimal
TOL = Tolerance(qty=D("0"), price=D("0.02"), price_abs=D("0.01"))


def position(ordered=10, received=10, value="1000.00", invoiced=0, reversed_="0"):
    return ReceiptPosition(ordered, received, D(value), invoiced, D(reversed_))


def test_a_line_within_tolerance_reverses_the_accrual_of_its_units():
    m = match_line_(qty=4, price="101")
    assert isinstance(m, MatchedLine)
    assert (m.net, m.vat, m.accrual, m.difference) == (D("404.00"), D("52.52"), D("400.00"), D("4.00"))


def test_the_last_units_invoiced_take_all_that_is_left_of_the_accrual():
    # 3 units received for 100.00 in all: 33.33 + 33.33 + 33.34, never a cent left over
    first = match_line_(qty=2, price="33.33", pos=position(3, 3, "100.00"))
    last = match_line_(qty=1, price="33.34", pos=position(3, 3, "100.00", 2, str(first.accrual)))
    assert first.accrual + last.accrual == D("100.00")


@pytest.mark.parametrize(
    ("qty", "price", "pos", "reason"),
    [
        (11, "100", position(), "qty_over_received"),
        (5, "100", position(ordered=0), "not_ordered"),
        (5, "100", position(received=0, value="0"), "not_received"),
        (5, "102.01", position(), "price_outside_tolerance"),
        (5, "97.99", position(), "price_outside_tolerance"),
        (4, "100", position(invoiced=7, reversed_="700"), "qty_over_received"),
        (9, "100", position(ordered=8, received=10), "qty_over_ordered"),
    ],
)
def test_a_line_outside_tolerance_is_a_problem_with_its_figures(qty, price, pos, reason):
    problem = match_line_(qty=qty, price=price, pos=pos)
    assert isinstance(problem, MatchProblem) and problem.reason == reason


def test_the_price_tolerance_edges_are_inside():
    assert isinstance(match_line_(qty=5, price="102.00"), MatchedLine)
    assert isinstance(match_line_(qty=5, price="98.00"), MatchedLine)


def test_a_person_can_accept_a_line_only_when_goods_arrived():
    assert isinstance(match_line_(qty=5, price="150", force=True), MatchedLine)
    assert isinstance(
        match_line_(qty=5, price="150", pos=position(received=0, value="0"), force=True), MatchProblem
    )


def match_line_(qty, price, pos=None, force=False):
    return match_line(1, "PO1", "S1", qty, D(price), D("0.13"), pos or position(), TOL, force)


def test_price_differences_split_by_what_is_still_in_stock():
    assert split_difference(D("10.00"), 10, 6) == (D("6.00"), D("4.00"))
    assert split_difference(D("10.00"), 10, 0) == (D("0.00"), D("10.00"))
    assert split_difference(D("-10.00"), 10, 50) == (D("-10.00"), D("0.00"))
    to_stock, to_cost = split_difference(D("0.10"), 3, 1)
    assert to_stock + to_cost == D("0.10")


def item(item_id, amount, doc_date, due=None, document=None):
    return OpenItem(
        item_id, "U", PartyKind.SUPPLIER, "S", document or item_id, "supplier_invoice", doc_date,
        due or doc_date, D(amount), D(amount), item_id,
    )  # fmt: skip


def test_a_payment_settles_the_oldest_items_first_and_keeps_the_rest_on_account():
    items = [item("b", "50.00", date(2026, 2, 1)), item("a", "30.00", date(2026, 1, 1))]
    result = settle(items, D("100.00"))
    assert result.settled == (("a", D("30.00")), ("b", D("50.00")))
    assert result.on_account == D("20.00")


def test_a_payment_settles_the_documents_it_names():
    items = [item("a", "30.00", date(2026, 1, 1)), item("b", "50.00", date(2026, 2, 1))]
    result = settle(items, D("40.00"), [("b", D("40.00"))])
    after = {i.item_id: i.open_amount for i in apply_settlement(items, result)}
    assert after == {"a": D("30.00"), "b": D("10.00")} and result.on_account == 0


@pytest.mark.parametrize(
    ("allocations", "reason"),
    [
        ([("zz", D("1.00"))], "unknown_document"),
        ([("a", D("31.00"))], "over_allocated"),
        ([("a", D("30.00")), ("b", D("50.00"))], "over_allocated"),
    ],
)
def test_allocations_that_cannot_be_are_refused(allocations, reason):
    items = [item("a", "30.00", date(2026, 1, 1)), item("b", "50.00", date(2026, 2, 1))]
    with pytest.raises(DocumentRefused) as refused:
        settle(items, D("60.00"), allocations)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "0-30"),
        (30, "0-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (-5, "0-30"),
    ],
)
def test_ageing_buckets_by_days_since_the_document(days, bucket):
    as_of = date(2026, 6, 30)
    assert ageing_bucket(date.fromordinal(as_of.toordinal() - days), as_of) == bucket


def test_ageing_adds_open_amounts_per_party_with_credits_where_they_are_dated():
    items = [
        item("a", "30.00", date(2026, 1, 1)),
        item("b", "-10.00", date(2026, 6, 20)),
        item("c", "5.00", date(2026, 5, 1)),
    ]
    (row,) = ageing(items, date(2026, 6, 30))
    assert row.buckets == {"0-30": D("-10.00"), "31-60": D("5.00"), "61-90": D("0"), "90+": D("30.00")}
    assert row.total == D("25.00")


def test_the_credit_check_names_the_limit_and_the_exposure():
    ok = credit_check(D("1000.00"), OverLimit.REFUSE, D("600.00"), D("400.00"))
    assert ok.allowed
    refused = credit_check(D("1000.00"), OverLimit.REFUSE, D("600.00"), D("400.01"))
    assert not refused.allowed and not refused.held and refused.reason == "credit_limit"
    assert "1000.00" in refused.detail and "600.00" in refused.detail and "1000.01" in refused.detail
    held = credit_check(D("1000.00"), OverLimit.APPROVAL, D("600.00"), D("500.00"))
    assert held.held and held.reason == "credit_hold"
    assert credit_check(
        D("1000.00"), OverLimit.APPROVAL, D("600.00"), D("500.00"), approved=D("100.00")
    ).allowed
    assert credit_check(None, OverLimit.REFUSE, D("1000000000"), D("1")).allowed


def test_a_write_off_is_approved_by_a_second_person():
    request = WriteOffRequest("V:1", WriteOffCause.SHRINKAGE, "Alice")
    with pytest.raises(DocumentRefused):
        check_approver(request, "alice ")
    with pytest.raises(DocumentRefused):
        check_approver(request, "")
    check_approver(request, "bob")


def test_documents_are_parsed_by_their_type_and_bad_ones_refused():
    doc = parse_document(
        '{"event_type": "supplier_payment", "event_id": "p1", "occurred_at": "2026-09-01T08:00:00+08:00",'
        ' "location": "WH1", "payment_no": "P1", "supplier": "SUP01", "paid_on": "2026-09-01", "amount": "10.00"}'
    )
    assert doc.amount == D("10.00")
    with pytest.raises(DocumentRefused) as refused:
        parse_document('{"event_type": "supplier_payment", "event_id": "p1"}')
    assert refused.value.reason == "schema_violation"
