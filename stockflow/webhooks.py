"""Webhooks: who is told about what, how a delivery is signed, and when it is tried again.

* **Subscribers** name a URL, the event types they want (`inventory_changed`, `alerts`, or an
  alert type such as `alerts.temperature_excursion`), a secret, and a payload format:
  plain JSON, or a ready-made message for a WeCom (企业微信) or DingTalk group robot.
* **Signature**: HMAC-SHA256 with the subscriber's secret over ``<timestamp>.<body>``, sent as
  ``X-Stockflow-Signature: sha256=<hex>`` with ``X-Stockflow-Timestamp`` (Unix seconds). A
  receiver recomputes it and refuses a timestamp outside its replay window (5 minutes by
  default), so a captured request cannot be replayed later (`verify_signature`).
* **Retries**: a failed delivery is tried again after 1, 2, 4, 8 … seconds (capped), up to
  `max_attempts` in all; after the last one it goes to the dead-letter store, from where it
  can be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

SIGNATURE_HEADER = "X-Stockflow-Signature"
TIMESTAMP_HEADER = "X-Stockflow-Timestamp"
DELIVERY_HEADER = "X-Stockflow-Delivery"
EVENT_HEADER = "X-Stockflow-Event"
REPLAY_WINDOW_SECONDS = 300


class PayloadFormat(StrEnum):
    JSON = "json"
    WECOM = "wecom"
    DINGTALK = "dingtalk"


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=5, ge=1, le=20)
    base_seconds: float = Field(default=1.0, gt=0)
    max_delay_seconds: float = Field(default=60.0, gt=0)

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based); None: give up."""
        if attempt >= self.max_attempts:
            return None
        return min(self.base_seconds * 2 ** (attempt - 1), self.max_delay_seconds)


class Subscriber(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    url: HttpUrl
    events: frozenset[str] = Field(min_length=1, description="inventory_changed, alerts, alerts.<type>")
    secret: str = Field(min_length=16, description="shared with the receiver; signs every delivery")
    format: PayloadFormat = PayloadFormat.JSON
    retry: RetryPolicy = RetryPolicy()

    def wants(self, event_type: str, alert_type: str | None = None) -> bool:
        return event_type in self.events or (
            alert_type is not None and f"{event_type}.{alert_type}" in self.events
        )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(
    subscriber: Subscriber, delivery_id: str, event_type: str, body: bytes, now: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(now),
        SIGNATURE_HEADER: sign(subscriber.secret, now, body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event_type,
    }


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, now: int, window: int = REPLAY_WINDOW_SECONDS
) -> str | None:
    """None if the request is authentic and fresh; otherwise why it is refused."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lowered.get(TIMESTAMP_HEADER.lower()), lowered.get(SIGNATURE_HEADER.lower())
    if not timestamp or not signature:
        return "unsigned"
    try:
        sent = int(timestamp)
    except ValueError:
        return "bad timestamp"
    if abs(now - sent) > window:
        return "outside the replay window"
    if not hmac.compare_digest(sign(secret, sent, body), signature):
        return "bad signature"
    return None


def payload(fmt: PayloadFormat, event_type: str, data: Mapping[str, Any]) -> bytes:
    """The body for one event in the subscriber's format."""
    if fmt is PayloadFormat.JSON:
        return _json({"event_type": event_type, "data": dict(data)})
    title, lines = _summary(event_type, data)
    if fmt is PayloadFormat.WECOM:
        return _json({"msgtype": "markdown", "markdown": {"content": "\n".join([f"**{title}**", *lines])}})
    return _json(
        {"msgtype": "markdown", "markdown": {"title": title, "text": "\n\n".join([f"#### {title}", *lines])}}
    )


def _summary(event_type: str, data: Mapping[str, Any]) -> tuple[str, list[str]]:
    if event_type == "alerts":
        severity = str(data.get("severity", "")).upper()
        title = f"[{severity}] {data.get('alert_type', 'alert')} at {data.get('location', '-')}"
        return title, [str(data.get("message", "")), f"> {data.get('occurred_at', '')}"]
    changes = list(data.get("changes") or [])
    title = f"Stock changed at {data.get('location', '-')} ({data.get('event_type', '')})"
    lines = [
        f"{c.get('sku')} batch {c.get('batch') or '-'}: on hand {_signed((c.get('delta') or {}).get('on_hand'))}"
        f" → {(c.get('position') or {}).get('on_hand', '-')}"
        for c in changes[:5]
    ]
    if len(changes) > 5:
        lines.append(f"… and {len(changes) - 5} more")
    return title, [*lines, f"> {data.get('occurred_at', '')}"]


def subscribers_from_json(text: str) -> list[Subscriber]:
    """A JSON list of subscribers (the webhooks file); names must be unique."""
    found = [Subscriber.model_validate(item) for item in json.loads(text)]
    names = [s.name for s in found]
    if len(names) != len(set(names)):
        raise ValueError(f"subscriber names repeat: {sorted(n for n in names if names.count(n) > 1)}")
    return found


def _signed(value: Any) -> str:
    try:
        return f"{int(value):+d}"
    except (TypeError, ValueError):
        return "-"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()
