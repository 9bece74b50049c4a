"""A SKU's lifecycle decides which events the ledger admits: a draft none, a frozen SKU all but
buying, an archived SKU none; a replay of the record books what was admitted then."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lake import LedgerOnly, partition_for, replay_partitions
from lake.landing import Landing
from lake.reader import read_table
from stockflow.events import (
    AdjustmentReason,
    CycleCount,
    ForecastReviewed,
    HoldAction,
    InspectionVerdict,
    PalletInspected,
    PosLine,
    PosReturn,
    PosSale,
    PurchaseOrder,
    QualityHold,
    ReservationAction,
    SalesIssue,
    StockAdjustment,
    StockCorrection,
    StockReservation,
    TransferIn,
    TransferOut,
)
from stockflow.ledger import LIFECYCLE_RULES, Ledger, PositionKey, StockRejected
from stockflow.masterdata import Catalog, SkuStatus
from stockflow.masterdata_changes import SkuStatusChanged, apply_change
from stockflow.processing import StockProcessor
from tests.unit.conftest import T0, at, receipt

RICE = "RICE-5KG"


def set_status(catalog: Catalog, code: str, status: SkuStatus) -> None:
    """Change a SKU's state in place, as a worker takes in a master-data change."""
    before = catalog.skus[code]
    version = catalog.version + 1
    apply_change(
        catalog,
        SkuStatusChanged(
            event_id=f"md-{version}",
            occurred_at=T0,
            actor="tester",
            version=version,
            from_status=before.status,
            record=before.model_copy(update={"status": status}),
        ),
    )


def rice_receipt(event_id: str = "r-rice", qty: str = "10", **kw):
    return receipt(event_id=event_id, sku=RICE, qty=qty, unit="each", batch=None, expiry=None, **kw)


def _line(qty: str = "1") -> list[PosLine]:
    return [PosLine(sku=RICE, qty=Decimal(qty), unit_price=Decimal("30.00"))]


def _adjustment(event_id: str, qty: str, reason: AdjustmentReason) -> StockAdjustment:
    return StockAdjustment(
        event_id=event_id, occurred_at=at(30), source="rf", location="WH1", sku=RICE, qty=Decimal(qty), reason=reason
    )  # fmt: skip


#: One event of every kind that names a SKU (RICE-5KG), by name.
EVENTS = {
    "goods_receipt": lambda i: rice_receipt(i, qty="2"),
    "purchase_order": lambda i: PurchaseOrder(
        event_id=i, occurred_at=at(1), source="erp", location="WH1", purchase_order="PO9", supplier="SUP1",
        sku=RICE, qty=Decimal(5),
    ),
    "forecast_reviewed": lambda i: ForecastReviewed(
        event_id=i, occurred_at=at(1), source="planning", location="S1", sku=RICE, run_id="fc-1",
        decision="accepted", reviewer="Manager Wang", reason="looks right",
    ),
    "transfer_out": lambda i: TransferOut(
        event_id=i, occurred_at=at(5), source="rf", transfer_id=f"TR-{i}", from_location="WH1", to_location="S1",
        sku=RICE, qty=Decimal(2),
    ),
    "transfer_in": lambda i: TransferIn(
        event_id=i, occurred_at=at(6), source="rf", transfer_id=f"TR-{i}", from_location="WH1", to_location="S1",
        sku=RICE, qty=Decimal(2),
    ),
    "sales_issue": lambda i: SalesIssue(
        event_id=i, occurred_at=at(7), source="rf", location="WH1", sales_order="SO1", customer="C1", sku=RICE,
        qty=Decimal(1),
    ),
    "stock_reservation": lambda i: StockReservation(
        event_id=i, occurred_at=at(7), source="erp", location="WH1", sales_order="SO2", sku=RICE, qty=Decimal(1),
    ),
    "reservation_release": lambda i: StockReservation(
        event_id=i, occurred_at=at(7), source="erp", location="WH1", sales_order="SO2", sku=RICE, qty=Decimal(1),
        action=ReservationAction.RELEASE,
    ),
    "pos_sale": lambda i: PosSale(
        event_id=i, occurred_at=at(8), source="till-1", store="S1", ticket=f"T-{i}", channel="retail", lines=_line()
    ),
    "pos_return": lambda i: PosReturn(
        event_id=i, occurred_at=at(9), source="till-1", store="S1", ticket=f"R-{i}", channel="retail", lines=_line()
    ),
    "cycle_count": lambda i: CycleCount(
        event_id=i, occurred_at=at(10), source="rf", location="WH1", count_id=f"C-{i}", sku=RICE,
        counted_qty=Decimal(9),
    ),
    "count_variance": lambda i: _adjustment(i, "-1", AdjustmentReason.COUNT_VARIANCE),
    "damage": lambda i: _adjustment(i, "-1", AdjustmentReason.DAMAGE),
    "found": lambda i: _adjustment(i, "1", AdjustmentReason.FOUND),
    "quality_hold": lambda i: QualityHold(
        event_id=i, occurred_at=at(11), source="qa", location="WH1", sku=RICE, action=HoldAction.HOLD, qty=Decimal(1)
    ),
    "pallet_inspected": lambda i: PalletInspected(
        event_id=i, occurred_at=at(12), source="dock-cam", location="WH1", inspection_id=f"I-{i}", supplier="SUP1",
        sku=RICE, cartons=4, layers=1, damaged_cartons=0, confidence=0.9, verdict=InspectionVerdict.ACCEPT,
    ),
}  # fmt: skip
BUYING = {"goods_receipt", "purchase_order"}


