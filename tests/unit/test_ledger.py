from datetime import date
from decimal import Decimal

import pytest

from stockflow.events import (
    CycleCount,
    PosLine,
    PosReturn,
    PosSale,
    PurchaseOrder,
    QualityHold,
    SalesIssue,
    StockAdjustment,
    StockReservation,
    TransferIn,
    TransferOut,
)
from stockflow.ledger import Ledger, PositionKey, StockRejected
from tests.unit.conftest import at, receipt


def sale(event_id, sku="MILK-1L", qty="1", store="S1", batch=None, minutes=10):
    return PosSale(
        event_id=event_id,
        occurred_at=at(minutes),
        source="till-1",
        store=store,
        ticket=f"T-{event_id}",
        channel="retail",
        lines=[PosLine(sku=sku, qty=Decimal(qty), unit_price=Decimal("6.50"), batch=batch)],
    )


def transfer(event_id, qty="12", batch="B1", kind=TransferOut):
    return kind(
        event_id=event_id,
        occurred_at=at(5),
        source="scanner-1",
        transfer_id="TR1",
        from_location="WH1",
        to_location="S1",
        sku="MILK-1L",
        batch=batch,
        qty=Decimal(qty),
    )


def pos(ledger, location, sku, batch=""):
    return ledger.position(PositionKey(location, sku, batch))


def test_receipt_converts_cases_to_base_units(catalog):
    ledger = Ledger(catalog)
    result = ledger.apply(receipt(qty="2", unit="case"))
    assert pos(ledger, "WH1", "MILK-1L", "B1").on_hand == 24
    (mv,) = result.movements
    assert mv.on_hand_delta == 24 and mv.unit_cost == Decimal("2.5")


def test_same_event_twice_is_a_duplicate(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt())
    again = ledger.apply(receipt())
    assert again.duplicate and not again.movements
    assert pos(ledger, "WH1", "MILK-1L", "B1").on_hand == 24


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"sku": "NOPE"}, "unknown_sku"),
        ({"gtin": "09506000134353"}, "invalid_gtin"),
        ({"gtin": "04006381333931"}, "gtin_mismatch"),
        ({"unit": "pallet"}, "unit_conversion"),
        ({"batch": None}, "missing_batch"),
        ({"expiry_date": None}, "missing_expiry"),
        ({"supplier": "SUP9"}, "unknown_supplier"),
        ({"location": "WH9"}, "unknown_location"),
    ],
)
def test_receipt_rejections_name_the_reason(catalog, kwargs, reason):
    ledger = Ledger(catalog)
    with pytest.raises(StockRejected) as err:
        ledger.apply(receipt(**kwargs))
    assert err.value.reason == reason
    assert list(ledger.positions()) == []
    assert ledger.apply(receipt(**kwargs)).duplicate  # a redelivery stays refused


def purchase_order(event_id="po1", **kw):
    base = dict(
        event_id=event_id,
        occurred_at=at(0),
        source="erp",
        location="WH1",
        purchase_order="PO1",
        supplier="SUP1",
        sku="MILK-1L",
        qty=Decimal(2),
        unit="case",
        expected_date=date(2026, 3, 4),
    )
    return PurchaseOrder(**{**base, **kw})


def test_a_purchase_order_is_checked_but_moves_no_stock(catalog):
    ledger = Ledger(catalog)
    result = ledger.apply(purchase_order())
    assert not result.duplicate and result.movements == () and list(ledger.positions()) == []
    assert ledger.apply(purchase_order()).duplicate


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"sku": "NOPE"}, "unknown_sku"),
        ({"unit": "pallet"}, "unit_conversion"),
        ({"supplier": "SUP9"}, "unknown_supplier"),
        ({"location": "WH9"}, "unknown_location"),
    ],
)
def test_purchase_order_rejections_name_the_reason(catalog, kwargs, reason):
    with pytest.raises(StockRejected) as err:
        Ledger(catalog).apply(purchase_order(**kwargs))
    assert err.value.reason == reason


