"""State as a service, on the Faust web server.

* ``GET /stock/{location}/{sku}``: one SKU at a location, by batch (with its expiry), with totals;
* ``GET /stock/{location}``: every SKU at a location;
* ``GET /reconcile/{location}``: the whole state of the partition that owns the location, with
  the apply_seq it includes everything up to and the positions whose events are not landed yet
  (``?events=id,id`` also says which of these event ids the state has applied, and
  ``positions=no`` leaves the positions out);
* ``GET /health``: partitions owned, counters, lake progress;
* ``POST /events``: validate one event (or a list) and produce it, for devices that
  cannot speak Kafka; answered 202 once the broker has acknowledged every event (acks=all),
  409 for an id already taken by a different event, 403 outside the caller's scope; history
  sent after the fact carries the header ``stockflow-delivery: backfill`` (`stockflow.delivery`);
* ``GET /events/{id}?location=L``: whether an event is ``landed`` (in the record),
  ``dead_lettered`` (with the reason), ``pending`` (taken, not yet landed) or ``unknown``;
* ``POST /masterdata``: numbered master-data changes (`stockflow.services.masterdata`, after
  they are recorded) produced on the compacted ``masterdata`` topic, keyed by entity; answered
  once the broker has them all. Every worker applies them from there (`streams.masterdata`);
* ``POST /alerts``: validate one alert (or a list) raised outside the stream (the flows'
  reconciliation and data-quality alerts), then land it in the lake and publish it on the
  ``alerts`` topic exactly as the worker does its own.

Stock requests are answered by the worker that owns the location's partition (table
routing forwards them there). Every endpoint but ``/health`` needs a credential; the
middleware in `streams.security` checks it, the views check its scope."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from functools import wraps
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from aiohttp import web as aioweb
from faust import web
from pydantic import ValidationError
from yarl import URL

from lake import now_utc, partition_for, read_table
from stockflow.alerts import Alert
from stockflow.delivery import (
    DELIVERY_HEADER,
    EDGE_HEADER,
    delivery_headers,
    delivery_of,
    edge_headers,
    edge_of,
)
from stockflow.events import (
    EventRejected,
    OutputTopic,
    TransitDispatched,
    check_event_time,
    encode_event,
    fingerprint,
    parse_event,
)
from stockflow.identity import Action
from stockflow.ledger import Position
from stockflow.masterdata_changes import MASTERDATA_TOPIC, change_key, encode_change, parse_change
from streams.app import app, guard
from streams.masterdata import VERSION_HEADER
from streams.security import BadRequest, read_json, require
from streams.stock import (
    EVENT_TIME_AHEAD,
    NotOwner,
    flush_lake,
    positions,
    publish_alert,
    send,
    settings,
    state,
)

#: Most events one POST /events may carry.
MAX_EVENTS_PER_REQUEST = 1000
FORWARDED_HEADER = "X-Stockflow-Forwarded"
#: Event ids this worker took over HTTP and produced, not yet seen applied (for `pending`).
_taken: OrderedDict[str, None] = OrderedDict()


def _item(location: str, sku: str) -> dict[str, Any]:
    """A location × SKU's stock by batch, as the partition's ledger holds it now."""
    ledger = state.served_processor(partition_for(location, settings.topic_partitions)).ledger
    batches = ledger.batches_at(location, sku)
    rows = [
        {"batch": batch, **pos.as_dict(), "expiry_date": _iso(ledger.batch_expiry(location, sku, batch))}
        for batch, pos in sorted(batches.items())
    ]
    total = Position.total(batches.values())
    return {
        "location": location,
        "sku": sku,
        **total.as_dict(),
        "available": total.unrestricted,
        "batches": rows,
    }


def _iso(day: Any) -> str | None:
    return day.isoformat() if day is not None else None


def _unknown(location: str, sku: str | None = None) -> str | None:
    catalog = state.load_catalog()
    if location not in catalog.locations:
        return f"unknown location {location!r}"
    if sku is not None and sku not in catalog.skus:
        return f"unknown SKU {sku!r}"
    return None


def _not_ready(view: web.View) -> web.Response:
    return view.json(
        {"error": "not_ready", "detail": "partitions are being assigned; retry shortly"},
        status=503,
        headers={"Retry-After": "1"},
    )


def routed_by_location(action: Action) -> Any:
    """Answer on the worker that owns the location's partition (Faust table routing), after
    checking the caller may do `action` there; 503 until this worker has its partitions
    (during start-up or a rebalance)."""

    def wrap(handler: Any) -> Any:
        @wraps(handler)
        async def route(view: web.View, request: web.Request, **kwargs: Any) -> web.Response:
            try:
                require(request, action, kwargs["location"])
            except BadRequest as exc:
                return view.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
            return await _routed(handler, view, request, **kwargs)

        return route

    return wrap


def owner_url(location: str) -> URL | None:
    """The URL of the worker that owns the location's partition, from the group's latest
    assignment (each worker's table partitions follow its input partitions); None: unknown."""
    partition = partition_for(location, settings.topic_partitions)
    changelog = positions.changelog_topic.get_topic_name()
    for url, topics in (app.assignor.changelog_distribution or {}).items():
        if partition in topics.get(changelog, ()):
            return URL(url)
    return None


def _is_me(url: URL) -> bool:
    me = URL(str(app.conf.canonical_url))
    return (url.host, url.port) == (me.host, me.port)


async def _routed(handler: Any, view: web.View, request: web.Request, **kwargs: Any) -> web.Response:
    """Answer here when this worker owns the location, else forward to the owner once."""
    if not state.ready:
        return _not_ready(view)
    partition = partition_for(kwargs["location"], settings.topic_partitions)
    dest = owner_url(kwargs["location"])
    if (
        partition not in state.owned
        and dest is not None
        and not _is_me(dest)
        and FORWARDED_HEADER not in request.headers
    ):
        return await _forward(request, dest)
    try:
        return await handler(view, request, **kwargs)
    except NotOwner:  # a rebalance under way: the caller retries
        state.counters["http.not_owner"] += 1
        return _not_ready(view)


async def _forward(request: web.Request, dest: URL, body: bytes | None = None) -> Any:
    """The same request (its credential too) answered by the worker at `dest`."""
    headers = {
        k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "transfer-encoding")
    }
    headers[FORWARDED_HEADER] = "1"
    url = request.url.with_host(dest.host).with_port(int(dest.port))
    async with app.http_client.request(request.method, url, headers=headers, data=body) as response:
        return aioweb.Response(
            body=await response.read(), status=response.status, content_type=response.content_type
        )


