"""A restaurant's lake written the way the stream lands it (each accepted event and its
movements through the lake writer), from events applied to the core's ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from lake import LakeWriter, event_row, movement_row
from stockflow.events import AdjustmentReason, CycleCount, StockAdjustment
from stockflow.ledger import Ledger
from stockflow.masterdata import Catalog
from tests.support.restaurant import at, prep, refund, stock_in, ticket

DAMAGE, COUNT_VARIANCE = AdjustmentReason.DAMAGE, AdjustmentReason.COUNT_VARIANCE


def count(
    event_id: str, count_id: str, sku: str, qty: str, batch: str | None, minutes: float, location: str = "R1"
) -> CycleCount:
    return CycleCount(
        event_id=event_id,
        occurred_at=at(minutes),
        source="kitchen",
        location=location,
        count_id=count_id,
        sku=sku,
        batch=batch,
        counted_qty=Decimal(qty),
        unit="g",
    )


def adjustment(
    event_id: str,
    sku: str,
    qty: str,
    batch: str | None,
    reason: AdjustmentReason,
    minutes: float,
    count_id: str | None = None,
    location: str = "R1",
) -> StockAdjustment:
    return StockAdjustment(
        event_id=event_id,
        occurred_at=at(minutes),
        source="kitchen",
        location=location,
        sku=sku,
        batch=batch,
        qty=Decimal(qty),
        unit="g",
        reason=reason,
        count_id=count_id,
    )


def write_restaurant_lake(var: Path, catalog: Catalog, events: Iterable[object]) -> Ledger:
    """Apply `events` in order (each must be accepted) and land them with their movements
    under `var`/lake; the catalogue is saved as the build reads it."""
    catalog.save(var / "masterdata.json")
    writer = LakeWriter(var / "lake", "test")
    ledger = Ledger(catalog)
    offset = 0
    for event in events:
        result = ledger.apply(event)
        topic = event.topic.value  # type: ignore[attr-defined]
        writer.append(topic, event_row(event, b"", topic, 0, offset, writer.next_seq()))
        for mv in result.movements:
            writer.append("inventory_changed", movement_row(mv, 0, writer.next_seq(), datetime.now(UTC)))
        offset += 1
    writer.flush()
    return ledger


def a_day_at_store_r1():
    """Receipts, a first count, a broth prep, three tickets and a refund, a damaged pack, a
    second receipt, the end-of-day count, its variance booked, one more ticket, a last count."""
    return [
        stock_in("in-flour", "FLOUR", "10000", "F1", date(2026, 3, 10), cost="0.02", minutes=0),
        stock_in("in-pork", "PORK", "5000", "P1", date(2026, 3, 5), cost="0.05", minutes=0),
        stock_in("in-scallion", "SCALLION", "1000", "S1", date(2026, 3, 6), cost="0.01", minutes=0),
        stock_in("in-bones", "BONES", "6000", "B1", date(2026, 3, 5), cost="0.03", minutes=0),
        stock_in("in-ginger", "GINGER", "500", None, None, cost="0.04", minutes=0),
        stock_in("in-tea", "TEA-LEAF", "200", None, None, cost="0.10", minutes=0),
        count("c0-flour", "OPEN", "FLOUR", "10000", "F1", minutes=1),
        count("c0-pork", "OPEN", "PORK", "5000", "P1", minutes=1),
        prep("broth", "2000", minutes=5),
        ticket("S1", ("DUMPLINGS", "3", "portion"), ("NOODLES", "2", "portion"), minutes=10),
        ticket("S2", ("SET-A", "2", "portion"), channel="takeout", minutes=12),
        refund("R1", "S1", ("DUMPLINGS", "1", "portion"), restock=True, minutes=20),
        adjustment("dmg-pork", "PORK", "-50", "P1", DAMAGE, minutes=25),
        stock_in("in-flour-2", "FLOUR", "2000", "F2", date(2026, 3, 12), cost="0.02", minutes=30),
        count("c1-flour-f1", "EOD", "FLOUR", "9100", "F1", minutes=60),
        count("c1-flour-f2", "EOD", "FLOUR", "2000", "F2", minutes=60),
        count("c1-pork", "EOD", "PORK", "4500", "P1", minutes=60),
        adjustment("var-flour", "FLOUR", "-120", "F1", COUNT_VARIANCE, minutes=61, count_id="EOD"),
        adjustment("var-pork", "PORK", "-50", "P1", COUNT_VARIANCE, minutes=61, count_id="EOD"),
        ticket("S3", ("DUMPLINGS", "1", "portion"), minutes=90),
        count("c2-flour-f1", "LATE", "FLOUR", "8980", "F1", minutes=120),
        count("c2-flour-f2", "LATE", "FLOUR", "2000", "F2", minutes=120),
    ]
