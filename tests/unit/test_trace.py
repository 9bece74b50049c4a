"""The recall trace's rules (`stockflow.trace`) and its use case over an in-memory source, on
hand-built movements: a batch received, inspected, held and released, transferred, sold,
delivered, written off, issued to a work order and taken by a prep; the goods made from it
followed; every figure below counted by hand."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stockflow.services.trace import trace_batch
from stockflow.trace import (
    BatchKey,
    Flow,
    TracedMovement,
    Via,
    curve_reference,
    flow_of,
)

T0 = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
SEQ = iter(range(1, 10_000))


def mv(event_id: str, event_type: str, location: str, on_hand: int, sku: str = "MILK", batch: str = "L1",
       hours: float = 0, **kw: Any) -> TracedMovement:  # fmt: skip
    return TracedMovement(event_id=event_id, event_type=event_type, occurred_at=T0 + timedelta(hours=hours),
                          location=location, sku=sku, batch=batch, on_hand_delta=on_hand, apply_seq=next(SEQ),
                          **kw)  # fmt: skip


def story() -> list[TracedMovement]:
    """MILK L1: 100 in at W1 (PO-1 from SUP-1), an inspection quarantines 100, 10 scrapped,
    90 released; 40 to S1 (30 arrived, 10 still on the way), 5 to a customer, 20 to work order
    WO-1 (2 back), 10 into prep P-1; at S1 3 on two tickets, 1 returned, 2 written off. Also the
    same batch code of another SKU (BREAD L1), 7 received at S1."""
    return [
        mv("gr-1", "goods_receipt", "W1", 100, reference="PO-1", counterparty="SUP-1"),
        mv(
            "ins-1",
            "pallet_inspected",
            "W1",
            0,
            quarantined_delta=100,
            reference="INS-1",
            counterparty="SUP-1",
            hours=0.2,
        ),  # fmt: skip
        mv("qs-1", "quality_hold", "W1", -10, quarantined_delta=-10, reference="scrap", hours=3),
        mv("qr-1", "quality_hold", "W1", 0, quarantined_delta=-90, reference="release", hours=3),
        mv("to-1", "transfer_out", "W1", -40, reference="TR-1", counterparty="S1", hours=4),
        mv(
            "to-1:transit:0",
            "transit_dispatched",
            "S1",
            0,
            in_transit_delta=40,
            reference="TR-1",
            counterparty="W1",
            hours=4,
        ),  # fmt: skip
        mv(
            "ti-1",
            "transfer_in",
            "S1",
            30,
            in_transit_delta=-30,
            reference="TR-1",
            counterparty="W1",
            hours=6,
        ),
        mv("si-1", "sales_issue", "W1", -5, reference="SO-1", counterparty="CUST-1", hours=5),
        mv("mi-1", "material_issued", "W1", -20, reference="WO-1", hours=5),
        mv("mi-2", "material_issued", "W1", 2, reference="WO-1", hours=6),
        mv("prep-1", "prep_produced", "W1", -10, reference="P-1", dish="SAUCE", hours=5),
        mv("pos-1", "pos_sale", "S1", -2, reference="T-1", counterparty="retail", hours=7),
        mv("pos-2:1", "pos_sale", "S1", -1, reference="T-2", counterparty="CUST-2", dish="LATTE", hours=8),
        mv("ret-1", "pos_return", "S1", 1, reference="T-1", counterparty="retail", hours=9),
        mv("adj-1", "stock_adjustment", "S1", -2, reference="damage", hours=10),
        mv("gr-2", "goods_receipt", "S1", 7, sku="BREAD", reference="PO-2", counterparty="SUP-2", hours=1),
    ]


def goods() -> list[TracedMovement]:
    """What WO-1 and P-1 made: YOGURT Y1 (two receipts of WO-1 in two batches), SAUCE SB1; and
    their own onward movements; a work order that took nothing of L1 (WO-9)."""
    return [
        mv("pr-1", "production_receipt", "W1", 8, sku="YOGURT", batch="Y1", reference="WO-1", hours=7),
        mv("pr-2", "production_receipt", "W1", 4, sku="YOGURT", batch="Y2", reference="WO-1", hours=8),
        mv("pr-9", "production_receipt", "W1", 5, sku="YOGURT", batch="Y9", reference="WO-9", hours=8),
        mv(
            "prep-1",
            "prep_produced",
            "W1",
            6,
            sku="SAUCE",
            batch="SB1",
            reference="P-1",
            dish="SAUCE",
            hours=5,
        ),
        mv(
            "si-2",
            "sales_issue",
            "W1",
            -3,
            sku="YOGURT",
            batch="Y1",
            reference="SO-2",
            counterparty="CUST-3",
            hours=9,
        ),  # fmt: skip
        mv(
            "pos-3",
            "pos_sale",
            "W1",
            -6,
            sku="SAUCE",
            batch="SB1",
            reference="T-3",
            counterparty="dine_in",
            hours=9,
        ),  # fmt: skip
    ]


class Memory:
    """The trace's source over a list of movements and event records (as the lake would give)."""

    def __init__(self, rows: list[TracedMovement], records: dict[str, dict], inspections: list[dict]) -> None:
        self.rows, self.records, self.found = rows, records, inspections
        self.reads: list[str] = []

    def batch_movements(self, batches: Collection[str], skus: Collection[str] | None = None, since=None):
        self.reads.append("batches")
        return [r for r in self.rows if r.batch in batches and (skus is None or r.sku in skus)
                and (since is None or r.occurred_at >= since)]  # fmt: skip

    def goods_made(self, work_orders: Collection[str], preps: Collection[str], since=None):
        self.reads.append("goods")
        return [r for r in self.rows if r.on_hand_delta > 0 and (
            (r.event_type == "production_receipt" and r.reference in work_orders)
            or (r.event_type == "prep_produced" and r.event_id in preps))]  # fmt: skip

    def event_records(self, events: Mapping[str, datetime]):
        return {k: v for k, v in self.records.items() if k in events}

    def inspections(self, batches: Collection[BatchKey], start: datetime, end: datetime):
        return [i for i in self.found if BatchKey(i["sku"], i["batch"]) in set(batches)]