@app.page("/stock/{location}/{sku}")
@routed_by_location(Action.READ_STOCK)
async def stock_item(view: web.View, request: web.Request, location: str, sku: str) -> web.Response:
    problem = _unknown(location, sku)
    if problem:
        return view.error(404, problem)
    return view.json(_item(location, sku))


@app.page("/stock/{location}")
@routed_by_location(Action.READ_STOCK)
async def stock_location(view: web.View, request: web.Request, location: str) -> web.Response:
    problem = _unknown(location)
    if problem:
        return view.error(404, problem)
    proc = state.served_processor(partition_for(location, settings.topic_partitions))
    items = [_item(location, sku) for sku in sorted(proc.ledger.skus_at(location))]
    return view.json({"location": location, "skus": len(items), "items": items})


@app.page("/reconcile/{location}")
@routed_by_location(Action.READ_STATE)
async def reconcile_snapshot(view: web.View, request: web.Request, location: str) -> web.Response:
    """One partition's state for the reconciliation, taken in one step of the event loop."""
    problem = _unknown(location)
    if problem:
        return view.error(404, problem)
    partition = partition_for(location, settings.topic_partitions)
    proc = state.served_processor(partition)
    asked = [e for e in request.query.get("events", "").split(",") if e]
    return view.json(
        {
            "partition": partition,
            "applied_seq": state.applied_seq.get(partition, 0),
            "landed_seq": state.lake.landed_seq,
            "positions": [
                [k.location, k.sku, k.batch, p.on_hand, p.reserved, p.quarantined, p.in_transit]
                for k, p in proc.ledger.positions()
            ]
            if request.query.get("positions") != "no"
            else [],
            "unlanded": sorted(list(k) for k in state.lake.unlanded_positions()),
            "applied": {e: proc.ledger.has_applied(e) for e in asked},
        }
    )


