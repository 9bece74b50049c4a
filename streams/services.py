"""The no-stock edition's worker: service orders, fulfilment and consumption from the
``service_events`` topic, booked by the core (`stockflow.service_orders`), landed in the lake
with each delivery's revenue voucher, acknowledged after landing. A message the core refuses is
dead-lettered with its reason. Its HTTP API: ``POST /service-events``, ``GET /health``,
``POST /drain``.

Only this module is discovered when the edition is no_stock (`streams.app`): the stock agents,
their topics and their views are never loaded."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from faust import web

from lake import LakeWriter, now_utc
from lake.rows import dead_letter_records
from lake.tables import SERVICE_CONSUMPTIONS, SERVICE_FULFILMENTS, SERVICE_ORDER_LINES, SERVICE_VOUCHER_LINES
from stockflow.config import get_settings
from stockflow.events import (
    ConsumptionRecorded,
    EventRejected,
    OutputTopic,
    ServiceDelivered,
    ServiceOrderPlaced,
    check_event_time,
    encode_event,
    parse_service_event,
)
from stockflow.identity import Action
from stockflow.service_orders import ServiceBook, ServiceRejected, revenue_voucher
from stockflow.vouchers import AccountingPolicy
from stores.services import ServiceItemsFile, ServiceRecords
from streams import topics
from streams.app import app, guard, note_taken
from streams.security import BadRequest, read_json, require

log = logging.getLogger(__name__)
settings = get_settings()
EVENT_TIME_AHEAD = timedelta(hours=settings.event_time_max_ahead_hours)
#: The most events one POST may carry.
MAX_EVENTS_PER_REQUEST = 1000


class ServiceState:
    """This worker's book, its lake buffer and the events to ack once landed."""

    def __init__(self) -> None:
        self.items_file = ServiceItemsFile(settings.var_dir)
        self.items_seen_at: float | None = None
        self.book = ServiceBook(items={})
        self.policy = AccountingPolicy.load(settings.accounting_policy_file)
        self.lake = LakeWriter(settings.lake_dir, f"{settings.app_id}-services-{settings.web_port}")
        self.lake.remove_leftovers()
        self.pending_acks: list[Any] = []
        self.stream: Any = None
        self.counters: Counter[str] = Counter()
        self.ready = False
        self.draining = False
        self.flush_lock = asyncio.Lock()

    def refresh_items(self) -> None:
        """Take in the service items when their file changed (`stockflow services items add`)."""
        seen_at = self.items_file.mtime()
        if seen_at != self.items_seen_at:
            self.book.items = self.items_file.load()
            self.items_seen_at = seen_at

    def restore(self) -> None:
        """Book again what the lake holds (orders, deliveries, event ids), so a restarted worker
        refuses a delivery beyond an order and recognises a redelivered event."""
        records = ServiceRecords(settings.lake_dir)
        lines, delivered, seen = records.restore()
        self.book = ServiceBook(self.book.items)  # the lake holds everything: the revoke flushed it
        self.book.restore(lines, delivered)
        self.book.seen |= seen
        self.lake.advance_past(records.last_apply_seq())


state = ServiceState()


def order_line_rows(event: ServiceOrderPlaced, lines: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": event.event_id,
            "occurred_at": event.occurred_at,
            "customer": line.customer,
            "service_order": line.service_order,
            "line": line.line,
            "item": line.item,
            "item_name": line.item_name,
            "unit": line.unit,
            "qty": line.qty,
            "unit_price": line.unit_price,
            "vat_rate": line.vat_rate,
            "net": line.net,
            "apply_seq": state.lake.next_seq(),
        }
        for line in lines
    ]