def stocked_ledger(catalog: Catalog) -> Ledger:
    """10 rice at WH1, received while the SKU is active."""
    ledger = Ledger(catalog)
    ledger.apply(rice_receipt())
    return ledger


def refusal(ledger: Ledger, event: object) -> str:
    with pytest.raises(StockRejected) as refused:
        ledger.apply(event)
    return refused.value.reason


def test_an_active_sku_takes_every_event(catalog):
    ledger = stocked_ledger(catalog)
    for name, make in EVENTS.items():
        assert not ledger.apply(make(f"active-{name}")).duplicate, name


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_a_draft_sku_takes_no_event(catalog, name):
    ledger = stocked_ledger(catalog)
    set_status(catalog, RICE, SkuStatus.DRAFT)
    assert refusal(ledger, EVENTS[name]("e1")) == "sku_draft"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_an_archived_sku_takes_no_event_not_even_a_till_sale(catalog, name):
    ledger = stocked_ledger(catalog)
    set_status(catalog, RICE, SkuStatus.ARCHIVED)
    assert refusal(ledger, EVENTS[name]("e1")) == "sku_archived"


@pytest.mark.parametrize("name", sorted(BUYING))
def test_a_frozen_sku_is_neither_ordered_nor_received(catalog, name):
    ledger = stocked_ledger(catalog)
    set_status(catalog, RICE, SkuStatus.FROZEN)
    assert refusal(ledger, EVENTS[name]("e1")) == "sku_frozen"
    assert ledger.position(PositionKey("WH1", RICE)).on_hand == 10


@pytest.mark.parametrize("name", sorted(set(EVENTS) - BUYING))
def test_a_frozen_sku_is_sold_down_counted_adjusted_moved_returned_and_held(catalog, name):
    ledger = stocked_ledger(catalog)
    set_status(catalog, RICE, SkuStatus.FROZEN)
    result = ledger.apply(EVENTS[name]("e1"))
    assert not result.duplicate


def test_the_rules_name_what_a_frozen_sku_takes():
    assert LIFECYCLE_RULES[SkuStatus.DRAFT] == LIFECYCLE_RULES[SkuStatus.ARCHIVED] == frozenset()
    assert not BUYING & LIFECYCLE_RULES[SkuStatus.FROZEN]
    assert {"pos_sale", "pos_return", "sales_issue", "cycle_count", "stock_adjustment"} <= LIFECYCLE_RULES[
        SkuStatus.FROZEN
    ]


def test_a_lifecycle_refusal_is_remembered_as_decided(catalog):
    ledger = Ledger(catalog)
    set_status(catalog, RICE, SkuStatus.DRAFT)
    assert refusal(ledger, rice_receipt()) == "sku_draft"
    set_status(catalog, RICE, SkuStatus.ACTIVE)
    again = ledger.apply(rice_receipt())  # redelivered after activation: it stays refused
    assert again.duplicate and ledger.has_applied("r-rice")
    assert ledger.position(PositionKey("WH1", RICE)).on_hand == 0
    assert not ledger.apply(rice_receipt("r-rice-2")).duplicate  # a new receipt is booked