@app.page("/health")
async def health(view: web.View, request: web.Request) -> web.Response:
    """Partitions, counters and lake progress (open to all: it tells nothing about stock)."""
    lake = state.lake
    return view.json(
        {
            "pending_acks": len(state.pending_acks),
            "status": "ok",
            "ready": state.ready,
            "broker": "embedded" if settings.embedded_broker else "external",
            "partitions": sorted(state.processors),
            "owned": sorted(state.owned),
            "counters": dict(state.counters),
            "lake_rows_written": lake.rows_written,
            "lake_pending_rows": lake.pending,
            "last_lake_flush": lake.last_flush_at.isoformat() if lake.last_flush_at else None,
            "last_event_at": state.last_event_at.isoformat() if state.last_event_at else None,
            "rebuild_seconds": state.rebuild_seconds,
            # per partition, the apply_seq of the checkpoint its last rebuild started from (0: none)
            "rebuilt_from_checkpoint": state.rebuilt_from,
            "checkpoints_written": state.checkpoints_written,
            "lake_blocked": state.lake_blocked,
            "requests_refused": guard.refused,
            # the master-data version this worker's catalogue includes
            "masterdata_version": state.catalog.version if state.catalog is not None else None,
        }
    )


@app.page("/events")
class Events(web.View):
    """Accept events over HTTP: validate with the core schemas, check the caller's scope, then
    produce to Kafka; answered once the broker has acknowledged them all.

    A body whose events are all at one location is answered by the worker that owns it (the
    request is forwarded there), so a reused id with different content is caught at once (409);
    a body spanning locations is checked where this worker owns the location, and the stream
    dead-letters any conflict it finds later."""

    async def post(self, request: web.Request) -> web.Response:
        if state.draining:  # shutting down: the sender keeps the events and sends them again
            return self.json(
                {"error": "draining", "detail": "this worker is shutting down; send again shortly"},
                status=503,
                headers={"Retry-After": "5"},
            )
        try:
            body = await read_json(request, settings.events_max_body_kb * 1024, settings.json_max_depth)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        items = body if isinstance(body, list) else [body]
        if len(items) > MAX_EVENTS_PER_REQUEST:
            return self.json(
                {"error": "too_many", "detail": f"at most {MAX_EVENTS_PER_REQUEST} events per request"},
                status=413,
            )
        parsed, errors = [], []
        now = now_utc()
        status = 400
        for i, item in enumerate(items):
            try:
                event = parse_event(item)
                check_event_time(event, now, settings.event_time_earliest, EVENT_TIME_AHEAD)
            except EventRejected as err:
                errors.append({"index": i, "error": err.reason, "detail": err.detail})
                continue
            if isinstance(event, TransitDispatched):
                errors.append(
                    {
                        "index": i,
                        "error": "wrong_topic",
                        "detail": "transit_dispatched is derived by the stream",
                    }
                )
                continue
            try:
                require(request, Action.POST_EVENT, event.location_id, event.event_type)
            except BadRequest as exc:
                errors.append({"index": i, "error": exc.reason, "detail": exc.detail})
                status = 403
                continue
            parsed.append(event)
        if errors:
            return self.json({"accepted": [], "errors": errors}, status=status)
        if not parsed:
            return self.json({"accepted": []}, status=202)
        locations = {e.location_id for e in parsed}
        if len(locations) == 1 and FORWARDED_HEADER not in request.headers:
            if not state.ready:
                return _not_ready(self)
            forwarded = await _forward_to_owner(request, locations.pop(), body)
            if forwarded is not None:
                return forwarded
        conflicts = []
        for i, event in enumerate(parsed):
            partition = partition_for(event.location_id, settings.topic_partitions)
            proc = state.processors.get(partition) if partition in state.owned else None
            known = proc.ledger.decided_content(event.event_id) if proc is not None else None
            if known and known != fingerprint(event):
                conflicts.append(
                    {
                        "index": i,
                        "error": "conflicting_duplicate",
                        "detail": f"event id {event.event_id!r} was already taken with a different content",
                    }
                )
        # an edge agent's event taken while offline may reuse an id the centre changed meanwhile:
        # the stream dead-letters it and lists the conflict for a person to decide
        if conflicts and request.headers.get(EDGE_HEADER) is None:
            state.counters["http.conflicting_duplicate"] += len(conflicts)
            return self.json({"accepted": [], "errors": conflicts}, status=409)
        # history sent after the fact says so (`stockflow.delivery`); the record header carries it
        # and so does an edge agent's outbox (`stockflow.conflicts` checks what came through one)
        headers = delivery_headers(
            delivery_of([(DELIVERY_HEADER, request.headers.get(DELIVERY_HEADER))])
        ) + edge_headers(edge_of([(EDGE_HEADER, request.headers.get(EDGE_HEADER))]))
        try:
            # handed to the producer one after another, so a source's events keep their order
            # in the partition; then acknowledged together
            sent = [
                await app.producer.send(
                    str(event.topic),
                    event.location_id.encode(),
                    encode_event(event),
                    None,
                    None,
                    headers or None,
                )
                for event in parsed
            ]
            await asyncio.gather(*sent)
        except Exception as exc:  # the broker did not take them all: the sender must retry
            return self.json(
                {"accepted": [], "error": "not_acknowledged", "detail": f"{type(exc).__name__}: {exc}"},
                status=503,
                headers={"Retry-After": "1"},
            )
        for event in parsed:
            _taken[event.event_id] = None
            if len(_taken) > 100_000:
                _taken.popitem(last=False)
        return self.json({"accepted": [e.event_id for e in parsed]}, status=202)


