"""State as a service, on the Faust web server.

* ``GET /stock/{location}/{sku}``: one SKU at a location, by batch (with its expiry), with totals;
* ``GET /stock/{location}``: every SKU at a location;
* ``GET /reconcile/{location}``: the whole state of the partition that owns the location, with
  the apply_seq it includes everything up to and the positions whose events are not landed yet
  (``?events=id,id`` also says which of these event ids the state has applied, and
  ``positions=no`` leaves the positions out);
* ``GET /health``: partitions owned, counters, lake progress;
* ``POST /events``: validate one event (or a list) and produce it, for devices that
  cannot speak Kafka;
* ``POST /alerts``: validate one alert (or a list) raised outside the stream (the flows'
  reconciliation and data-quality alerts), then land it in the lake and publish it on the
  ``alerts`` topic exactly as the worker does its own.

Stock requests are answered by the worker that owns the location's partition (table
routing forwards them there)."""

from __future__ import annotations

from functools import wraps
from typing import Any

from faust import web
from faust.exceptions import SameNode
from pydantic import ValidationError

from lake import now_utc, partition_for
from stockflow.alerts import Alert
from stockflow.events import EventRejected, TransitDispatched, encode_event, parse_event
from stockflow.ledger import Position
from streams.app import app
from streams.stock import flush_lake, position_key, positions, publish_alert, send, settings, state


def _item(location: str, sku: str, batches: dict[str, Any]) -> dict[str, Any]:
    ledger = state.processor_for(partition_for(location, settings.topic_partitions)).ledger
    rows = [
        {"batch": batch, **pos, "expiry_date": _iso(ledger.batch_expiry(location, sku, batch))}
        for batch, pos in sorted(batches.items())
    ]
    total = Position.total(Position.from_dict(pos) for pos in batches.values())
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


def routed_by_location(handler: Any) -> Any:
    """Answer on the worker that owns the location's partition (Faust table routing), and
    answer 503 until this worker has its partitions (during start-up or a rebalance)."""

    @wraps(handler)
    async def route(view: web.View, request: web.Request, **kwargs: Any) -> web.Response:
        if not state.ready:
            return view.json(
                {"error": "not_ready", "detail": "partitions are being assigned; retry shortly"},
                status=503,
                headers={"Retry-After": "1"},
            )
        try:
            return await app.router.route_req(positions.name, kwargs["location"], view.web, request)
        except SameNode:
            return await handler(view, request, **kwargs)

    return route


@app.page("/stock/{location}/{sku}")
@routed_by_location
async def stock_item(view: web.View, request: web.Request, location: str, sku: str) -> web.Response:
    problem = _unknown(location, sku)
    if problem:
        return view.error(404, problem)
    return view.json(_item(location, sku, positions.data.get(position_key(location, sku)) or {}))


@app.page("/stock/{location}")
@routed_by_location
async def stock_location(view: web.View, request: web.Request, location: str) -> web.Response:
    problem = _unknown(location)
    if problem:
        return view.error(404, problem)
    proc = state.processor_for(partition_for(location, settings.topic_partitions))
    items = [
        _item(location, sku, positions.data.get(position_key(location, sku)) or {})
        for sku in sorted(proc.ledger.skus_at(location))
    ]
    return view.json({"location": location, "skus": len(items), "items": items})


@app.page("/reconcile/{location}")
@routed_by_location
async def reconcile_snapshot(view: web.View, request: web.Request, location: str) -> web.Response:
    """One partition's state for the reconciliation, taken in one step of the event loop."""
    problem = _unknown(location)
    if problem:
        return view.error(404, problem)
    partition = partition_for(location, settings.topic_partitions)
    proc = state.processor_for(partition)
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
    lake = state.lake
    return view.json(
        {
            "status": "ok",
            "ready": state.ready,
            "broker": "embedded" if settings.embedded_broker else "external",
            "partitions": sorted(state.processors),
            "counters": dict(state.counters),
            "lake_rows_written": lake.rows_written,
            "lake_pending_rows": lake.pending,
            "last_lake_flush": lake.last_flush_at.isoformat() if lake.last_flush_at else None,
            "last_event_at": state.last_event_at.isoformat() if state.last_event_at else None,
            "rebuild_seconds": state.rebuild_seconds,
            # per partition, the apply_seq of the checkpoint its last rebuild started from (0: none)
            "rebuilt_from_checkpoint": state.rebuilt_from,
            "checkpoints_written": state.checkpoints_written,
        }
    )


@app.page("/events")
class Events(web.View):
    """Accept events over HTTP: validate with the core schemas, then produce to Kafka."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            return self.json({"error": "malformed_json", "detail": str(exc)}, status=400)
        items = body if isinstance(body, list) else [body]
        parsed, errors = [], []
        for i, item in enumerate(items):
            try:
                event = parse_event(item)
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
            parsed.append(event)
        if errors:
            return self.json({"accepted": [], "errors": errors}, status=400)
        for event in parsed:
            await send(event.topic, event.location_id, encode_event(event))
        return self.json({"accepted": [e.event_id for e in parsed]}, status=202)


@app.page("/alerts")
class Alerts(web.View):
    """Accept alerts raised outside the stream: validate with the core's model, then land and
    publish each as the worker does its own; answered once they are landed and on the broker.
    Alert ids are deterministic, so a sender's retry is a duplicate that subscribers drop."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            return self.json({"error": "malformed_json", "detail": str(exc)}, status=400)
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
