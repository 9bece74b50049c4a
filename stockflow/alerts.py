"""Alerts raised by the stock stream: low stock, near expiry, negative stock, cold-chain
excursions, dishes sold out for a channel.

Each alert has a deterministic id derived from what triggered it, so re-processing the same
event raises the same alert id (consumers can deduplicate)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from stockflow.i18n import Message


class AlertType(StrEnum):
    LOW_STOCK = "low_stock"
    NEAR_EXPIRY = "near_expiry"
    NEGATIVE_STOCK = "negative_stock"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    QUARANTINE = "quarantine"
    DATA_QUALITY = "data_quality"
    #: The reconciliation found the live state drifted from the ledger (and corrected it).
    STOCK_DRIFT = "stock_drift"
    #: A late event from an edge agent collided with the central books (`stockflow.conflicts`).
    CONFLICT = "conflict"
    #: An MQTT device sent nothing for longer than its interval (info: it is back).
    DEVICE_SILENT = "device_silent"
    #: The platform itself needs a person: the lake cannot be written, a file was moved aside.
    SYSTEM = "system"
    #: A dish sold out for a sales channel at a store (沽清), or back on its menu (info).
    SOLD_OUT = "sold_out"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: str
    alert_type: AlertType
    severity: Severity
    occurred_at: AwareDatetime
    location: str
    sku: str = ""
    batch: str = ""
    message: str
    details: dict[str, Any] = {}

    @staticmethod
    def make_id(alert_type: AlertType, *parts: object) -> str:
        digest = hashlib.sha256("|".join([alert_type.value, *map(str, parts)]).encode()).hexdigest()
        return f"{alert_type.value}:{digest[:24]}"


def alert(
    alert_type: AlertType,
    severity: Severity,
    occurred_at: datetime,
    location: str,
    message: Message,
    *,
    id_parts: tuple[object, ...],
    sku: str = "",
    batch: str = "",
    **details: Any,
) -> Alert:
    """An alert whose message is kept as its key and fields too (`message_key`,
    `message_fields` in its details), so pages and robots show it in their reader's language;
    `message` is the English text."""
    details = {**details, "message_key": message.key, "message_fields": message.fields}
    return Alert(
        alert_id=Alert.make_id(alert_type, *id_parts),
        alert_type=alert_type,
        severity=severity,
        occurred_at=occurred_at,
        location=location,
        sku=sku,
        batch=batch,
        message=message.english,
        details=details,
    )