RECORDS = {
    "gr-1": {"supplier": "SUP-1", "purchase_order": "PO-1", "expiry_date": "2026-06-20",
             "temperature_curve": {"logger": "LOG-7",
                                   "readings": [{"at": "2026-05-31T20:00+08:00", "celsius": 2.0},
                                                {"at": "2026-06-01T02:00+08:00", "celsius": 5.5},
                                                {"at": "2026-06-01T08:00+08:00", "celsius": 3.0}]}},
    "qs-1": {"reason": "2 damaged cartons"},
}  # fmt: skip
INSPECTIONS = [
    {"event_id": "ins-1", "occurred_at": T0, "location": "W1", "inspection_id": "INS-1", "sku": "MILK",
     "batch": "L1", "verdict": "quarantine", "cartons": 10, "damaged_cartons": 1, "supplier": "SUP-1"},
    {"event_id": "ins-x", "occurred_at": T0, "location": "W1", "inspection_id": "INS-X", "sku": "BREAD",
     "batch": "L2", "verdict": "accept"},
]  # fmt: skip


@pytest.fixture
def traced():
    source = Memory(story() + goods(), RECORDS, INSPECTIONS)
    return trace_batch(source, "L1", "MILK"), source


def test_backward_supplier_receipt_curve_inspection_and_holds(traced):
    trace, _ = traced
    (milk,) = trace.roots()
    (receipt,) = milk.receipts
    assert (receipt.event_id, receipt.location, receipt.qty, receipt.supplier, receipt.purchase_order) == (
        "gr-1", "W1", 100, "SUP-1", "PO-1",
    )  # fmt: skip
    assert str(receipt.expiry_date) == "2026-06-20"
    assert receipt.curve is not None and receipt.curve.logger == "LOG-7"
    assert (receipt.curve.readings, receipt.curve.min_c, receipt.curve.max_c) == (3, 2.0, 5.5)
    assert [(i.inspection_id, i.verdict, i.damaged_cartons) for i in milk.inspections] == [
        ("INS-1", "quarantine", 1)
    ]
    assert [(q.action, q.qty, q.reason) for q in milk.quality] == [
        ("inspection", 100, "INS-1"), ("scrap", 10, "2 damaged cartons"), ("release", 90, ""),
    ]  # fmt: skip