def book(event: Any) -> list[tuple[str, dict[str, Any]]]:
    """The lake rows of one event the book takes (raises `ServiceRejected` when it refuses)."""
    if isinstance(event, ServiceOrderPlaced):
        return [
            (SERVICE_ORDER_LINES.name, row) for row in order_line_rows(event, state.book.place_order(event))
        ]
    if isinstance(event, ServiceDelivered):
        done = state.book.deliver(event)
        try:
            voucher = revenue_voucher(done, state.policy.local_date(done.occurred_at), state.policy)
        except Exception:  # not booked: the event is dead-lettered
            state.book.undo(done)
            raise
        line = done.order_line
        rows = [
            (
                SERVICE_FULFILMENTS.name,
                {
                    "event_id": done.event_id,
                    "occurred_at": done.occurred_at,
                    "customer": line.customer,
                    "service_order": line.service_order,
                    "line": line.line,
                    "item": line.item,
                    "unit": line.unit,
                    "qty": done.qty,
                    "beyond_order": done.beyond_order,
                    "delivered_by": done.delivered_by,
                    "net": done.net,
                    "vat": done.vat,
                    "gross": done.gross,
                    "voucher_id": voucher.voucher_id,
                    "apply_seq": state.lake.next_seq(),
                },
            )
        ]
        seq = state.lake.next_seq()
        rows += [
            (
                SERVICE_VOUCHER_LINES.name,
                {
                    "voucher_id": voucher.voucher_id,
                    "voucher_date": voucher.voucher_date,
                    "occurred_at": voucher.occurred_at,
                    "source_event_id": voucher.source_event_id,
                    "line_no": number,
                    "account_code": vl.account_code,
                    "account_name": vl.account_name,
                    "debit": vl.debit,
                    "credit": vl.credit,
                    "summary": vl.summary,
                    "customer": vl.customer,
                    "item": vl.sku,
                    "apply_seq": seq,
                },
            )
            for number, vl in enumerate(voucher.lines, start=1)
        ]
        if done.beyond_order:
            state.counters["beyond_order"] += 1
        return rows
    if isinstance(event, ConsumptionRecorded):
        used = state.book.record_consumption(event)
        return [
            (
                SERVICE_CONSUMPTIONS.name,
                {
                    "event_id": used.event_id,
                    "occurred_at": used.occurred_at,
                    "customer": used.customer,
                    "service_order": used.service_order,
                    "material": used.material,
                    "qty": used.qty,
                    "unit": used.unit,
                    "cost": used.cost,
                    "apply_seq": state.lake.next_seq(),
                },
            )
        ]
    raise ServiceRejected("unknown_event", f"{type(event).__name__} is not a service event")


async def dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: str,
    raw: bytes,
    reason: str,
    detail: str,
    event_id: str = "",
) -> None:
    """Land and publish a message the worker cannot book, with its reason (a publication that
    fails is logged: the lake has the record)."""
    row, record = dead_letter_records(
        topic, partition, offset, key, raw, reason, detail, event_id, bool(event_id), now_utc(),
        state.lake.next_seq(),
    )  # fmt: skip
    state.lake.append(OutputTopic.DEAD_LETTERS.value, row)
    state.counters["dead_lettered"] += 1
    try:
        await app.producer.send(
            OutputTopic.DEAD_LETTERS.value,
            key.encode(),
            json.dumps(record, ensure_ascii=False).encode(),
            None,
            None,
            None,
        )
    except Exception:
        log.exception("dead letter %s/%d@%d landed but not published", topic, partition, offset)
        state.counters["dead_letters_not_published"] += 1


async def process_service_message(topic: str, partition: int, offset: int, key: Any, raw: Any) -> None:
    """Decode, book, buffer the rows; a refusal becomes a dead letter."""
    state.counters["in"] += 1
    raw = raw if isinstance(raw, bytes) else (raw or b"")
    key_text = key.decode(errors="replace") if isinstance(key, bytes) else str(key or "")
    try:
        event = parse_service_event(raw)
    except EventRejected as exc:
        await dead_letter(topic, partition, offset, key_text, raw, exc.reason, exc.detail)
        return
    if state.book.is_duplicate(event.event_id):
        state.counters["duplicates"] += 1
        return
    try:
        state.refresh_items()
    except Exception:  # the items as last read stand
        log.exception("service items could not be read again")
    try:
        rows = book(event)
    except ServiceRejected as exc:
        await dead_letter(topic, partition, offset, key_text, raw, exc.reason, exc.detail, event.event_id)
        return
    except Exception as exc:  # one event that makes the booking raise never stops the worker
        log.exception("service event %s could not be booked", event.event_id)
        await dead_letter(
            topic,
            partition,
            offset,
            key_text,
            raw,
            "internal_error",
            f"{type(exc).__name__}: {exc}",
            event.event_id,
        )
        return
    for table, row in rows:
        state.lake.append(table, row)
    state.counters["booked"] += 1


