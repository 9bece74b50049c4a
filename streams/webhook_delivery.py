"""Delivering webhooks: a queue and a sender per subscriber, so that a slow or failing
receiver holds up only its own deliveries.

* `Dispatcher` gives each subscriber a bounded `asyncio.Queue` and one task that sends what
  is in it, in order: one signed POST per attempt through the worker's aiohttp session
  (redirects not followed), retried after the core's backoff with ``await asyncio.sleep``,
  paced so that a robot gets no more than its messages a minute. Nothing waits in a thread
  and nothing blocks the event loop; `submit` never waits: a delivery that finds its
  subscriber's queue full goes straight to the dead-letter store with that reason.
* After the last attempt, or an answer no retry can fix (the core's `judge_answer`), the
  delivery goes to the dead-letter store (`var/webhooks/dead_letters.jsonl`), written from a
  one-thread executor of the dispatcher's own; `stockflow webhooks dead-letters` shows it and
  `stockflow webhooks replay` sends it again, through the same `post_once`.

Signing, formats, the answer's meaning, the retry schedule and the send window are the core's
(`stockflow.webhooks`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from infra.jsonl import append_durably, exclusive
from stockflow.config import Settings
from stockflow.i18n import Translator
from stockflow.webhooks import (
    SendWindow,
    Subscriber,
    Verdict,
    judge_answer,
    payload,
    request_url,
    signed_headers,
    subscribers_from_json,
)

log = logging.getLogger(__name__)

ANSWER_READ_LIMIT = 64 * 1024  # a robot's answer is a few dozen bytes; read no more than this

Clock = Callable[[], float]
DeliveryDone = Callable[[bool], Awaitable[None]]


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
    def build(
        cls,
        subscriber: Subscriber,
        event_type: str,
        key: str,
        data: dict[str, Any],
        t: Translator | None = None,
    ) -> Delivery:
        return cls(
            f"{subscriber.name}:{event_type}:{key}",
            subscriber.name,
            event_type,
            payload(subscriber.format, event_type, data, t),
        )


async def post_once(session: aiohttp.ClientSession, subscriber: Subscriber, delivery: Delivery) -> Verdict:
    """One signed POST (signed afresh, DingTalk's 加签 too); what the answer means."""
    now = time.time()
    headers = signed_headers(subscriber, delivery.delivery_id, delivery.event_type, delivery.body, int(now))
    # encoded=True: the URL goes out exactly as the core wrote it (the sign's %2B stays %2B)
    url = URL(request_url(subscriber, int(now * 1000)), encoded=True)
    try:
        async with session.post(
            url,
            data=delivery.body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=subscriber.timeout_seconds),
        ) as response:
            body = await _read_capped(response.content, ANSWER_READ_LIMIT)
            return judge_answer(subscriber.format, response.status, body, response.headers.get("Location"))
    except TimeoutError:
        return Verdict.failed(f"no answer within {subscriber.timeout_seconds:g} s")
    except aiohttp.ClientError as exc:
        return Verdict.failed(f"{type(exc).__name__}: {exc}")


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def wait_for_window(window: SendWindow | None, clock: Clock = time.monotonic) -> None:
    """Wait (asynchronously) until the send window lets one more message go, and claim it."""
    if window is None:
        return
    while (wait := window.take(clock())) > 0:
        await asyncio.sleep(wait)


