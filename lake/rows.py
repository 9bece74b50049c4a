"""Codecs between core objects and lake rows."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from stockflow.alerts import Alert
from stockflow.conflicts import Conflict
from stockflow.delivery import Delivery
from stockflow.events import ConflictDecided
from stockflow.ledger import Movement
from stockflow.masterdata import Catalog
from stockflow.recipes import RecipeError, component_base_qty


def event_row(
    event: Any,
    raw: bytes,
    topic: str,
    partition: int,
    offset: int,
    apply_seq: int,
    delivery: Delivery = Delivery.LIVE,
) -> dict[str, Any]:
    """An accepted event's row; `delivery`: live, or history its producer sent after the fact."""
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
        "delivery": delivery.value,
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
        "original_currency": mv.currency,
        "original_unit_cost": mv.original_unit_cost,
        "dish": mv.dish,
        "portions": mv.portions,
        "labour": mv.labour,
        "overhead": mv.overhead,
        "service_fee": mv.service_fee,
        "order_open_qty": mv.order_open_qty or None,
        "hold_reason": mv.hold_reason or None,
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


def conflict_row(conflict: Conflict, partition: int, apply_seq: int) -> dict[str, Any]:
    """A conflict as found: its ``open`` row."""
    return {**conflict.as_record(), "status": "open", "partition": partition, "apply_seq": apply_seq}


def conflict_decision_row(
    decision: ConflictDecided, partition: int, apply_seq: int, decided_at: datetime
) -> dict[str, Any]:
    """A person's decision on a conflict: its ``decided`` row (the decision event's id and time)."""
    return {
        "conflict_id": decision.conflict_id,
        "status": "decided",
        "event_id": decision.event_id,
        "event_type": decision.event_type,
        "source": decision.source,
        "location": decision.location,
        "sku": decision.sku,
        "batch": decision.batch or "",
        "occurred_at": decision.occurred_at,
        "detected_at": decided_at,
        "decision": decision.decision.value,
        "decided_on_hand": decision.on_hand,
        "decided_by": decision.decided_by,
        "role": decision.role,
        "note": decision.note,
        "partition": partition,
        "apply_seq": apply_seq,
    }


def masterdata_rows(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """The master data tables' rows (skus, locations, suppliers, customers, recipes) for the
    warehouse."""
    return {
        "skus": [
            {
                "sku": s.sku,
                "gtin": s.gtin,
                "name": s.name,
                "category": str(s.category),
                "status": s.status.value,
                "serial_managed": s.serial_managed,
                "base_unit": s.base_unit,
                "packs": json.dumps(s.packs, sort_keys=True),
                "min_pack_units": s.min_pack_units,
                "shelf_life_days": s.shelf_life_days,
                "batch_managed": s.batch_managed,
                "cold_chain_min_c": s.cold_chain_min_c,
                "cold_chain_max_c": s.cold_chain_max_c,
                "reorder_point": s.reorder_point,
                "negative_stock": s.negative_stock.value,
                "standard_cost": s.standard_cost,
                "vat_rate": s.vat_rate,
                "wholesale_price": s.wholesale_price,
                "valuation_method": s.valuation_method.value if s.valuation_method else None,
                "kind": s.kind.value,
            }
            for s in catalog.skus.values()
        ],
        "locations": [loc.model_dump(mode="json") for loc in catalog.locations.values()],
        "suppliers": [
            s.model_dump(mode="json", include={"supplier", "name", "lead_time_days"})
            for s in catalog.suppliers.values()
        ],
        # personal data (phone, identity number): the dashboards mask it by role
        "customers": [
            c.model_dump(mode="json", include={"customer", "name", "phone", "id_number"})
            for c in catalog.customers.values()
        ],
        "recipes": recipe_rows(catalog),
    }


#: `component_base_qty` is kept to six places (a cost or rate per base unit is too).
_BASE_QTY_QUANTUM = Decimal("0.000001")


def recipe_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per recipe version × component, with what one round takes from stock (NULL for
    a component master data cannot convert)."""
    rows = []
    for recipe in sorted(catalog.recipes.values(), key=lambda r: r.key):
        for index, component in enumerate(recipe.components):
            try:
                base = component_base_qty(catalog, recipe, index)
                base_qty: Decimal | None = (Decimal(base.numerator) / Decimal(base.denominator)).quantize(
                    _BASE_QTY_QUANTUM
                )
            except RecipeError:
                base_qty = None
            rows.append(
                {
                    "product": recipe.product,
                    "store": recipe.store,
                    "effective_from": recipe.effective_from,
                    "recipe_name": recipe.name,
                    "yield_qty": recipe.yield_qty,
                    "component": component.sku,
                    "qty": component.qty,
                    "unit": component.unit,
                    "loss_rate": component.loss_rate,
                    "component_base_qty": base_qty,
                }
            )
    return rows


#: The most of a dead letter's payload its topic message carries (the lake keeps it whole).
DEAD_LETTER_TOPIC_PAYLOAD = 64 * 1024


def dead_letter_records(
    topic: str,
    partition: int,
    offset: int,
    key: str,
    raw: bytes,
    reason: str,
    detail: str,
    event_id: str,
    refused_by_ledger: bool,
    rejected_at: datetime,
    apply_seq: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A rejected message as its lake row (the whole payload) and as its topic message (JSON-ready,
    the payload cut at `DEAD_LETTER_TOPIC_PAYLOAD` and said so)."""
    record: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key,
        "event_id": event_id,
        "reason": reason,
        "detail": detail,
        "payload": raw.decode("utf-8", errors="replace"),
        "rejected_at": rejected_at.isoformat(),
        "refused_by_ledger": refused_by_ledger,
    }
    row = {**record, "payload": raw, "rejected_at": rejected_at, "apply_seq": apply_seq}
    if len(raw) > DEAD_LETTER_TOPIC_PAYLOAD:
        record = {
            **record,
            "payload": record["payload"][:DEAD_LETTER_TOPIC_PAYLOAD],
            "payload_truncated": True,
            "payload_bytes": len(raw),
        }
    return row, record