@app.agent(topics.service_inputs, name="apply_service_events")
async def apply_service_events(stream: Any) -> None:
    """Book every service order, delivery and consumption of this worker's partitions."""
    state.stream = stream
    async for batch in stream.noack_take(settings.batch_max_events, within=settings.batch_window_seconds):
        for event in batch:
            msg = event.message
            if msg.generation_id != app.consumer_generation_id:  # read before a rebalance
                continue
            await note_taken(msg)
            await process_service_message(msg.topic, msg.partition, msg.offset, event.key, event.value)
            state.pending_acks.append(event)


async def flush_lake() -> None:
    """Publish what was derived, land the buffered rows, then ack their events."""
    async with state.flush_lock:
        if not state.lake.pending and not state.pending_acks:
            return
        acks, state.pending_acks = state.pending_acks, []
        rows = state.lake.take()
        try:
            await app.producer.flush()
            await asyncio.to_thread(state.lake.write, rows)
        except Exception:  # nothing acked, every row kept: written again on the next tick
            state.lake.put_back(rows)
            state.pending_acks[:0] = acks
            raise
        generation = app.consumer_generation_id
        for event in acks:
            if event.message.generation_id == generation:
                await state.stream.ack(event)


@app.timer(interval=settings.lake_flush_seconds, name="flush_service_lake")
async def flush_lake_timer() -> None:
    try:
        await flush_lake()
    except Exception:
        log.exception("service lake flush failed; retried on the next tick")


@app.on_partitions_revoked.connect
async def on_partitions_revoked(app: Any, revoked: set[Any], **kwargs: Any) -> None:
    state.ready = False
    await flush_lake()


@app.on_partitions_assigned.connect
async def on_partitions_assigned(app: Any, assigned: set[Any], **kwargs: Any) -> None:
    await asyncio.to_thread(state.restore)
    state.refresh_items()
    state.ready = True


@app.page("/health")
async def health(view: web.View, request: web.Request) -> web.Response:
    """Readiness, counters and lake progress (open to all)."""
    return view.json(
        {
            "status": "ok",
            "edition": settings.edition.value,
            "ready": state.ready,
            "pending_acks": len(state.pending_acks),
            "lake_pending_rows": state.lake.pending,
            "lake_rows_written": state.lake.rows_written,
            "counters": dict(state.counters),
            "requests_refused": guard.refused,
        }
    )


@app.page("/drain")
class Drain(web.View):
    """``POST /drain`` (services only): take no more events over HTTP before a shutdown."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            require(request, Action.DRAIN)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        state.draining = True
        return self.json({"draining": True})


@app.page("/service-events")
class ServiceEvents(web.View):
    """``POST /service-events``: one service event or a list, validated by the core schemas,
    produced keyed by customer; 202 once the broker has them all."""

    async def post(self, request: web.Request) -> web.Response:
        if state.draining:
            return self.json({"error": "draining", "detail": "this worker is shutting down"}, status=503)
        try:
            body = await read_json(request, settings.events_max_body_kb * 1024, settings.json_max_depth)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        items = body if isinstance(body, list) else [body]
        if len(items) > MAX_EVENTS_PER_REQUEST:
            return self.json({"error": "too_many", "detail": f"at most {MAX_EVENTS_PER_REQUEST}"}, status=413)
        now = now_utc()
        parsed, errors = [], []
        for i, item in enumerate(items):
            try:
                event = parse_service_event(item)
                check_event_time(event, now, settings.event_time_earliest, EVENT_TIME_AHEAD)
                require(request, Action.POST_EVENT, event.customer, event.event_type)
            except EventRejected as exc:
                errors.append({"index": i, "error": exc.reason, "detail": exc.detail})
                continue
            except BadRequest as exc:
                return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
            parsed.append(event)
        if errors:
            return self.json({"error": "invalid_events", "events": errors}, status=400)
        for event in parsed:
            await app.producer.send(
                topics.service_inputs.get_topic_name(),
                event.customer.encode(),
                encode_event(event),
                None,
                None,
                None,
            )
        await app.producer.flush()
        return self.json({"accepted": len(parsed)}, status=202)
