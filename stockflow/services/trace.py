"""The recall trace's use case (批次追溯): a batch traced backward and forward from the lake.

Written against one port, `TraceSource`: the movements of batches, the goods rows of work
orders and preps, the recorded events behind receipts and holds, and the dock inspections of
batches. The adapter (`stores.trace`, the lake's Parquet read with DuckDB) is handed in by the
entry points (`stockflow trace`, the Recall trace page). Every rule is the core's
(`stockflow.trace`); this only reads level after level until nothing new is made."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from stockflow.coldchain import custody_rules
from stockflow.gsp import GspReport, gsp_report
from stockflow.masterdata import Catalog
from stockflow.trace import (
    MAX_DEPTH,
    BatchKey,
    MadeFrom,
    Trace,
    TracedMovement,
    asked,
    earliest,
    events_to_read,
    inputs_taken,
    inspection_window,
    keys_of,
    made_links,
    trace_batches,
    wanted,
)


class TraceSource(Protocol):
    def batch_movements(
        self, batches: Collection[str], skus: Collection[str] | None = None, since: datetime | None = None
    ) -> list[TracedMovement]:
        """Every movement of a batch of these codes (of these SKUs only, when given), or those
        that occurred `since` a moment (the lake may skip the days before it)."""
        ...

    def goods_made(
        self, work_orders: Collection[str], preps: Collection[str], since: datetime | None = None
    ) -> list[TracedMovement]:
        """The goods rows (`production_receipt` with these work orders as reference,
        `prep_produced` with these event ids) that bring made goods into stock, `since` a moment."""
        ...

    def event_records(self, events: Mapping[str, datetime]) -> Mapping[str, Mapping[str, Any]]:
        """The recorded events (their payloads) with these ids, given with when they occurred."""
        ...

    def inspections(
        self, batches: Collection[BatchKey], start: datetime, end: datetime
    ) -> list[Mapping[str, Any]]:
        """The dock inspections (`pallet_inspected` payloads, with their event id, time and
        location) that name these batches and occurred between `start` and `end`."""
        ...


def trace_batch(source: TraceSource, batch: str, sku: str | None = None, max_depth: int = MAX_DEPTH) -> Trace:
    """The trace of a batch code (every SKU with a batch of that code, or `sku`'s), with the
    batches made from it followed `max_depth` levels down."""
    first = asked(source.batch_movements([batch], None if sku is None else [sku]), batch, sku)
    levels: list[list[TracedMovement]] = [first]
    seen: set[BatchKey] = set(keys_of(first))
    links: list[tuple[BatchKey, MadeFrom]] = []
    not_followed: list[BatchKey] = []
    frontier = first
    while frontier:
        orders, preps = inputs_taken(frontier)
        if not orders and not preps:
            break
        goods = source.goods_made(sorted(orders), sorted(preps), earliest(frontier))
        found = made_links(frontier, goods)
        links += found
        new = sorted({child for child, _ in found} - seen)
        if not new:
            break
        if len(levels) > max_depth:
            not_followed += new
            break
        seen.update(new)
        made_at = earliest(g for g in goods if g.key in set(new))
        rows = source.batch_movements(sorted({k.batch for k in new}), sorted({k.sku for k in new}), made_at)
        frontier = wanted(rows, new)
        levels.append(frontier)
    every = [mv for level in levels for mv in level]
    if not every:
        return trace_batches(batch, sku, levels, links)
    records = source.event_records(events_to_read(levels))
    start, end = inspection_window(every)
    inspections = source.inspections(sorted(seen), start, end)
    return trace_batches(batch, sku, levels, links, records, inspections, not_followed)


class GspSource(TraceSource, Protocol):
    def sensor_readings(self, sensor: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        """A sensor's readings (when, °C) between `start` and `end`."""
        ...

    def excursion_alerts(self, skus: Collection[str], start: datetime) -> list[Mapping[str, Any]]:
        """The temperature excursion alerts of these SKUs raised from `start` on, with their
        details as a mapping."""
        ...


def gsp_reports(
    source: GspSource,
    catalog: Catalog,
    batch: str,
    sku: str | None,
    excursion_minutes: float,
    max_gap_minutes: float,
) -> list[GspReport]:
    """The GSP report of each batch of that code (of `sku`'s, when given): its arrivals' curves
    checked with the SKU's custody rules, its quarantine's holds and releases, the excursions
    that found it (`stockflow.gsp`)."""
    trace = trace_batch(source, batch, sku, max_depth=0)
    roots = trace.roots()
    if not roots:
        return []
    first = min((m.occurred_at for b in roots for m in (*b.receipts, *b.steps)), default=None)
    alerts = source.excursion_alerts(sorted({b.key.sku for b in roots}), first) if first else []
    reports = []
    for traced in roots:
        known = catalog.skus.get(traced.key.sku)
        spans = {
            (c.sensor, c.start, c.end)
            for c in [*(r.curve for r in traced.receipts), *(s.curve for s in traced.steps)]
            if c is not None and c.sensor and c.start is not None and c.end is not None
        }
        points = {span: source.sensor_readings(*span) for span in sorted(spans, key=str)}
        rules = (
            custody_rules(known, excursion_minutes, max_gap_minutes)
            if known is not None
            else (timedelta(minutes=excursion_minutes), timedelta(minutes=max_gap_minutes))
        )
        reports.append(gsp_report(traced, known, rules, points, alerts))
    return reports
