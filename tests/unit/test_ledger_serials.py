"""Serial-managed SKUs: one distinct serial per base unit, carried from receipt to sale and back,
kept through snapshots and replays."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from stockflow.events import (
    AdjustmentReason,
    PosLine,
    PosReturn,
    PosSale,
    SalesIssue,
    StockAdjustment,
    TransferIn,
    TransferOut,
)
from stockflow.ledger import Ledger, PositionKey, StockRejected
from stockflow.masterdata import Catalog, Category, Sku
from tests.unit.conftest import at, receipt

PHONE = "PHONE-X"
BATCHED = "PHONE-B"


@pytest.fixture
def serial_catalog(catalog: Catalog) -> Catalog:
    for sku in (
        Sku(sku=PHONE, gtin="6901234567892", name="Phone X", category=Category.ELECTRONICS, serial_managed=True,
            packs={"box": 2}),
        Sku(sku=BATCHED, gtin="6901234567908", name="Phone B", category=Category.ELECTRONICS, serial_managed=True,
            batch_managed=True),
    ):  # fmt: skip
        catalog.skus[sku.sku] = sku
    return catalog


def got(serials, event_id="r1", location="WH1", qty=None, unit="each"):
    return receipt(
        event_id=event_id, sku=PHONE, qty=str(len(serials) if qty is None else qty), unit=unit, batch=None,
        expiry=None, location=location, serials=serials,
    )  # fmt: skip


def issue(serials, event_id="s1", location="WH1", qty=None):
    return SalesIssue(
        event_id=event_id, occurred_at=at(10), source="rf", location=location, sales_order="SO1", customer="C1",
        sku=PHONE, qty=Decimal(len(serials) if qty is None else qty), serials=serials,
    )  # fmt: skip


def till(event_id, *lines, kind=PosSale):
    return kind(
        event_id=event_id, occurred_at=at(20), source="till-1", store="S1", ticket=f"T-{event_id}", channel="retail",
        lines=[PosLine(sku=PHONE, qty=Decimal(len(s) if s else 1), unit_price=Decimal("2999"), serials=s) for s in lines],
    )  # fmt: skip


def adjust(event_id, qty, serials=None, reason=AdjustmentReason.DAMAGE):
    return StockAdjustment(
        event_id=event_id, occurred_at=at(30), source="rf", location="WH1", sku=PHONE, qty=Decimal(qty),
        reason=reason, serials=serials,
    )  # fmt: skip


def move(event_id, serials, kind=TransferOut, sku=PHONE, qty=None):
    return kind(
        event_id=event_id, occurred_at=at(5), source="rf", transfer_id="TR1", from_location="WH1", to_location="S1",
        sku=sku, qty=Decimal(len(serials) if qty is None else qty), serials=serials,
    )  # fmt: skip


def refused(ledger: Ledger, event: object) -> str:
    with pytest.raises(StockRejected) as err:
        ledger.apply(event)
    return err.value.reason


def test_a_receipt_lists_one_distinct_serial_per_base_unit(serial_catalog):
    ledger = Ledger(serial_catalog)
    assert refused(ledger, got(["A", "B"], "r0", qty=3)) == "serials_mismatch"
    assert refused(ledger, got(["A", "A", "B"], "r1")) == "serials_mismatch"
    assert refused(ledger, got(None, "r2", qty=1)) == "serials_mismatch"
    ledger.apply(got(["A", "B", "C"], "r3"))
    assert ledger.serials_on_hand("WH1", PHONE) == {"A", "B", "C"}
    assert ledger.position(PositionKey("WH1", PHONE)).on_hand == 3
    ledger.apply(got(["D", "E"], "r4", qty=1, unit="box"))  # a box of two: two serials
    assert ledger.serials_on_hand("WH1", PHONE) == {"A", "B", "C", "D", "E"}


def test_a_sku_that_is_not_serial_managed_lists_no_serials(serial_catalog):
    ledger = Ledger(serial_catalog)
    event = receipt(sku="RICE-5KG", qty="1", unit="each", batch=None, expiry=None, serials=["X1"])
    assert refused(ledger, event) == "serials_not_managed"
    ledger.apply(receipt(event_id="r2", sku="RICE-5KG", qty="1", unit="each", batch=None, expiry=None))


def test_a_serial_in_stock_anywhere_is_not_received_again(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A", "B"]))
    assert refused(ledger, got(["B"], "r2", location="S1")) == "serial_in_stock"
    assert refused(ledger, adjust("found", "1", ["A"], AdjustmentReason.FOUND)) == "serial_in_stock"
    ledger.apply(adjust("found2", "1", ["F"], AdjustmentReason.FOUND))
    assert ledger.serials_on_hand("WH1", PHONE) == {"A", "B", "F"}


def test_an_issue_a_transfer_and_a_write_off_need_the_serial_on_hand_there(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A", "B"]))
    ledger.apply(got(["C"], "r2", location="S1"))
    assert refused(ledger, issue(["C"], "s0")) == "serial_not_in_stock"  # it is at S1
    assert refused(ledger, issue(["Z"], "s1")) == "serial_not_in_stock"
    assert refused(ledger, adjust("d1", "-1", ["C"])) == "serial_not_in_stock"
    assert refused(ledger, move("t1", ["C"])) == "serial_not_in_stock"
    assert refused(ledger, adjust("d2", "-1")) == "serials_mismatch"  # a write-off names its units
    ledger.apply(issue(["A"], "s2"))
    ledger.apply(adjust("d3", "-1", ["B"]))
    assert ledger.serials_on_hand("WH1", PHONE) == set()
    assert ledger.serials_sold(PHONE) == {"A"}  # a write-off is not a sale
    assert ledger.serial_location(PHONE, "C") == "S1"


def test_a_till_sale_books_its_serials_whatever_the_register_says_but_counts_them(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A"], location="S1"))
    assert refused(ledger, till("t0", ["A", "A"])) == "serials_mismatch"
    assert refused(ledger, till("t1", None)) == "serials_mismatch"
    result = ledger.apply(till("t2", ["A", "Z"]))  # Z never received here: the phone has left anyway
    assert result.negative_stock
    assert ledger.serials_sold(PHONE) == {"A", "Z"}
    assert ledger.serials_on_hand("S1", PHONE) == set()


def test_one_ticket_cannot_sell_one_serial_on_two_lines(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A", "B"], location="S1"))
    assert refused(ledger, till("t1", ["A"], ["A"])) == "serials_mismatch"
    ledger.apply(till("t2", ["A"], ["B"]))
    assert ledger.serials_sold(PHONE) == {"A", "B"}


def test_a_return_takes_back_a_serial_that_was_sold(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A", "B"], location="S1"))
    ledger.apply(till("t1", ["A"]))
    assert refused(ledger, till("back0", ["B"], kind=PosReturn)) == "serial_not_sold"  # on the shelf
    assert refused(ledger, till("back1", ["Q"], kind=PosReturn)) == "serial_not_sold"  # never sold
    ledger.apply(till("back2", ["A"], kind=PosReturn))
    assert ledger.serials_on_hand("S1", PHONE) == {"A", "B"}
    assert ledger.serials_sold(PHONE) == set()
    assert refused(ledger, till("back3", ["A"], kind=PosReturn)) == "serial_not_sold"  # back already


def test_a_transfer_carries_its_serials_from_shelf_to_shelf(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A", "B", "C"]))
    out = ledger.apply(move("t1", ["A", "B"]))
    (leg,) = out.follow_ups
    assert leg.serials == ["A", "B"] and leg.qty_base == 2
    assert ledger.serials_on_hand("WH1", PHONE) == {"C"}
    ledger.apply(leg)
    assert ledger.serials_in_transit("S1", PHONE) == {"A", "B"}
    assert refused(ledger, got(["A"], "r2")) == "serial_in_stock"  # on its way: still ours
    assert refused(ledger, move("in0", ["C"], TransferIn)) == "serial_in_stock"  # still at WH1
    ledger.apply(move("in1", ["A", "B"], TransferIn))
    assert ledger.serials_on_hand("S1", PHONE) == {"A", "B"}
    assert ledger.serials_in_transit("S1", PHONE) == set()
    assert ledger.position(PositionKey("S1", PHONE)).as_dict() == {
        "on_hand": 2, "reserved": 0, "quarantined": 0, "in_transit": 0,
    }  # fmt: skip


def test_goods_received_before_their_transit_leg_are_not_left_in_transit(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A"]))
    (leg,) = ledger.apply(move("t1", ["A"])).follow_ups
    ledger.apply(move("in1", ["A"], TransferIn))  # the scanners' topic ran ahead of the transits'
    ledger.apply(leg)
    assert ledger.serials_on_hand("S1", PHONE) == {"A"}
    assert ledger.serials_in_transit("S1", PHONE) == set()


def test_the_transit_legs_of_several_batches_share_the_serials_out(serial_catalog):
    ledger = Ledger(serial_catalog)
    for i, (batch, serial) in enumerate([("B1", "S-1"), ("B2", "S-2"), ("B2", "S-3")]):
        ledger.apply(
            receipt(
                event_id=f"r{i}",
                sku=BATCHED,
                qty="1",
                unit="each",
                batch=batch,
                expiry=None,
                serials=[serial],
            )
        )
    legs = ledger.apply(move("t1", ["S-1", "S-2", "S-3"], sku=BATCHED)).follow_ups
    assert sorted((leg.batch, leg.qty_base, len(leg.serials or ())) for leg in legs) == [
        ("B1", 1, 1),
        ("B2", 2, 2),
    ]
    assert sorted(s for leg in legs for s in leg.serials or ()) == ["S-1", "S-2", "S-3"]


def test_a_count_variance_may_name_no_serials(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(got(["A", "B"]))
    ledger.apply(adjust("cv1", "-1", reason=AdjustmentReason.COUNT_VARIANCE))
    assert ledger.position(PositionKey("WH1", PHONE)).on_hand == 1
    ledger.apply(adjust("cv2", "-1", ["B"], reason=AdjustmentReason.COUNT_VARIANCE))
    assert ledger.serials_on_hand("WH1", PHONE) == {"A"}


def _history(serial_catalog):
    """Serials on hand, in transit and sold."""
    return [
        got(["A", "B", "C", "D"]),
        got(["E"], "r2", location="S1"),
        move("t1", ["A"]),
        issue(["B"]),
        till("t2", ["E"]),
    ]


def serial_parts(snapshot: dict) -> dict:
    return {k: v for k, v in snapshot.items() if k.startswith("serials_")}


def test_serials_are_kept_in_a_snapshot_and_restored(serial_catalog):
    ledger = Ledger(serial_catalog)
    list(ledger.apply_accepted(_history(serial_catalog)))
    stored = json.loads(json.dumps(ledger.snapshot()))
    assert serial_parts(stored) == {
        "serials_on_hand": {PHONE: {"C": "WH1", "D": "WH1"}},
        "serials_in_transit": {PHONE: {"A": "S1"}},
        "serials_sold": {PHONE: ["B", "E"]},
    }
    restored = Ledger.from_snapshot(serial_catalog, stored)
    assert restored.snapshot() == ledger.snapshot()
    # the restored ledger decides the next events exactly as the one that never stopped
    for candidate in [got(["C"], "r9"), till("back", ["E"], kind=PosReturn), move("in", ["A"], TransferIn)]:
        outcomes = []
        for which in (ledger, restored):
            try:
                outcomes.append(which.apply(candidate).movements)
            except StockRejected as err:
                outcomes.append(err.reason)
        assert outcomes[0] == outcomes[1]
    assert restored.snapshot() == ledger.snapshot()


def test_a_checkpoint_taken_before_serials_were_kept_restores_with_none(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(receipt())
    older = {k: v for k, v in ledger.snapshot().items() if not k.startswith("serials_")}
    restored = Ledger.from_snapshot(serial_catalog, older)
    assert dict(restored.positions()) == dict(ledger.positions())
    assert restored.serials_sold(PHONE) == set()


def test_a_replay_rebuilds_the_serials(serial_catalog):
    live = Ledger(serial_catalog)
    accepted = [event for event, _ in live.apply_accepted(_history(serial_catalog))]
    replayed = Ledger(serial_catalog)
    for event in accepted:
        replayed.apply(event, admit=False)
    assert serial_parts(replayed.snapshot()) == serial_parts(live.snapshot())


def test_ordinary_skus_leave_the_serial_register_empty(serial_catalog):
    ledger = Ledger(serial_catalog)
    ledger.apply(receipt())
    ledger.apply(move("t1", [], sku="MILK-1L", qty=12).model_copy(update={"serials": None, "batch": "B1"}))
    assert serial_parts(ledger.snapshot()) == {
        "serials_on_hand": {},
        "serials_in_transit": {},
        "serials_sold": {},
    }