async def _forward_to_owner(request: web.Request, location: str, body: Any) -> Any:
    """POST the same body to the worker that owns `location`; None when that is this one."""
    if partition_for(location, settings.topic_partitions) in state.owned:
        return None
    dest = owner_url(location)
    if dest is None or _is_me(dest):
        return None
    return await _forward(request, dest, json.dumps(body).encode())


@app.page("/drain")
class Drain(web.View):
    """``POST /drain`` (services only): stop taking events over HTTP (503 from now on), so
    what was taken can be landed before a shutdown (`stockflow up` on Ctrl-C)."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            require(request, Action.DRAIN)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        state.draining = True
        return self.json({"draining": True})


@app.page("/events/status")
class EventStatuses(web.View):
    """``POST /events/status?location=L`` with a JSON list of event ids (at most
    `MAX_EVENTS_PER_REQUEST`): ``{"statuses": [...]}``, each as ``GET /events/{id}`` answers it,
    in the order asked (an edge agent confirms what it forwarded this way)."""

    async def post(self, request: web.Request) -> web.Response:
        location = request.query.get("location", "")
        if not location:
            return self.json(
                {"error": "location_required", "detail": "say ?location=<the events' location>"}, status=400
            )
        try:
            require(request, Action.READ_STOCK, location)
            body = await read_json(request, settings.events_max_body_kb * 1024, settings.json_max_depth)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        if (
            not isinstance(body, list)
            or not all(isinstance(i, str) for i in body)
            or len(body) > MAX_EVENTS_PER_REQUEST
        ):
            return self.json(
                {
                    "error": "bad_request",
                    "detail": f"send a JSON list of at most {MAX_EVENTS_PER_REQUEST} event ids",
                },
                status=400,
            )
        if not state.ready:
            return _not_ready(self)
        dest = owner_url(location)
        if (
            partition_for(location, settings.topic_partitions) not in state.owned
            and dest is not None
            and not _is_me(dest)
            and FORWARDED_HEADER not in request.headers
        ):
            return await _forward(request, dest, json.dumps(body).encode())
        problem = _unknown(location)
        if problem:
            return self.error(404, problem)
        try:
            return self.json({"statuses": await _event_statuses(location, body)})
        except NotOwner:
            state.counters["http.not_owner"] += 1
            return _not_ready(self)


@app.page("/events/{event_id}")
class EventStatus(web.View):
    """``GET /events/{id}?location=L``: where an event stands, answered by the location's owner:
    ``pending`` (taken, not yet in the record), ``landed``, ``dead_lettered`` (with the reason)
    or ``unknown``."""

    async def get(self, request: web.Request, event_id: str) -> web.Response:
        location = request.query.get("location", "")
        if not location:
            return self.json(
                {"error": "location_required", "detail": "say ?location=<the event's location>"}, status=400
            )
        try:
            require(request, Action.READ_STOCK, location)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        return await _routed(_event_status, self, request, location=location, event_id=event_id)


async def _event_status(view: web.View, request: web.Request, location: str, event_id: str) -> web.Response:
    problem = _unknown(location)
    if problem:
        return view.error(404, problem)
    (answer,) = await _event_statuses(location, [event_id])
    return view.json(answer)


async def _event_statuses(location: str, event_ids: list[str]) -> list[dict[str, Any]]:
    """Where each event stands (one read of the dead letters for them all).

    What is applied and what is not yet written are read together, after the only await: an
    event applied while the dead letters are read is in both, so it is ``pending`` until its rows
    are in the lake (read before that await, it would be applied and not unlanded: ``landed``
    while its rows could still be lost to a crash, and an edge agent would drop it)."""
    records = await asyncio.to_thread(_dead_letter_records, event_ids)
    unlanded = state.lake.unlanded_event_ids()
    proc = state.served_processor(partition_for(location, settings.topic_partitions))
    answers = []
    for event_id in event_ids:
        answer: dict[str, Any] = {"event_id": event_id, "location": location}
        if event_id in unlanded:
            answers.append({**answer, "status": "pending"})
            continue
        recorded = list(records.get(event_id, ()))
        remembered = state.dead_lettered.get(event_id)
        if remembered is not None and not any(r["reason"] == remembered[0] for r in recorded):
            recorded.append({"reason": remembered[0], "detail": remembered[1]})
        refused = [
            r for r in recorded if r.get("refused_by_ledger") or r["reason"] != "conflicting_duplicate"
        ]
        if proc.ledger.has_applied(event_id) and not any(r.get("refused_by_ledger") for r in recorded):
            answers.append({**answer, "status": "landed", "dead_letters": recorded})
        elif refused or recorded:
            first = (refused or recorded)[0]
            answers.append(
                {**answer, "status": "dead_lettered", "reason": first["reason"], "detail": first["detail"]}
            )
        elif event_id in _taken:
            answers.append({**answer, "status": "pending"})
        else:
            answers.append({**answer, "status": "unknown"})
    return answers


def _dead_letter_records(event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    table = read_table(
        settings.lake_dir,
        OutputTopic.DEAD_LETTERS.value,
        ["event_id", "reason", "detail", "refused_by_ledger"],
    )
    found = table.filter(pc.is_in(table["event_id"], pa.array(event_ids, pa.string())))
    records: dict[str, list[dict[str, Any]]] = {}
    for row in found.to_pylist():
        records.setdefault(row.pop("event_id"), []).append(row)
    return records


@app.page("/alerts")
class Alerts(web.View):
    """Accept alerts raised outside the stream: validate with the core's model, then land and
    publish each as the worker does its own; answered once they are landed and on the broker.
    Alert ids are deterministic, so a sender's retry is a duplicate that subscribers drop."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            require(request, Action.POST_ALERT)
            body = await read_json(request, settings.alerts_max_body_kb * 1024, settings.json_max_depth)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        items = body if isinstance(body, list) else [body]
        parsed, errors = [], []
        for i, item in enumerate(items):
            try:
                parsed.append(Alert.model_validate(item))
            except ValidationError as exc:
                errors.append({"index": i, "error": "invalid_alert", "detail": str(exc)})
        if errors:
            return self.json({"accepted": [], "errors": errors}, status=400)
        raised_at = now_utc()
        for alert in parsed:
            await publish_alert(alert, raised_at)
        await flush_lake()  # landed and on the broker before the sender hears it was taken
        return self.json({"accepted": [a.alert_id for a in parsed]}, status=202)


