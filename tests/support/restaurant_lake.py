"""A restaurant's lake written the way the stream lands it (each accepted event and its
movements through the lake writer), from events applied to the core's ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from lake import LakeWriter, event_row, movement_row
from stockflow.events import AdjustmentReason, CycleCount, StockAdjustment
from stockflow.ledger import Ledger
from stockflow.masterdata import Catalog
from tests.support.restaurant import at


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
