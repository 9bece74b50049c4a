"""The edge agent (`stockflow edge run`): a store box or PDA gateway between its devices and the
workers.

It answers the devices' ``POST /events`` like a worker does (the same schemas, the same
credentials and scopes), but keeps each event in its outbox (`stores.outbox`, on disk before it
answers) and forwards from there, so a till that cannot reach the workers loses nothing. One
loop forwards the outbox in order per source, asks the workers where forwarded events stand
(``POST /events/status``), deletes what is in the record, keeps what the stream refused with
its reason, sends again what a broker or worker lost, and waits longer between tries while the
workers cannot be reached. Every `edge_sync_seconds` it syncs the master data and a snapshot of
its locations' stock, over which it keeps a local stock view (``GET /stock/{location}``) and
offline purchase suggestions (``GET /replenishment/{location}``).

The rules are the core's (`stockflow.edge`); this module translates HTTP and SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from stockflow.config import Settings
from stockflow.delivery import EDGE_HEADER
from stockflow.edge import (
    SALES_DAYS_KEPT,
    LocalStock,
    Outcome,
    Settlement,
    backoff_seconds,
    local_stock,
    offline_plan,
    settle,
    snapshot_rows,
    units_sold,
)
from stockflow.events import (
    EventRejected,
    TransitDispatched,
    check_event_time,
    encode_event,
    fingerprint,
    parse_event,
)
from stockflow.identity import Action
from stockflow.ledger import Position
from stockflow.masterdata import Catalog
from stores.outbox import Outbox, Taken
from streams.security import BadRequest, Guard, read_json, require

log = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 1000
#: Forwarded events asked about per ``POST /events/status``.
STATUS_BATCH = 1000
#: How often forwarded events are asked about while some are on their way.
SETTLE_EVERY = timedelta(seconds=0.25)
#: How soon a sync that could not be made (the workers away, forwarded events on their way) is
#: tried again.
SYNC_RETRY = timedelta(seconds=5)


class CentralUnreachable(Exception):
    """The workers did not take a request (no connection, a timeout, 5xx, or a refusal that is
    not about the events)."""


def _now() -> datetime:
    return datetime.now(UTC)


class EdgeAgent:
    """The agent's state: its outbox, the workers' address, the local stock view."""

    def __init__(self, settings: Settings) -> None:
        if not settings.edge_locations:
            raise ValueError("an edge agent serves at least one location (edge_locations)")
        self.settings = settings
        self.locations = list(dict.fromkeys(settings.edge_locations))
        self.outbox = Outbox(settings.edge_outbox)
        self.guard = Guard(settings.model_copy(update={"web_host": settings.edge_host}))
        self.central = settings.edge_central_url.rstrip("/")
        self.online: bool | None = None
        self.last_sync: datetime | None = None
        self.last_error = ""
        self.counters = {
            "taken": 0,
            "duplicates": 0,
            "forwarded": 0,
            "landed": 0,
            "dead_lettered": 0,
            "resent": 0,
        }
        self.catalog: Catalog | None = None
        self.snapshot_at: datetime | None = None
        self.local: LocalStock | None = None
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._load_synced()

    # ------------------------------------------------------------------ local view
    def _load_synced(self) -> None:
        catalog = self.outbox.synced("catalog")
        if catalog is not None:
            self.catalog = Catalog.model_validate_json(catalog[0])
        snapshot = self.outbox.synced("snapshot")
        if snapshot is not None:
            self.snapshot_at = snapshot[1]
        self._rebuild()

    def _rebuild(self) -> None:
        """The local stock: the last snapshot plus what landed since and the outbox."""
        if self.catalog is None:
            self.local = None
            return
        snapshot = self.outbox.synced("snapshot")
        rows = [r for answer in json.loads(snapshot[0]) for r in snapshot_rows(answer)] if snapshot else []
        events = []
        for body in self.outbox.unsettled_bodies():
            with contextlib.suppress(EventRejected):
                events.append(parse_event(body))
        self.local = local_stock(self.catalog, self.settings.tz, rows, events)

    def _apply_locally(self, events: list[Any]) -> None:
        if self.local is None:
            return
        for event in events:
            pending = [event]
            while pending:
                current = pending.pop(0)
                try:
                    result = self.local.ledger.apply(current)
                except EventRejected as exc:
                    self.local.refused.append((current.event_id, exc.reason))
                    continue
                pending[:0] = result.follow_ups

    # ------------------------------------------------------------------ HTTP
    def web_app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard.middleware()], client_max_size=4 * 1024**2)
        app.router.add_get("/health", self.health)
        app.router.add_post("/events", self.take_events)
        app.router.add_get("/events/{event_id}", self.event_status)
        app.router.add_get("/outbox", self.outbox_view)
        app.router.add_get("/stock/{location}", self.stock_location)
        app.router.add_get("/stock/{location}/{sku}", self.stock_item)
        app.router.add_get("/replenishment/{location}", self.replenishment)
        return app

    async def health(self, request: web.Request) -> web.Response:
        counts = await asyncio.to_thread(self.outbox.counts)
        return web.json_response(
            {
                "edge": self.settings.edge_name,
                "online": bool(self.online),
                "locations": self.locations,
                "outbox": counts,
                "last_sync": self.last_sync.isoformat() if self.last_sync else None,
                "counters": self.counters,
            }
        )

    async def take_events(self, request: web.Request) -> web.Response:
        s = self.settings
        try:
            body = await read_json(request, s.events_max_body_kb * 1024, s.json_max_depth)
        except BadRequest as exc:
            return _error(exc.status, exc.reason, exc.detail)
        items = body if isinstance(body, list) else [body]
        if len(items) > MAX_EVENTS_PER_REQUEST:
            return _error(413, "too_many", f"at most {MAX_EVENTS_PER_REQUEST} events per request")
        now = _now()
        parsed, errors, status = [], [], 400
        for i, item in enumerate(items):
            try:
                event = parse_event(item)
                check_event_time(
                    event, now, s.event_time_earliest, timedelta(hours=s.event_time_max_ahead_hours)
                )
                if isinstance(event, TransitDispatched):
                    raise EventRejected("wrong_topic", "transit_dispatched is derived by the stream")
            except EventRejected as err:
                errors.append({"index": i, "error": err.reason, "detail": err.detail})
                continue
            try:
                require(request, Action.POST_EVENT, event.location_id, event.event_type)
                if event.location_id not in self.locations:
                    raise BadRequest(
                        403, "not_served", f"this agent serves {self.locations}, not {event.location_id!r}"
                    )
            except BadRequest as exc:
                errors.append({"index": i, "error": exc.reason, "detail": exc.detail})
                status = 403
                continue
            parsed.append(event)
        if errors:
            return web.json_response({"accepted": [], "errors": errors}, status=status)
        taken = [
            Taken(e.event_id, e.location_id, e.source, e.source_seq, fingerprint(e), encode_event(e))
            for e in parsed
        ]
        sales = []
        if self.catalog is not None:
            for e in parsed:
                day = e.occurred_at.astimezone(s.tz).date()
                sales.extend((loc, sku, day, units) for loc, sku, units in units_sold(e, self.catalog))
        outcomes = await asyncio.to_thread(self.outbox.take, taken, now, sales)
        if "conflict" in outcomes:
            conflicts = [
                {
                    "index": i,
                    "error": "conflicting_duplicate",
                    "detail": f"event id {parsed[i].event_id!r} was already taken with a different content",
                }
                for i, o in enumerate(outcomes)
                if o == "conflict"
            ]
            return web.json_response({"accepted": [], "errors": conflicts}, status=409)
        new = [e for e, o in zip(parsed, outcomes, strict=True) if o == "taken"]
        self.counters["taken"] += len(new)
        self.counters["duplicates"] += len(parsed) - len(new)
        self._apply_locally(new)
        self._wake.set()
        return web.json_response({"accepted": [e.event_id for e in parsed]}, status=202)

    async def event_status(self, request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(self.outbox.status, request.match_info["event_id"]))

    async def outbox_view(self, request: web.Request) -> web.Response:
        counts = await asyncio.to_thread(self.outbox.counts)
        oldest = await asyncio.to_thread(self.outbox.oldest_waiting)
        refused = await asyncio.to_thread(self.outbox.dead_lettered, 1000)
        return web.json_response(
            {
                "online": bool(self.online),
                "counts": counts,
                "oldest_waiting": oldest.isoformat() if oldest else None,
                "last_sync": self.last_sync.isoformat() if self.last_sync else None,
                "last_error": self.last_error,
                "dead_lettered": refused,
            }
        )

    def _readable(self, request: web.Request, location: str) -> web.Response | None:
        try:
            require(request, Action.READ_STOCK, location)
        except BadRequest as exc:
            return _error(exc.status, exc.reason, exc.detail)
        if location not in self.locations:
            return _error(404, "not_served", f"this agent serves {self.locations}, not {location!r}")
        if self.local is None:
            return _error(
                503, "not_synced", "no master data synced yet: the agent has not reached the workers"
            )
        return None

    def _item(self, location: str, sku: str) -> dict[str, Any]:
        assert self.local is not None
        ledger = self.local.ledger
        batches = ledger.batches_at(location, sku)
        total = Position.total(batches.values())
        return {
            "location": location,
            "sku": sku,
            **total.as_dict(),
            "available": total.unrestricted,
            "batches": [
                {"batch": b, **p.as_dict(), "expiry_date": _iso(ledger.batch_expiry(location, sku, b))}
                for b, p in sorted(batches.items())
            ],
        }

    def _as_of(self) -> dict[str, Any]:
        return {
            "as_of": self.snapshot_at.isoformat() if self.snapshot_at else None,
            "online": bool(self.online),
            "source": "edge",
        }

    async def stock_location(self, request: web.Request) -> web.Response:
        location = request.match_info["location"]
        refused = self._readable(request, location)
        if refused is not None:
            return refused
        assert self.local is not None
        items = [self._item(location, sku) for sku in sorted(self.local.ledger.skus_at(location))]
        return web.json_response({"location": location, "skus": len(items), "items": items, **self._as_of()})

    async def stock_item(self, request: web.Request) -> web.Response:
        location, sku = request.match_info["location"], request.match_info["sku"]
        refused = self._readable(request, location)
        if refused is not None:
            return refused
        return web.json_response({**self._item(location, sku), **self._as_of()})

    async def replenishment(self, request: web.Request) -> web.Response:
        location = request.match_info["location"]
        refused = self._readable(request, location)
        if refused is not None:
            return refused
        assert self.local is not None and self.catalog is not None
        today = _now().astimezone(self.settings.tz).date()
        sales = await asyncio.to_thread(self.outbox.sales, today - timedelta(days=SALES_DAYS_KEPT))
        result = offline_plan(self.catalog, self.local.ledger, [location], sales, today)
        return web.json_response(
            {
                "location": location,
                **self._as_of(),
                "orders": [
                    {
                        "sku": o.sku,
                        "supplier": o.supplier,
                        "quantity": o.quantity,
                        "order_by": o.order_by.isoformat(),
                        "expected_arrival": o.expected_arrival.isoformat(),
                        "inventory_position": o.inventory_position,
                        "reorder_point": o.reorder_point,
                    }
                    for o in result.orders
                    if o.location == location
                ],
            }
        )

    # ------------------------------------------------------------------ forwarding
    def _headers(self) -> dict[str, str]:
        headers = {EDGE_HEADER: self.settings.edge_name, "Content-Type": "application/json"}
        if self.settings.edge_token:
            headers["Authorization"] = f"Bearer {self.settings.edge_token}"
        return headers

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self._session is not None
        data = json.dumps(body).encode() if body is not None else None
        try:
            async with self._session.request(
                method, f"{self.central}{path}", data=data, headers=self._headers()
            ) as response:
                text = await response.read()
                try:
                    answer = json.loads(text) if text else None
                except ValueError:
                    answer = None
                return response.status, answer
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CentralUnreachable(f"{type(exc).__name__}: {exc}") from exc

    async def forward_batch(self) -> int:
        """Forward the next batch; the number of events the workers took."""
        batch = await asyncio.to_thread(self.outbox.next_batch, self.settings.edge_batch_events)
        if not batch:
            return 0
        status, answer = await self._call("POST", "/events", [json.loads(r.body) for r in batch])
        if status == 202:
            await asyncio.to_thread(self.outbox.mark_sent, [r.event_id for r in batch], _now())
            self.counters["forwarded"] += len(batch)
            return len(batch)
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if status in (400, 403, 409) and errors:
            # refused for what the events are: kept with the reason; the rest goes next time
            refused = [
                (batch[e["index"]].event_id, Settlement(Outcome.DEAD_LETTER, e["error"], e.get("detail", "")))
                for e in errors
                if isinstance(e, dict) and isinstance(e.get("index"), int) and 0 <= e["index"] < len(batch)
            ]
            if refused:
                await asyncio.to_thread(self.outbox.mark_sent, [i for i, _ in refused], _now())
                await asyncio.to_thread(self.outbox.settle, refused, _now())
                self.counters["dead_lettered"] += len(refused)
                return 0
        raise CentralUnreachable(f"POST /events answered {status}: {answer}")

    async def settle_sent(self) -> int:
        """Ask the workers about forwarded events; the number still on their way."""
        # the oldest first: the record takes them in the order they were sent
        sent = await asyncio.to_thread(self.outbox.sent, STATUS_BATCH)
        if not sent:
            return 0
        by_location: dict[str, list[Any]] = {}
        for row in sent:
            by_location.setdefault(row.location, []).append(row)
        now = _now()
        resend_after = timedelta(seconds=self.settings.edge_resend_after_seconds)
        settled: list[tuple[str, Settlement]] = []
        for location, rows in by_location.items():
            for i in range(0, len(rows), STATUS_BATCH):
                chunk = rows[i : i + STATUS_BATCH]
                status, answer = await self._call(
                    "POST", f"/events/status?location={location}", [r.event_id for r in chunk]
                )
                if status != 200 or not isinstance(answer, dict):
                    raise CentralUnreachable(f"POST /events/status answered {status}: {answer}")
                for row, found in zip(chunk, answer["statuses"], strict=True):
                    settled.append((row.event_id, settle(found, row.sent_at or now, now, resend_after)))
        counts = await asyncio.to_thread(self.outbox.settle, settled, now)
        self.counters["landed"] += counts[Outcome.DELETE]
        self.counters["dead_lettered"] += counts[Outcome.DEAD_LETTER]
        self.counters["resent"] += counts[Outcome.RESEND]
        return counts[Outcome.KEEP]

    async def sync(self) -> bool:
        """Sync master data and a stock snapshot of the agent's locations, when nothing forwarded
        is on its way (so the snapshot holds exactly what has landed); whether it synced."""
        await self.settle_sent()
        if await asyncio.to_thread(self.outbox.sent, 1):
            return False
        first = self.locations[0]
        status, catalog = await self._call("GET", f"/masterdata?location={first}")
        if status != 200 or not isinstance(catalog, dict):
            raise CentralUnreachable(f"GET /masterdata answered {status}")
        snapshots = []
        for location in self.locations:
            status, answer = await self._call("GET", f"/stock/{location}")
            if status != 200 or not isinstance(answer, dict):
                raise CentralUnreachable(f"GET /stock/{location} answered {status}: {answer}")
            snapshots.append(answer)
        now = _now()
        items = {"catalog": json.dumps(catalog), "snapshot": json.dumps(snapshots)}
        await asyncio.to_thread(self.outbox.save_synced, items, now, True)
        self.catalog = Catalog.model_validate(catalog)
        self.snapshot_at = self.last_sync = now
        self._rebuild()
        await asyncio.to_thread(
            self.outbox.forget,
            now - timedelta(days=7),
            now.astimezone(self.settings.tz).date() - timedelta(days=SALES_DAYS_KEPT),
        )
        return True

    async def forward_forever(self) -> None:
        """Forward, confirm and sync until cancelled; back off while the workers are away."""
        failures = 0
        last_settle = datetime.min.replace(tzinfo=UTC)
        sync_every = timedelta(seconds=self.settings.edge_sync_seconds)
        next_sync = last_settle
        while True:
            try:
                now = _now()
                on_the_way = 0
                if now - last_settle >= SETTLE_EVERY:
                    on_the_way = await self.settle_sent()
                    last_settle = now
                if now >= next_sync:
                    try:
                        synced = await self.sync()
                    except CentralUnreachable as exc:  # forwarding goes on; the sync is tried again soon
                        log.info("edge %s: no sync this time (%s)", self.settings.edge_name, exc)
                        synced = False
                    next_sync = now + (sync_every if synced else min(sync_every, SYNC_RETRY))
                taken = await self.forward_batch()
                if self.online is not True:
                    log.info("edge %s: the workers are reachable", self.settings.edge_name)
                self.online, failures, self.last_error = True, 0, ""
            except Exception as exc:  # unreachable, or an answer it cannot read: never stop forwarding
                failures += 1
                if not isinstance(exc, CentralUnreachable):
                    log.exception("edge %s: forwarding failed; trying again", self.settings.edge_name)
                if self.online is not False:
                    log.warning("edge %s: the workers cannot be reached (%s)", self.settings.edge_name, exc)
                self.online, self.last_error = False, str(exc)
                await self._pause(backoff_seconds(failures, self.settings.edge_backoff_max_seconds))
                continue
            if not taken:
                await self._pause(SETTLE_EVERY.total_seconds() if on_the_way else 1.0)

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def run(self) -> None:
        """Serve the devices and forward until SIGTERM / SIGINT."""
        timeout = aiohttp.ClientTimeout(total=self.settings.edge_request_timeout_seconds)
        self._session = aiohttp.ClientSession(timeout=timeout)
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.edge_host, self.settings.edge_port)
        await site.start()
        log.info(
            "edge %s serving %s on http://%s:%s, forwarding to %s",
            self.settings.edge_name,
            ", ".join(self.locations),
            self.settings.edge_host,
            self.settings.edge_port,
            self.central,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        forwarder = asyncio.create_task(self.forward_forever())
        try:
            await stop.wait()
        finally:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarder
            await runner.cleanup()
            await self._session.close()
            self.outbox.close()


def _error(status: int, reason: str, detail: str) -> web.Response:
    return web.json_response({"error": reason, "detail": detail}, status=status)


def _iso(day: Any) -> str | None:
    return day.isoformat() if day else None