def test_forward_flows_per_location_and_in_total(traced):
    trace, _ = traced
    (milk,) = trace.roots()
    s1, w1 = milk.balances  # by location
    # W1: 100 in; out 10 scrapped + 40 + 5 + (20 - 2) + 10 = 83; 17 left
    assert w1.location == "W1" and dict(w1.flows) == {
        Flow.RECEIVED: 100, Flow.WRITTEN_OFF: 10, Flow.TRANSFERRED_OUT: 40, Flow.DELIVERED: 5, Flow.CONSUMED: 28,
    }  # fmt: skip
    assert (w1.on_hand, w1.quarantined, w1.in_transit) == (17, 0, 0)
    # S1: 30 in + 1 back; 3 sold, 2 damaged; 26 on hand, 10 on the way
    assert dict(s1.flows) == {Flow.TRANSFERRED_IN: 30, Flow.SOLD: 3, Flow.RETURNED: 1, Flow.WRITTEN_OFF: 2}
    assert (s1.on_hand, s1.in_transit) == (26, 10)
    assert milk.total.on_hand == 43 and milk.total.in_transit == 10
    # what left by transfer and has not arrived is the 10 in transit
    assert milk.total.qty(Flow.TRANSFERRED_OUT) - milk.total.qty(Flow.TRANSFERRED_IN) == milk.total.in_transit
    assert all(b.reconciles for b in (*milk.balances, milk.total))
    assert [(s.reference, s.location, s.qty, s.dish) for s in milk.steps_in(Flow.SOLD)] == [
        ("T-1", "S1", 2, ""), ("T-2", "S1", 1, "LATTE"),
    ]  # fmt: skip
    assert milk.customers == ("CUST-1", "CUST-2")  # a delivery and a ticket naming its customer


def test_goods_made_from_the_batch_are_followed(traced):
    trace, _ = traced
    keys = [b.key for b in trace.batches]
    assert keys == [BatchKey("MILK", "L1"), BatchKey("SAUCE", "SB1"), BatchKey("YOGURT", "Y1"),
                    BatchKey("YOGURT", "Y2")]  # fmt: skip
    (milk, sauce, y1, y2) = trace.batches
    assert milk.made == (BatchKey("SAUCE", "SB1"), BatchKey("YOGURT", "Y1"), BatchKey("YOGURT", "Y2"))
    assert [(m.parent, m.via, m.reference, m.qty) for m in y1.made_from] == [
        (BatchKey("MILK", "L1"), Via.WORK_ORDER, "WO-1", 8)
    ]
    assert [(m.via, m.reference) for m in sauce.made_from] == [(Via.PREP, "P-1")]
    assert y1.depth == sauce.depth == 1
    assert dict(y1.total.flows) == {Flow.MADE: 8, Flow.DELIVERED: 3} and y1.total.on_hand == 5
    assert dict(sauce.total.flows) == {Flow.MADE: 6, Flow.SOLD: 6} and sauce.total.on_hand == 0
    assert y2.total.on_hand == 4
    assert BatchKey("YOGURT", "Y9") not in keys  # WO-9 took none of it


def test_a_batch_code_of_several_skus_without_sku_lists_each(traced):
    _, source = traced
    trace = trace_batch(source, "L1")
    assert [b.key for b in trace.roots()] == [BatchKey("BREAD", "L1"), BatchKey("MILK", "L1")]
    bread = trace.roots()[0]
    assert [(r.supplier, r.qty) for r in bread.receipts] == [("SUP-2", 7)] and bread.total.on_hand == 7