def test_transfer_books_in_transit_at_destination_then_receipt(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))
    out = ledger.apply(transfer("t1"))
    assert pos(ledger, "WH1", "MILK-1L", "B1").on_hand == 12
    (leg,) = out.follow_ups
    assert leg.to_location == "S1" and leg.qty_base == 12 and leg.batch == "B1"
    assert leg.expiry_date == date(2026, 3, 10)
    ledger.apply(leg)
    assert pos(ledger, "S1", "MILK-1L", "B1").in_transit == 12
    ledger.apply(transfer("t2", batch=None, kind=TransferIn))
    p = pos(ledger, "S1", "MILK-1L", "B1")
    assert (p.on_hand, p.in_transit) == (12, 0)


def test_apply_accepted_books_the_transit_leg_next_and_skips_refusals(catalog):
    ledger = Ledger(catalog)
    events = [receipt(qty="2"), transfer("t1", qty="999"), transfer("t2"), receipt(event_id="r2")]
    applied = [(type(e).__name__, e.event_id) for e, _ in ledger.apply_accepted(events)]
    leg = applied[2]
    assert [a for a in applied if a != leg] == [
        ("GoodsReceipt", "r1"),
        ("TransferOut", "t2"),
        ("GoodsReceipt", "r2"),
    ]
    assert leg[0] == "TransitDispatched" and applied.index(leg) == 2  # right after its dispatch
    assert pos(ledger, "S1", "MILK-1L", "B1").in_transit == 12
    assert ledger.has_applied("t1")  # refused: skipped, and a redelivery stays refused


def test_pos_sale_takes_first_expiring_batch(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt("r1", batch="LATE", expiry=date(2026, 3, 20), location="S1", qty="1"))
    ledger.apply(receipt("r2", batch="EARLY", expiry=date(2026, 3, 8), location="S1", qty="1"))
    result = ledger.apply(sale("s1", qty="15"))
    assert pos(ledger, "S1", "MILK-1L", "EARLY").on_hand == 0
    assert pos(ledger, "S1", "MILK-1L", "LATE").on_hand == 9
    assert [(m.batch, m.on_hand_delta) for m in result.movements] == [("EARLY", -12), ("LATE", -3)]


def test_negative_stock_rejected_by_policy_changes_nothing(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="1"))
    with pytest.raises(StockRejected) as err:
        ledger.apply(transfer("t1", qty="13"))
    assert err.value.reason == "negative_stock"
    assert pos(ledger, "WH1", "MILK-1L", "B1").on_hand == 12


def test_pos_sale_is_never_refused_but_flagged(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(location="S1", qty="1"))
    (mv,) = ledger.apply(sale("s1", qty="13")).movements
    assert mv.negative_stock and mv.after.on_hand == -1


def test_negative_stock_allowed_and_flagged(catalog):
    ledger = Ledger(catalog)
    result = ledger.apply(sale("s1", sku="RICE-5KG", qty="3"))
    (mv,) = result.movements
    assert mv.negative_stock and mv.after.on_hand == -3


def test_multi_line_ticket_is_atomic(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(location="S1", qty="1"))
    ticket = PosSale(
        event_id="s1",
        occurred_at=at(1),
        source="till",
        store="S1",
        ticket="T1",
        channel="takeout",
        lines=[
            PosLine(sku="MILK-1L", qty=Decimal(5), unit_price=Decimal(6)),
            PosLine(sku="MILK-1L", qty=Decimal(1), unit_price=Decimal(6), gtin="09506000134353"),
        ],
    )
    with pytest.raises(StockRejected) as err:
        ledger.apply(ticket)
    assert err.value.reason == "invalid_gtin"
    assert pos(ledger, "S1", "MILK-1L", "B1").on_hand == 12


