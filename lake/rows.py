"""Codecs between core objects and lake rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from stockflow.alerts import Alert
from stockflow.ledger import Movement


def event_row(
    event: Any, raw: bytes, topic: str, partition: int, offset: int, apply_seq: int
) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
        "source": event.source,
        "source_seq": event.source_seq,
        "location": event.location_id,
        "payload": raw.decode() if raw else event.model_dump_json(exclude_none=True),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "apply_seq": apply_seq,
    }


def movement_row(mv: Movement, partition: int, apply_seq: int, processed_at: datetime) -> dict[str, Any]:
    return {
        "event_id": mv.event_id,
        "event_type": mv.event_type,
        "occurred_at": mv.occurred_at,
        "location": mv.location,
        "sku": mv.sku,
        "batch": mv.batch,
        "on_hand_delta": mv.on_hand_delta,
        "reserved_delta": mv.reserved_delta,
        "quarantined_delta": mv.quarantined_delta,
        "in_transit_delta": mv.in_transit_delta,
        **mv.after.as_dict(),
        "reference": mv.reference,
        "counterparty": mv.counterparty,
        "unit_cost": mv.unit_cost,
        "unit_price": mv.unit_price,
        "negative_stock": mv.negative_stock,
        "partition": partition,
        "apply_seq": apply_seq,
        "processed_at": processed_at,
    }


def alert_row(alert: Alert, raised_at: datetime) -> dict[str, Any]:
    return {
        **alert.model_dump(mode="python", exclude={"details"}),
        "details": json.dumps(alert.details, ensure_ascii=False, default=str),
        "raised_at": raised_at,
    }