@app.page("/masterdata")
class MasterData(web.View):
    """``GET /masterdata[?location=L]``: the catalogue this worker holds (for an edge agent's
    offline view; any credential that may read stock at L). ``POST``: publish recorded master-data changes on the
    master-data topic (services only)."""

    async def get(self, request: web.Request) -> web.Response:
        try:
            # a device says which of its locations it reads for
            require(request, Action.READ_STOCK, request.query.get("location"))
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        if state.catalog is None:
            return _not_ready(self)
        body = await asyncio.to_thread(state.catalog.model_dump_json)
        return aioweb.Response(body=body.encode(), content_type="application/json")

    async def post(self, request: web.Request) -> web.Response:
        try:
            require(request, Action.PUBLISH_MASTERDATA)
            body = await read_json(request, settings.masterdata_max_body_kb * 1024, settings.json_max_depth)
        except BadRequest as exc:
            return self.json({"error": exc.reason, "detail": exc.detail}, status=exc.status)
        items = body if isinstance(body, list) else [body]
        parsed, errors = [], []
        for i, item in enumerate(items):
            try:
                parsed.append(parse_change(item))
            except EventRejected as err:
                errors.append({"index": i, "error": err.reason, "detail": err.detail})
        if errors:
            return self.json({"accepted": [], "errors": errors}, status=400)
        for change in parsed:
            await send(
                MASTERDATA_TOPIC,
                change_key(change),
                encode_change(change),
                headers=[(VERSION_HEADER, str(change.version).encode())],
            )
        await app.producer.flush()
        return self.json({"accepted": [c.version for c in parsed]}, status=202)