def test_a_till_ticket_with_one_archived_sku_is_refused_whole(catalog):
    ledger = stocked_ledger(catalog)
    ledger.apply(receipt(event_id="r-milk", location="S1"))
    set_status(catalog, RICE, SkuStatus.ARCHIVED)
    ticket = PosSale(
        event_id="t1", occurred_at=at(20), source="till-1", store="S1", ticket="T1", channel="retail",
        lines=[PosLine(sku="MILK-1L", qty=Decimal(1), unit_price=Decimal("6.5")), *_line()],
    )  # fmt: skip
    assert refusal(ledger, ticket) == "sku_archived"
    assert ledger.position(PositionKey("S1", "MILK-1L", "B1")).on_hand == 24


def test_the_transit_leg_of_an_admitted_transfer_follows_it_whatever_the_state_now(catalog):
    ledger = stocked_ledger(catalog)
    dispatched = ledger.apply(EVENTS["transfer_out"]("tr1"))
    set_status(catalog, RICE, SkuStatus.ARCHIVED)
    (leg,) = dispatched.follow_ups
    ledger.apply(leg)
    assert ledger.position(PositionKey("S1", RICE)).in_transit == 2


def test_a_state_correction_is_not_a_business_event_and_is_not_refused(catalog):
    ledger = stocked_ledger(catalog)
    set_status(catalog, RICE, SkuStatus.ARCHIVED)
    ledger.apply(
        StockCorrection(
            event_id="fix1", occurred_at=at(40), source="reconcile_stock", location="WH1", sku=RICE, on_hand=-1,
            run_id="rec-1",
        )
    )  # fmt: skip
    assert ledger.position(PositionKey("WH1", RICE)).on_hand == 9


def test_a_replay_books_what_was_admitted_then_whatever_the_state_now(catalog):
    live = Ledger(catalog)
    record = [rice_receipt(), EVENTS["sales_issue"]("s1"), EVENTS["transfer_out"]("tr1")]
    accepted = [event for event, _ in live.apply_accepted(record)]
    assert len(accepted) == 4  # with the transfer's transit leg
    set_status(catalog, RICE, SkuStatus.FROZEN)
    set_status(catalog, RICE, SkuStatus.ARCHIVED)

    replayed = Ledger(catalog)
    for event in accepted:
        replayed.apply(event, admit=False)
    assert dict(replayed.positions()) == dict(live.positions())
    assert replayed.position(PositionKey("WH1", RICE)).on_hand == 7

    admitted_again = Ledger(catalog)  # what a replay that checked the state now would do
    assert [e for e, _ in admitted_again.apply_accepted(accepted)] == [accepted[-1]]  # the leg only


@pytest.mark.parametrize("processor", ["ledger_only", "stock_processor"])
def test_a_replay_of_the_lake_rebuilds_the_stock_of_a_sku_frozen_since(catalog, tmp_path, processor):
    partitions = 2
    landing = Landing(tmp_path, partitions, lambda: StockProcessor(catalog))
    landing.apply_all([rice_receipt(), EVENTS["transfer_out"]("tr1"), EVENTS["transfer_in"]("ti1")])
    set_status(catalog, RICE, SkuStatus.FROZEN)
    landing.apply_all([rice_receipt("r-late"), EVENTS["pos_sale"]("p1")])
    refused = read_table(tmp_path, "dead_letters").to_pylist()
    assert [(r["event_id"], r["reason"], r["refused_by_ledger"]) for r in refused] == [
        ("r-late", "sku_frozen", True)
    ]
    set_status(catalog, RICE, SkuStatus.ARCHIVED)

    fresh = (
        (lambda: LedgerOnly.new(catalog)) if processor == "ledger_only" else (lambda: StockProcessor(catalog))
    )
    replay = replay_partitions(tmp_path, catalog, range(partitions), partitions, fresh)
    rebuilt = {k: p for proc in replay.processors.values() for k, p in proc.ledger.positions()}
    live = {k: p for proc in landing.processors.values() for k, p in proc.ledger.positions()}
    assert rebuilt == live
    assert live[PositionKey("WH1", RICE)].on_hand == 8 and live[PositionKey("S1", RICE)].on_hand == 1
    assert replay.processors[partition_for("WH1", partitions)].ledger.has_applied("r-late")  # still refused
