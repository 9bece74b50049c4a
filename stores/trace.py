"""The lake as the recall trace's source (`stockflow.services.trace.TraceSource`): the movements
(`inventory_changed`) and the recorded scanner events (`scans`) read straight from their Parquet
files with DuckDB, seconds fresh, no warehouse build needed.

Each read is one scan of a table's files with the filter pushed into it (a batch code, a work
order, an event id): DuckDB reads the filtered columns of every row group and the other
columns only where a row matched. Files landed before a column existed read it as NULL."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from lake.tables import ALERTS, INVENTORY_CHANGED
from stockflow.events import Topic
from stockflow.trace import BatchKey, TracedMovement

log = logging.getLogger(__name__)

_MOVEMENT_COLUMNS = (
    "event_id",
    "event_type",
    "occurred_at",
    "location",
    "sku",
    "batch",
    "on_hand_delta",
    "quarantined_delta",
    "in_transit_delta",
    "reference",
    "counterparty",
    "dish",
    "apply_seq",
)
#: Scanner events a trace reads the record of: receipts (their curve, expiry), holds (reason),
#: and the dock inspections.
_RECORDED = ("goods_receipt", "quality_hold", "pallet_inspected", "transfer_out", "transfer_in")


#: Columns the movement files may lack (landed before they existed): read as NULL there.
_LATER_COLUMNS = "SELECT NULL::VARCHAR AS dish WHERE false"


class LakeTrace:
    """Reads a lake folder; one DuckDB connection (in memory) for all the reads of a trace.

    Files are chosen by their day partition (the UTC day of `occurred_at`) where a read says
    from when, or which events, it wants: a trace reads the whole movement table once, for the
    batch asked for, and only the days that can hold the rest."""

    def __init__(self, lake_dir: Path, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.lake_dir = lake_dir
        self.con = con or duckdb.connect()
        try:  # the files' footers read once for the trace's several scans
            self.con.execute("SET parquet_metadata_cache = true")
        except duckdb.Error:
            log.info("this DuckDB keeps no Parquet metadata cache")

    def _files(
        self, table: str, days: Collection[date] | None = None, since: date | None = None
    ) -> list[str]:
        """The table's files: all, those of these `days`, or of the days from `since` on."""
        out = []
        for folder in sorted((self.lake_dir / table).glob("date=*")):
            try:
                day = date.fromisoformat(folder.name.removeprefix("date="))
            except ValueError:
                continue
            if (days is not None and day not in days) or (since is not None and day < since):
                continue
            out += [str(p) for p in sorted(folder.glob("part-*.parquet"))]
        return out

    def _movements(
        self, where: str, params: list[Any], since: datetime | None = None
    ) -> list[TracedMovement]:
        files = self._files(INVENTORY_CHANGED.name, since=_utc_day(since))
        if not files:
            return []
        columns = ", ".join(_MOVEMENT_COLUMNS)
        try:  # every file has every column: read by position, the fastest
            rows = self.con.execute(
                f"SELECT {columns} FROM {_SCAN} WHERE {where}",  # noqa: S608
                [files, *params],
            ).fetchall()
        except duckdb.Error:  # files landed before a column existed: match them by name
            rows = self.con.execute(
                f"SELECT {columns} FROM (SELECT * FROM {_SCAN_BY_NAME} UNION ALL BY NAME {_LATER_COLUMNS})"  # noqa: S608
                f" WHERE {where}",
                [files, *params],
            ).fetchall()
        return [_movement(r) for r in rows]

    # ------------------------------------------------------------------ TraceSource
    def batch_movements(
        self, batches: Collection[str], skus: Collection[str] | None = None, since: datetime | None = None
    ) -> list[TracedMovement]:
        codes = sorted(set(batches))
        if not codes:
            return []
        # constants in the filter: pushed into the scan (a list parameter would be a join)
        where = f"batch IN ({_marks(codes)})"
        params: list[Any] = list(codes)
        if skus is not None:
            chosen = sorted(set(skus))
            where += f" AND sku IN ({_marks(chosen)})"
            params += chosen
        if since is not None:
            where += " AND occurred_at >= ?"
            params.append(since)
        return self._movements(where, params, since)

    def goods_made(
        self, work_orders: Collection[str], preps: Collection[str], since: datetime | None = None
    ) -> list[TracedMovement]:
        orders, made = sorted(set(work_orders)), sorted(set(preps))
        parts, params = [], []
        if orders:
            parts.append(f"(event_type = 'production_receipt' AND reference IN ({_marks(orders)}))")
            params += orders
        if made:
            parts.append(f"(event_type = 'prep_produced' AND event_id IN ({_marks(made)}))")
            params += made
        if not parts:
            return []
        return self._movements(f"on_hand_delta > 0 AND ({' OR '.join(parts)})", params, since)

    def event_records(self, events: Mapping[str, datetime]) -> Mapping[str, Mapping[str, Any]]:
        """The scanner events' records, with the reason the stream gave a hold or a quarantine
        on receipt (`hold_reason` of their movements, where the lake has that column)."""
        ids = sorted(events)
        days = {_utc_day(when) for when in events.values()}
        out: dict[str, dict[str, Any]] = {}
        files = self._files(Topic.SCANS.value, days=days)
        if ids and files:
            rows = self.con.execute(
                f"SELECT event_id, payload FROM {_SCAN_BY_NAME}"  # noqa: S608
                f" WHERE event_type IN ({_marks(_RECORDED)}) AND event_id IN ({_marks(ids)})",
                [files, *_RECORDED, *ids],
            ).fetchall()
            out = {event_id: _payload(payload) for event_id, payload in rows}
        moved = self._files(INVENTORY_CHANGED.name, days=days)
        if ids and moved:
            try:
                reasons = self.con.execute(
                    f"SELECT event_id, max(hold_reason) FROM {_SCAN_BY_NAME}"  # noqa: S608
                    f" WHERE event_id IN ({_marks(ids)}) AND hold_reason <> '' GROUP BY event_id",
                    [moved, *ids],
                ).fetchall()
            except duckdb.BinderException:  # a lake from before holds had reasons
                reasons = []
            for event_id, reason in reasons:
                out.setdefault(event_id, {})["hold_reason"] = reason
        return out

    def inspections(
        self, batches: Collection[BatchKey], start: datetime, end: datetime
    ) -> list[Mapping[str, Any]]:
        keys = set(batches)
        first, last = _utc_day(start), _utc_day(end)
        files = [f for f in self._files(Topic.SCANS.value, since=first) if _day_of(f) <= last]
        if not keys or not files:
            return []
        codes = sorted({k.batch for k in keys})
        rows = self.con.execute(
            f"SELECT event_id, occurred_at, location, payload FROM {_SCAN_BY_NAME}"  # noqa: S608
            " WHERE event_type = 'pallet_inspected' AND occurred_at BETWEEN ? AND ?"
            f" AND json_extract_string(payload, '$.batch') IN ({_marks(codes)})",
            [files, start, end, *codes],
        ).fetchall()
        out = []
        for event_id, occurred_at, location, payload in rows:
            record = {
                **_payload(payload),
                "event_id": event_id,
                "occurred_at": occurred_at,
                "location": location,
            }
            if BatchKey(str(record.get("sku", "")), str(record.get("batch") or "")) in keys:
                out.append(record)
        return out

    # ------------------------------------------------------------------ GspSource
    def sensor_readings(self, sensor: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        first, last = _utc_day(start), _utc_day(end)
        files = [f for f in self._files(Topic.TEMPERATURE_READINGS.value, since=first) if _day_of(f) <= last]
        if not files:
            return []
        rows = self.con.execute(
            f"SELECT occurred_at, json_extract_string(payload, '$.celsius')::DOUBLE FROM {_SCAN_BY_NAME}"  # noqa: S608
            " WHERE occurred_at BETWEEN ? AND ? AND json_extract_string(payload, '$.sensor') = ?"
            " ORDER BY occurred_at",
            [files, start, end, sensor],
        ).fetchall()
        return [(at, celsius) for at, celsius in rows]

    def excursion_alerts(self, skus: Collection[str], start: datetime) -> list[Mapping[str, Any]]:
        files = self._files(ALERTS.name, since=_utc_day(start))
        if not skus or not files:
            return []
        rows = self.con.execute(
            f"SELECT alert_id, location, sku, details FROM {_SCAN_BY_NAME}"  # noqa: S608
            f" WHERE alert_type = 'temperature_excursion' AND sku IN ({_marks(skus)})",
            [files, *skus],
        ).fetchall()
        return [
            {"alert_id": alert_id, "location": location, "sku": sku, "details": _payload(details)}
            for alert_id, location, sku, details in rows
        ]


#: A list of files with the same columns (no hive columns); and files whose columns differ,
#: matched by name (a column a file lacks is NULL there).
_SCAN = "read_parquet(?, hive_partitioning = false)"
_SCAN_BY_NAME = "read_parquet(?, union_by_name = true, hive_partitioning = false)"


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


def _utc_day(moment: datetime | None) -> date | None:
    """The partition day of a moment (the lake partitions by the UTC day)."""
    return None if moment is None else moment.astimezone(UTC).date()


def _day_of(path: str) -> date:
    return date.fromisoformat(Path(path).parent.name.removeprefix("date="))


def _payload(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _movement(row: tuple) -> TracedMovement:
    (event_id, event_type, occurred_at, location, sku, batch, on_hand, quarantined, in_transit,
     reference, counterparty, dish, apply_seq) = row  # fmt: skip
    when: datetime = occurred_at
    return TracedMovement(
        event_id=event_id,
        event_type=event_type or "",
        occurred_at=when,
        location=location or "",
        sku=sku or "",
        batch=batch or "",
        on_hand_delta=int(on_hand or 0),
        quarantined_delta=int(quarantined or 0),
        in_transit_delta=int(in_transit or 0),
        reference=reference or "",
        counterparty=counterparty or "",
        dish=dish or "",
        apply_seq=int(apply_seq or 0),
    )
