"""Delivering webhooks: one signed POST per subscriber and event, retried with exponential
backoff; after the last attempt the delivery goes to the dead-letter store
(`var/webhooks/dead_letters.jsonl`), where `stockflow webhooks dead-letters` shows it and
`stockflow webhooks replay` sends it again. Signing, formats and the retry schedule are the
core's (`stockflow.webhooks`)."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.jsonl import append_durably, exclusive
from stockflow.config import Settings
from stockflow.webhooks import Subscriber, payload, signed_headers, subscribers_from_json

log = logging.getLogger(__name__)


def load_subscribers(settings: Settings) -> list[Subscriber]:
    path = settings.webhooks_path
    if not path.exists():
        return []
    try:
        return subscribers_from_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Delivery:
    """One event for one subscriber; `delivery_id` is stable, so receivers can deduplicate."""

    delivery_id: str
    subscriber: str
    event_type: str
    body: bytes

    @classmethod
    def build(cls, subscriber: Subscriber, event_type: str, key: str, data: dict[str, Any]) -> Delivery:
        return cls(
            f"{subscriber.name}:{event_type}:{key}",
            subscriber.name,
            event_type,
            payload(subscriber.format, event_type, data),
        )


def post_once(subscriber: Subscriber, delivery: Delivery, timeout: float = 10.0) -> str | None:
    """One signed POST; None when the receiver answered 2xx, else why not."""
    headers = signed_headers(
        subscriber, delivery.delivery_id, delivery.event_type, delivery.body, int(time.time())
    )
    request = urllib.request.Request(str(subscriber.url), data=delivery.body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 — configured URLs
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def deliver(
    subscriber: Subscriber,
    delivery: Delivery,
    store: DeadLetters,
    post: Callable[[Subscriber, Delivery], str | None] = post_once,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Try until delivered or out of attempts (then dead-lettered); True when delivered."""
    attempt, error = 0, None
    while True:
        attempt += 1
        error = post(subscriber, delivery)
        if error is None:
            return True
        delay = subscriber.retry.delay_after(attempt)
        log.warning("webhook %s attempt %d failed: %s", delivery.delivery_id, attempt, error)
        if delay is None:
            store.add(delivery, attempt, error)
            return False
        sleep(delay)


class DeadLetters:
    """Deliveries that failed every attempt, and the record of their replays (append-only)."""

    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / "webhooks" / "dead_letters.jsonl"

    def _append(self, record: dict[str, Any]) -> None:
        with exclusive(self.path):
            append_durably(self.path, json.dumps(record, ensure_ascii=False))

    def add(self, delivery: Delivery, attempts: int, error: str) -> None:
        self._append(
            {
                "status": "dead",
                "delivery_id": delivery.delivery_id,
                "subscriber": delivery.subscriber,
                "event_type": delivery.event_type,
                "body": delivery.body.decode(),
                "attempts": attempts,
                "error": error,
                "at": datetime.now(UTC).isoformat(),
            }
        )

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def pending(self) -> list[dict[str, Any]]:
        """Dead deliveries not replayed successfully since they died (the latest record wins)."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.records():
            latest[record["delivery_id"]] = (
                record if record["status"] == "dead" else {**latest.get(record["delivery_id"], {}), **record}
            )
        return [r for r in latest.values() if r["status"] == "dead"]

    def replay(
        self,
        subscribers: list[Subscriber],
        delivery_id: str | None = None,
        post: Callable[[Subscriber, Delivery], str | None] = post_once,
    ) -> dict[str, str]:
        """Send pending deliveries again, once each (all, or one): delivery id → "delivered" or
        the error. A delivered one is marked replayed; a failed one stays pending."""
        by_name = {s.name: s for s in subscribers}
        outcome: dict[str, str] = {}
        for record in self.pending():
            if delivery_id and record["delivery_id"] != delivery_id:
                continue
            subscriber = by_name.get(record["subscriber"])
            if subscriber is None:
                outcome[record["delivery_id"]] = f"no subscriber {record['subscriber']!r} configured"
                continue
            delivery = Delivery(
                record["delivery_id"], record["subscriber"], record["event_type"], record["body"].encode()
            )
            error = post(subscriber, delivery)
            if error is None:
                self._append(
                    {
                        "status": "replayed",
                        "delivery_id": delivery.delivery_id,
                        "at": datetime.now(UTC).isoformat(),
                    }
                )
                outcome[delivery.delivery_id] = "delivered"
            else:
                outcome[delivery.delivery_id] = error
        if delivery_id and delivery_id not in outcome:
            outcome[delivery_id] = "no such pending delivery"
        return outcome