def test_pos_at_a_warehouse_is_refused(catalog):
    with pytest.raises(StockRejected) as err:
        Ledger(catalog).apply(sale("s1", store="WH1"))
    assert err.value.reason == "wrong_location_kind"


def test_reservation_then_issue_releases_it(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))
    reserve = StockReservation(
        event_id="res1",
        occurred_at=at(1),
        source="erp",
        location="WH1",
        sales_order="SO1",
        sku="MILK-1L",
        qty=Decimal(10),
    )
    ledger.apply(reserve)
    assert pos(ledger, "WH1", "MILK-1L", "B1").reserved == 10
    with pytest.raises(StockRejected, match="only 14 unrestricted"):
        ledger.apply(
            reserve.model_copy(update={"event_id": "res2", "sales_order": "SO2", "qty": Decimal(15)})
        )
    issue = SalesIssue(
        event_id="i1",
        occurred_at=at(2),
        source="scanner",
        location="WH1",
        sales_order="SO1",
        customer="C1",
        sku="MILK-1L",
        qty=Decimal(10),
    )
    (mv,) = ledger.apply(issue).movements
    p = pos(ledger, "WH1", "MILK-1L", "B1")
    assert (p.on_hand, p.reserved) == (14, 0)
    # one movement for the issue and the release it causes, still naming the order and customer
    assert (mv.on_hand_delta, mv.reserved_delta) == (-10, -10)
    assert (mv.reference, mv.counterparty) == ("SO1", "C1")


def test_a_count_is_recorded_with_the_book_and_moves_nothing(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))
    count = CycleCount(
        event_id="c1",
        occurred_at=at(3),
        source="scanner",
        location="WH1",
        count_id="CC1",
        sku="MILK-1L",
        batch="B1",
        counted_qty=Decimal(21),
    )
    assert ledger.apply(count).movements == ()
    (record,) = ledger.latest_counts()
    assert (record.count_id, record.counted, record.book, record.variance) == ("CC1", 21, 24, -3)
    assert ledger.position(PositionKey("WH1", "MILK-1L", "B1")).on_hand == 24


def test_quarantine_hold_release_scrap(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))

    def hold(eid, action, qty=None):
        return QualityHold(
            event_id=eid,
            occurred_at=at(4),
            source="qa",
            location="WH1",
            sku="MILK-1L",
            batch="B1",
            action=action,
            qty=qty,
        )

    ledger.apply(hold("h1", "hold"))
    assert pos(ledger, "WH1", "MILK-1L", "B1").quarantined == 24
    with pytest.raises(StockRejected) as err:
        ledger.apply(transfer("t1", qty="1"))  # everything is quarantined
    ledger.apply(hold("h2", "release", Decimal(4)))
    ledger.apply(hold("h3", "scrap", Decimal(20)))
    p = pos(ledger, "WH1", "MILK-1L", "B1")
    assert (p.on_hand, p.quarantined) == (4, 0)
    assert err.value.reason == "negative_stock"


def test_quarantined_stock_is_not_sold(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(location="S1", qty="1"))
    ledger.apply(
        QualityHold(
            event_id="h1",
            occurred_at=at(1),
            source="qa",
            location="S1",
            sku="MILK-1L",
            batch="B1",
            action="hold",
            qty=Decimal(10),
        )
    )
    result = ledger.apply(sale("s1", qty="3"))
    assert [(m.batch, m.on_hand_delta, m.negative_stock) for m in result.movements] == [("B1", -3, True)]
    assert pos(ledger, "S1", "MILK-1L", "B1").on_hand == 9


def test_return_goes_back_to_last_sold_batch(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(location="S1", qty="1"))
    ledger.apply(sale("s1", qty="2"))
    ret = PosReturn(
        event_id="rt1",
        occurred_at=at(20),
        source="till",
        store="S1",
        ticket="R1",
        original_ticket="T-s1",
        channel="retail",
        lines=[PosLine(sku="MILK-1L", qty=Decimal(1), unit_price=Decimal("6.5"))],
    )
    ledger.apply(ret)
    assert pos(ledger, "S1", "MILK-1L", "B1").on_hand == 11


