"""Record an inspection: the detector's result for a delivered pallet becomes a
``pallet_inspected`` event in the stream (which quarantines the batch unless the verdict is
accept). The command line (`stockflow inspect`) and the workers' ``POST /inspections`` both
record through here; a photo without a pallet records nothing.

The stream's own view publishes from its event loop, so the publisher port comes in two
forms: `EventPublisher` (`record_inspection`) and `AsyncEventPublisher`
(`record_inspection_async`).

The annotated photo belongs to a recorded inspection only: `keep_photo` (when given) is called
with the event once the event is valid and before it is published, so a refused inspection
leaves no photo behind, and a recorded one never names a photo that was not kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from stockflow.events import Event, PalletInspected
from stockflow.inspection import InspectionResult, inspection_event
from stockflow.services.ports import EventPublisher

REQUIRED = ("supplier", "sku", "location")
OPTIONAL = ("batch", "purchase_order")


class InspectionRefused(ValueError):
    """An inspection that cannot be recorded; `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Delivery:
    """What was inspected: a supplier's delivery of a SKU received at a location."""

    supplier: str
    sku: str
    location: str
    batch: str | None = None
    purchase_order: str | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, str | None]) -> Delivery:
        """From form or command-line fields (blank is absent); refuses a delivery without
        supplier, SKU and location."""
        values = {name: (fields.get(name) or "").strip() or None for name in (*REQUIRED, *OPTIONAL)}
        missing = [name for name in REQUIRED if values[name] is None]
        if missing:
            raise InspectionRefused("missing_fields", f"required: {', '.join(missing)}")
        return cls(**values)  # type: ignore[arg-type]

    @staticmethod
    def given(fields: Mapping[str, str | None]) -> bool:
        """Whether any of the delivery's required fields is given (a delivery to record)."""
        return any((fields.get(name) or "").strip() for name in REQUIRED)


class AsyncEventPublisher(Protocol):
    """Produces an event into the stream from an event loop."""

    async def publish(self, event: Event) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def inspection_record(
    result: InspectionResult,
    delivery: Delivery,
    *,
    event_id: str,
    source: str,
    model: str = "",
    image: str | None = None,
    occurred_at: datetime,
) -> PalletInspected | None:
    """The event that records the inspection; None when no pallet was found."""
    if not result.pallet_found:
        return None
    try:
        return inspection_event(
            result,
            event_id=event_id,
            occurred_at=occurred_at,
            source=source,
            location=delivery.location,
            supplier=delivery.supplier,
            sku=delivery.sku,
            batch=delivery.batch,
            purchase_order=delivery.purchase_order,
            model=model,
            image=image,
        )
    except ValidationError as exc:
        raise InspectionRefused("invalid_fields", str(exc)) from None


def record_inspection(
    result: InspectionResult,
    delivery: Delivery,
    publish: EventPublisher,
    *,
    event_id: str,
    source: str,
    model: str = "",
    image: str | None = None,
    clock: Callable[[], datetime] = _utc_now,
    keep_photo: Callable[[PalletInspected], object] | None = None,
) -> PalletInspected | None:
    """Publish the inspection's event (None, and nothing published, without a pallet); the
    photo is kept (`keep_photo`) after the event is found valid, before it is published."""
    event = inspection_record(
        result, delivery, event_id=event_id, source=source, model=model, image=image, occurred_at=clock()
    )
    if event is not None:
        if keep_photo is not None:
            keep_photo(event)
        publish.publish(event)
    return event


async def record_inspection_async(
    result: InspectionResult,
    delivery: Delivery,
    publish: AsyncEventPublisher,
    *,
    event_id: str,
    source: str,
    model: str = "",
    image: str | None = None,
    clock: Callable[[], datetime] = _utc_now,
    keep_photo: Callable[[PalletInspected], Awaitable[object]] | None = None,
) -> PalletInspected | None:
    """`record_inspection` from an event loop."""
    event = inspection_record(
        result, delivery, event_id=event_id, source=source, model=model, image=image, occurred_at=clock()
    )
    if event is not None:
        if keep_photo is not None:
            await keep_photo(event)
        await publish.publish(event)
    return event