def test_depth_is_limited_and_a_cycle_ends():
    # A made into B, B into A (a cycle, impossible in a real lake), and B into C, C into D
    rows = [
        mv("ga", "goods_receipt", "P", 10, sku="A", batch="a"),
        mv("ia", "material_issued", "P", -5, sku="A", batch="a", reference="W-AB", hours=1),
        mv("pb", "production_receipt", "P", 5, sku="B", batch="b", reference="W-AB", hours=2),
        mv("ib", "material_issued", "P", -2, sku="B", batch="b", reference="W-BA", hours=3),
        mv("pa", "production_receipt", "P", 2, sku="A", batch="a", reference="W-BA", hours=4),
        mv("ib2", "material_issued", "P", -2, sku="B", batch="b", reference="W-BC", hours=3),
        mv("pc", "production_receipt", "P", 2, sku="C", batch="c", reference="W-BC", hours=4),
        mv("ic", "material_issued", "P", -1, sku="C", batch="c", reference="W-CD", hours=5),
        mv("pd", "production_receipt", "P", 1, sku="D", batch="d", reference="W-CD", hours=6),
    ]
    full = trace_batch(Memory(rows, {}, []), "a", "A")
    assert [b.key.sku for b in full.batches] == ["A", "B", "C", "D"] and not full.not_followed
    assert [b.depth for b in full.batches] == [0, 1, 2, 3]
    short = trace_batch(Memory(rows, {}, []), "a", "A", max_depth=1)
    assert [b.key.sku for b in short.batches] == ["A", "B"]
    assert short.not_followed == (BatchKey("C", "c"),)


def test_an_unknown_batch_is_not_found_and_reads_nothing_more():
    source = Memory(story(), {}, [])
    trace = trace_batch(source, "NOPE")
    assert not trace.found and source.reads == ["batches"]


@pytest.mark.parametrize(
    ("event_type", "delta", "dish", "sku", "flow"),
    [
        ("goods_receipt", 5, "", "M", Flow.RECEIVED),
        ("production_receipt", 5, "", "M", Flow.MADE),
        ("production_receipt", -5, "", "M", Flow.CONSUMED),  # a backflushed material
        ("prep_produced", 5, "M", "M", Flow.MADE),
        ("prep_produced", -5, "X", "M", Flow.CONSUMED),
        ("material_issued", 5, "", "M", Flow.CONSUMED),  # returned material: consumption undone
        ("stock_adjustment", 5, "", "M", Flow.FOUND),
        ("stock_correction", -5, "", "M", Flow.WRITTEN_OFF),
        ("conflict_decided", 5, "", "M", Flow.FOUND),
        ("stock_reservation", 0, "", "M", None),
    ],
)
def test_each_change_falls_in_one_flow(event_type, delta, dish, sku, flow):
    assert flow_of(mv("e", event_type, "W1", delta, sku=sku, dish=dish)) == flow


def test_a_curve_is_read_from_the_record_and_none_is_none():
    assert curve_reference({}) is None
    assert curve_reference({"temperature_curve": {"readings": []}}) is None  # not a curve its schema reads
    by_sensor = curve_reference(
        {
            "temperature_curve": {
                "sensor": "S-1",
                "from_at": "2026-06-01T08:00+08:00",
                "to_at": "2026-06-01T10:00+08:00",
            }
        }
    )
    assert (by_sensor.sensor, by_sensor.readings, by_sensor.end - by_sensor.start) == (
        "S-1",
        0,
        timedelta(hours=2),
    )
    listed = curve_reference(
        {"temperature_curve": {"readings": [{"at": "2026-06-01T09:00+08:00", "celsius": 4},
                                            {"at": "2026-06-01T08:00+08:00", "celsius": -1.5}]}}
    )  # fmt: skip
    assert (listed.readings, listed.min_c, listed.max_c) == (2, -1.5, 4.0)
    assert listed.points[0][1] == -1.5  # in time order