class Dispatcher:
    """A bounded queue and a sending task per subscriber (started on first use, in the running
    loop). `done(delivered)` is awaited once per submitted delivery, when it was delivered or
    dead-lettered."""

    def __init__(
        self,
        subscribers: Iterable[Subscriber],
        dead_letters: DeadLetters,
        session: aiohttp.ClientSession,
        robots_per_minute: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self.subscribers = {s.name: s for s in subscribers}
        self.dead_letters = dead_letters
        self.session = session
        self.clock = clock
        self.windows = {
            s.name: SendWindow(limit) if (limit := s.rate_limit(robots_per_minute)) else None
            for s in self.subscribers.values()
        }
        self.queues: dict[str, asyncio.Queue[tuple[Delivery, DeliveryDone | None]]] = {}
        self._senders: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-dead-letters")

    def _start(self) -> None:
        for subscriber in self.subscribers.values():
            queue: asyncio.Queue[tuple[Delivery, DeliveryDone | None]] = asyncio.Queue(subscriber.queue_size)
            self.queues[subscriber.name] = queue
            self._senders.append(
                asyncio.create_task(self._send_from(subscriber, queue), name=f"webhooks:{subscriber.name}")
            )

    def submit(self, delivery: Delivery, done: DeliveryDone | None = None) -> bool:
        """Queue a delivery for its subscriber without waiting; False when the queue was full
        (then it is dead-lettered, and `done(False)` follows)."""
        if not self.queues:
            self._start()
        queue = self.queues[delivery.subscriber]
        try:
            queue.put_nowait((delivery, done))
            return True
        except asyncio.QueueFull:
            reason = f"queue full: {queue.maxsize} deliveries waiting for {delivery.subscriber}"
            log.warning("webhook %s not queued: %s", delivery.delivery_id, reason)
            task = asyncio.create_task(self._dead_letter(delivery, 0, reason, done))
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)
            return False

    def waiting(self) -> dict[str, int]:
        """Deliveries queued per subscriber (not counting the one being sent)."""
        return {name: queue.qsize() for name, queue in self.queues.items()}

    async def _send_from(self, subscriber: Subscriber, queue: asyncio.Queue) -> None:
        while True:
            delivery, done = await queue.get()
            try:
                delivered = await self.deliver(subscriber, delivery)
            except Exception as exc:  # whatever went wrong, this subscriber's queue goes on
                log.exception("webhook %s: delivery failed unexpectedly", delivery.delivery_id)
                delivered = False
                try:
                    await self._write_dead_letter(delivery, 0, f"{type(exc).__name__}: {exc}")
                except Exception:
                    log.exception("webhook %s: not even dead-lettered", delivery.delivery_id)
            finally:
                queue.task_done()
            await _call(done, delivered)

    async def deliver(self, subscriber: Subscriber, delivery: Delivery) -> bool:
        """Try until delivered, out of attempts or finally refused (then dead-lettered)."""
        attempt = 0
        while True:
            attempt += 1
            await wait_for_window(self.windows[subscriber.name], self.clock)
            verdict = await post_once(self.session, subscriber, delivery)
            if verdict.delivered:
                return True
            delay = None if verdict.final else subscriber.retry.delay_after(attempt)
            log.warning("webhook %s attempt %d failed: %s", delivery.delivery_id, attempt, verdict.reason)
            if delay is None:
                await self._write_dead_letter(delivery, attempt, verdict.reason)
                return False
            await asyncio.sleep(delay)

    async def _dead_letter(
        self, delivery: Delivery, attempts: int, reason: str, done: DeliveryDone | None
    ) -> None:
        await self._write_dead_letter(delivery, attempts, reason)
        await _call(done, False)

    async def _write_dead_letter(self, delivery: Delivery, attempts: int, reason: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self.dead_letters.add, delivery, attempts, reason)

    async def close(self) -> None:
        """Stop sending; what is still queued is dropped (never acknowledged, so a restarted
        worker reads those events again)."""
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, *self._side_tasks, return_exceptions=True)
        self._senders.clear()
        self._writer.shutdown(wait=False)


async def _call(done: DeliveryDone | None, delivered: bool) -> None:
    if done is None:
        return
    try:
        await done(delivered)
    except Exception:
        log.exception("webhook outcome callback failed")


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
        self, subscribers: list[Subscriber], delivery_id: str | None = None, robots_per_minute: int = 20
    ) -> dict[str, str]:
        """Send pending deliveries again, once each (all, or one): delivery id → "delivered" or
        the error. A delivered one is marked replayed; a failed one stays pending. A robot is
        sent no more than `robots_per_minute` a minute (the replay waits)."""
        return asyncio.run(self.replay_async(subscribers, delivery_id, robots_per_minute))

    async def replay_async(
        self, subscribers: list[Subscriber], delivery_id: str | None = None, robots_per_minute: int = 20
    ) -> dict[str, str]:
        by_name = {s.name: s for s in subscribers}
        windows = {
            s.name: SendWindow(limit) if (limit := s.rate_limit(robots_per_minute)) else None
            for s in subscribers
        }
        outcome: dict[str, str] = {}
        async with aiohttp.ClientSession() as session:
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
                await wait_for_window(windows[subscriber.name])
                verdict = await post_once(session, subscriber, delivery)
                if verdict.delivered:
                    self._append(
                        {
                            "status": "replayed",
                            "delivery_id": delivery.delivery_id,
                            "at": datetime.now(UTC).isoformat(),
                        }
                    )
                    outcome[delivery.delivery_id] = "delivered"
                else:
                    outcome[delivery.delivery_id] = verdict.reason
        if delivery_id and delivery_id not in outcome:
            outcome[delivery_id] = "no such pending delivery"
        return outcome
