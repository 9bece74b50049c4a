"""Conflicts between late edge events and the central books: every kind, the suggestion each
makes, and a decision's effect on stock, valuation and vouchers."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from stockflow.conflicts import Conflict, ConflictKind, conflict_id_for, decided_on_hand, find_conflicts
from stockflow.events import (
    ConflictDecided,
    ConflictDecision,
    ConflictingDuplicate,
    CycleCount,
    PosLine,
    PosSale,
    StockAdjustment,
    TransferOut,
    decision_event_id,
)
from stockflow.ledger import Ledger, PositionKey, StockRejected
from stockflow.reconciliation import variance_adjustment_id
from stockflow.valuation import Valuation
from stockflow.vouchers import AccountingPolicy, VoucherRules
from tests.unit.conftest import at, receipt

EDGE = "store-s1-edge"
S1_RICE = PositionKey("S1", "RICE-5KG")


def found(event_id: str, qty: int, minutes: float = 0, location: str = "S1") -> StockAdjustment:
    return StockAdjustment(
        event_id=event_id,
        occurred_at=at(minutes),
        source="hq",
        location=location,
        sku="RICE-5KG",
        qty=D(qty),
        reason="found",
    )


def sale(event_id: str, qty: int, minutes: float) -> PosSale:
    return PosSale(
        event_id=event_id,
        occurred_at=at(minutes),
        source="till-1",
        store="S1",
        ticket=f"T-{event_id}",
        channel="retail",
        lines=[PosLine(sku="RICE-5KG", qty=D(qty), unit_price=D("50"))],
    )


def count(event_id: str, counted: int, minutes: float) -> CycleCount:
    return CycleCount(
        event_id=event_id,
        occurred_at=at(minutes),
        source="hq",
        location="S1",
        count_id=f"C-{event_id}",
        sku="RICE-5KG",
        counted_qty=D(counted),
    )


def transfer(event_id: str, qty: int, minutes: float, sku="RICE-5KG", source="S1", batch=None) -> TransferOut:
    return TransferOut(
        event_id=event_id,
        occurred_at=at(minutes),
        source="hq",
        transfer_id=f"TR-{event_id}",
        from_location=source,
        to_location="WH1" if source != "WH1" else "S1",
        sku=sku,
        batch=batch,
        qty=D(qty),
    )


def edge_apply(ledger: Ledger, event, edge: str | None = EDGE) -> list[Conflict]:
    """Apply as the stream does, then judge: the result, or the refusal."""
    try:
        outcome = ledger.apply(event)
    except StockRejected as refused:
        outcome = refused
    return find_conflicts(ledger, event, outcome, edge, at(600))


def variance(count_event_id: str, qty: int, minutes: float) -> StockAdjustment:
    return StockAdjustment(
        event_id=variance_adjustment_id(count_event_id),
        occurred_at=at(minutes),
        source="hq",
        location="S1",
        sku="RICE-5KG",
        qty=D(qty),
        reason="count_variance",
        count_id=f"C-{count_event_id}",
    )


def test_a_late_sale_a_later_count_already_covered_is_counted_meanwhile(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 10))
    ledger.apply(count("c1", 7, minutes=60))  # the count saw 3 gone: the offline sale
    ledger.apply(variance("c1", -3, minutes=61))  # and its difference is booked
    (conflict,) = edge_apply(ledger, sale("s1", 3, minutes=30))
    assert conflict.kind is ConflictKind.COUNTED_MEANWHILE
    assert (conflict.location, conflict.sku, conflict.batch) == ("S1", "RICE-5KG", "")
    assert (conflict.on_hand_delta, conflict.on_hand_after) == (-3, 4)
    assert conflict.suggested_on_hand == 3  # undo the sale: the count saw the goods gone
    assert conflict.reference == "C-c1"
    assert (conflict.edge, conflict.event_type, conflict.source) == (EDGE, "pos_sale", "till-1")
    assert conflict.occurred_at == at(30) and conflict.detected_at == at(600)


def test_a_count_whose_difference_is_not_booked_yet_takes_the_late_sale_in(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 10))
    ledger.apply(count("c1", 7, minutes=60))
    (conflict,) = edge_apply(ledger, sale("s1", 3, minutes=30))
    assert conflict.kind is ConflictKind.COUNTED_MEANWHILE
    assert conflict.suggested_on_hand == 0  # the books hold 7, as counted
    assert ledger.position(S1_RICE).on_hand == 7
    (record,) = ledger.latest_counts()
    assert record.variance == 0  # nothing left for the count's difference to book


def test_a_count_made_before_the_event_is_no_conflict(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 10))
    ledger.apply(count("c1", 10, minutes=10))
    assert edge_apply(ledger, sale("s1", 3, minutes=30)) == []


def test_a_late_sale_after_a_central_transfer_is_moved_meanwhile(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 10))
    ledger.apply(transfer("t1", 8, minutes=60))  # central: 8 of the 10 sent away at 09:00
    (conflict,) = edge_apply(ledger, sale("s1", 5, minutes=30))  # the store sold 5 at 08:30
    assert conflict.kind is ConflictKind.MOVED_MEANWHILE
    assert (conflict.on_hand_delta, conflict.on_hand_after) == (-5, -3)
    assert conflict.suggested_on_hand == 3  # back to zero
    assert "were booked first" in conflict.detail


def test_a_late_sale_of_stock_the_books_never_had_is_negative_stock(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 2))
    ledger.apply(found("other", 50, location="WH1", minutes=60))  # later, elsewhere: not involved
    (conflict,) = edge_apply(ledger, sale("s1", 5, minutes=30))
    assert conflict.kind is ConflictKind.NEGATIVE_STOCK
    assert (conflict.on_hand_delta, conflict.on_hand_after, conflict.suggested_on_hand) == (-5, -3, 3)


def test_a_late_event_the_ledger_refuses_is_listed_as_refused(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="24", unit="each"))  # MILK-1L refuses negative stock
    ledger.apply(transfer("t1", 20, minutes=60, sku="MILK-1L", source="WH1", batch="B1"))
    (conflict,) = edge_apply(
        ledger, transfer("late", 10, minutes=30, sku="MILK-1L", source="WH1", batch="B1")
    )
    assert conflict.kind is ConflictKind.REFUSED
    assert (conflict.location, conflict.sku, conflict.batch) == ("WH1", "MILK-1L", "B1")
    assert conflict.reference == "negative_stock"
    assert (conflict.on_hand_delta, conflict.suggested_on_hand) == (0, 0)
    assert ledger.position(PositionKey("WH1", "MILK-1L", "B1")).on_hand == 4  # nothing booked


def test_a_document_changed_on_both_sides_is_document_changed(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 10))
    ledger.apply(sale("s1", 2, minutes=30))  # central copy of ticket s1
    changed = sale("s1", 4, minutes=30)  # the store's copy says 4
    try:
        ledger.apply(changed)
    except ConflictingDuplicate as err:
        outcome = err
    (conflict,) = find_conflicts(ledger, changed, outcome, EDGE, at(600))
    assert conflict.kind is ConflictKind.DOCUMENT_CHANGED
    assert conflict.reference == "conflicting_duplicate"
    assert ledger.position(S1_RICE).on_hand == 8


def test_only_edge_events_are_judged_and_a_redelivery_finds_the_same_conflict(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 2))
    event = sale("s1", 5, minutes=30)
    assert edge_apply(ledger, event, edge=None) == []  # a direct producer: the usual alert only
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 2))
    (first,) = edge_apply(ledger, event)
    assert edge_apply(ledger, event) == []  # a duplicate changes nothing and finds nothing
    assert first.conflict_id == conflict_id_for("s1", ConflictKind.NEGATIVE_STOCK, "S1", "RICE-5KG", "")
    assert first.conflict_id.startswith("cf-")


def test_an_event_that_stays_in_stock_is_no_conflict(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 10))
    ledger.apply(transfer("t1", 2, minutes=60))
    assert edge_apply(ledger, sale("s1", 5, minutes=30)) == []


def test_a_decision_undoes_the_change_and_its_voucher_balances(catalog):
    ledger = Ledger(catalog)
    valuation = Valuation(catalog)
    rules = VoucherRules(catalog, AccountingPolicy.cn_small_enterprise())
    bought = receipt(sku="RICE-5KG", batch=None, expiry=None, qty="10", unit="each", location="S1")
    for event in (bought, count("c1", 7, minutes=60), variance("c1", -3, minutes=61)):
        valuation.value_all(ledger.apply(event).movements)
    late = sale("s1", 3, minutes=30)
    result = ledger.apply(late)
    valuation.value_all(result.movements)
    (conflict,) = find_conflicts(ledger, late, result, EDGE, at(600))
    on_hand = decided_on_hand(conflict, ConflictDecision.REVERSE)
    decided = ConflictDecided(
        event_id=decision_event_id(conflict.conflict_id),
        occurred_at=at(700),
        source="dashboard",
        conflict_id=conflict.conflict_id,
        location=conflict.location,
        sku=conflict.sku,
        decision=ConflictDecision.REVERSE,
        on_hand=on_hand,
        decided_by="manager",
        note="the count saw these gone",
    )
    booked = ledger.apply(decided)
    (mv,) = booked.movements
    assert (mv.on_hand_delta, mv.after.on_hand, mv.reference) == (3, 7, conflict.conflict_id)
    assert ledger.position(S1_RICE).on_hand == 7  # what the count found
    (voucher,) = rules.vouchers_for(valuation.value_all(booked.movements))
    assert voucher.total_debit == voucher.total_credit == D("90.00")  # 3 × 30.00
    assert voucher.summary.startswith("冲突处理")
    assert ledger.apply(decided).duplicate  # deciding twice is a duplicate


def test_a_decision_to_accept_books_nothing_and_a_reversal_may_go_negative(catalog):
    ledger = Ledger(catalog)
    ledger.apply(found("f1", 1))

    def decision(kind: ConflictDecision, on_hand: int, conflict_id: str) -> ConflictDecided:
        return ConflictDecided(
            event_id=decision_event_id(conflict_id),
            occurred_at=at(700),
            source="dashboard",
            conflict_id=conflict_id,
            location="S1",
            sku="RICE-5KG",
            decision=kind,
            on_hand=on_hand,
            decided_by="warehouse",
            note="checked",
        )

    assert ledger.apply(decision(ConflictDecision.ACCEPT, 0, "cf-a")).movements == ()
    (mv,) = ledger.apply(decision(ConflictDecision.REVERSE, -4, "cf-b")).movements
    assert mv.after.on_hand == -3 and mv.negative_stock
    with pytest.raises(ValueError):
        decision(ConflictDecision.ACCEPT, 2, "cf-c")
    with pytest.raises(ValueError):
        decision(ConflictDecision.ADJUST, 0, "cf-d")