def test_negative_adjustment_respects_policy(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="1"))
    adj = StockAdjustment(
        event_id="a1",
        occurred_at=at(1),
        source="wms",
        location="WH1",
        sku="MILK-1L",
        batch="B1",
        qty=Decimal(-13),
        reason="damage",
    )
    with pytest.raises(StockRejected):
        ledger.apply(adj)
    ledger.apply(adj.model_copy(update={"event_id": "a2", "qty": Decimal(-2)}))
    assert pos(ledger, "WH1", "MILK-1L", "B1").on_hand == 10


def test_totals_and_available_over_batches():
    from stockflow.ledger import Position

    total = Position.total([Position(10, 2, 1, 0), Position(5, 0, 0, 7)])
    assert total.as_dict() == {"on_hand": 15, "reserved": 2, "quarantined": 1, "in_transit": 7}
    assert total.unrestricted == 12


def test_a_forecast_review_is_checked_but_moves_no_stock(catalog):
    from stockflow.events import ForecastReviewed

    ledger = Ledger(catalog)
    review = ForecastReviewed(
        event_id="r1", occurred_at=at(1), source="planning", location="WH1", sku="MILK-1L",
        run_id="forecast-1", decision="accepted", reviewer="王经理", reason="looks right",
    )  # fmt: skip
    result = ledger.apply(review)
    assert not result.duplicate and result.movements == () and ledger.apply(review).duplicate
    with pytest.raises(StockRejected) as err:
        ledger.apply(review.model_copy(update={"event_id": "r2", "sku": "NOPE"}))
    assert err.value.reason == "unknown_sku"


def test_a_reused_id_with_other_content_conflicts_and_changes_nothing(catalog):
    from stockflow.events import ConflictingDuplicate

    ledger = Ledger(catalog)
    ledger.apply(receipt())
    ledger.apply(sale("s1", qty="2"))
    before = dict(ledger.positions())
    with pytest.raises(ConflictingDuplicate) as raised:
        ledger.apply(sale("s1", qty="3"))
    assert raised.value.reason == "conflicting_duplicate"
    assert dict(ledger.positions()) == before and ledger.applied_count == 2
    # resent with a new send time: the same event, a duplicate
    assert ledger.apply(sale("s1", qty="2", minutes=55)).duplicate
    # the content survives a snapshot: the conflict is still caught after a restore
    restored = Ledger.from_snapshot(catalog, ledger.snapshot())
    with pytest.raises(ConflictingDuplicate):
        restored.apply(sale("s1", qty="3"))
    assert restored.apply(sale("s1", qty="2")).duplicate
    # a snapshot taken before fingerprints were kept: ids known, contents not (a plain duplicate)
    old = {**ledger.snapshot()}
    old.pop("fingerprints")
    assert Ledger.from_snapshot(catalog, old).apply(sale("s1", qty="3")).duplicate


def test_event_times_outside_the_window_are_refused():
    from datetime import UTC, datetime, timedelta

    from stockflow.events import EventRejected, check_event_time

    now = datetime(2026, 12, 2, 8, tzinfo=UTC)
    earliest = datetime(2000, 1, 1, tzinfo=UTC)
    ahead = timedelta(hours=24)

    def check(occurred_at):
        event = sale("t1").model_copy(update={"occurred_at": occurred_at})
        check_event_time(event, now, earliest, ahead)

    check(now + ahead)  # the edges are inside
    check(earliest)
    for outside in (
        now + ahead + timedelta(seconds=1),
        earliest - timedelta(seconds=1),
        datetime.fromisoformat("9999-12-31T23:00:00-08:00"),
        datetime.fromisoformat("0001-01-01T00:00:00+14:00"),
    ):
        with pytest.raises(EventRejected) as raised:
            check(outside)
        assert raised.value.reason == "implausible_time"
