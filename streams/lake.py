"""The lake: every accepted event, every inventory change, alert and dead letter as Parquet.

Layout: ``<lake>/<table>/date=YYYY-MM-DD/part-<apply_seq>-<writer>.parquet``. Each file is
written to a temporary name in the same folder and renamed into place, so readers never see
a half-written file. Rows carry ``apply_seq``, strictly increasing in the order the worker
applied them, which is the order a rebuild replays them in.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stockflow.alerts import Alert
from stockflow.events import OutputTopic, Topic
from stockflow.ledger import Movement

log = logging.getLogger(__name__)

TS = pa.timestamp("us", tz="UTC")

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("occurred_at", TS),
        ("source", pa.string()),
        ("source_seq", pa.int64()),
        ("location", pa.string()),
        ("payload", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("apply_seq", pa.int64()),
        ("landed_at", TS),
    ]
)
INVENTORY_CHANGED_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("occurred_at", TS),
        ("location", pa.string()),
        ("sku", pa.string()),
        ("batch", pa.string()),
        ("on_hand_delta", pa.int64()),
        ("reserved_delta", pa.int64()),
        ("quarantined_delta", pa.int64()),
        ("in_transit_delta", pa.int64()),
        ("on_hand", pa.int64()),
        ("reserved", pa.int64()),
        ("quarantined", pa.int64()),
        ("in_transit", pa.int64()),
        ("reference", pa.string()),
        ("counterparty", pa.string()),
        ("unit_cost", pa.decimal128(18, 6)),
        ("unit_price", pa.decimal128(18, 6)),
        ("negative_stock", pa.bool_()),
        ("partition", pa.int32()),
        ("apply_seq", pa.int64()),
        ("processed_at", TS),
        ("landed_at", TS),
    ]
)
ALERT_SCHEMA = pa.schema(
    [
        ("alert_id", pa.string()),
        ("alert_type", pa.string()),
        ("severity", pa.string()),
        ("occurred_at", TS),
        ("location", pa.string()),
        ("sku", pa.string()),
        ("batch", pa.string()),
        ("message", pa.string()),
        ("details", pa.string()),
        ("raised_at", TS),
        ("landed_at", TS),
    ]
)
DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("key", pa.string()),
        ("event_id", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("payload", pa.binary()),
        ("rejected_at", TS),
        ("refused_by_ledger", pa.bool_()),
        ("apply_seq", pa.int64()),
        ("landed_at", TS),
    ]
)

EVENT_TABLES = tuple(t.value for t in Topic)
SCHEMAS: dict[str, pa.Schema] = {
    **{t: EVENT_SCHEMA for t in EVENT_TABLES},
    OutputTopic.INVENTORY_CHANGED.value: INVENTORY_CHANGED_SCHEMA,
    OutputTopic.ALERTS.value: ALERT_SCHEMA,
    OutputTopic.DEAD_LETTERS.value: DEAD_LETTER_SCHEMA,
}
#: The column whose date partitions each table.
DATE_COLUMN = {
    **{t: "occurred_at" for t in EVENT_TABLES},
    OutputTopic.INVENTORY_CHANGED.value: "occurred_at",
    OutputTopic.ALERTS.value: "occurred_at",
    OutputTopic.DEAD_LETTERS.value: "rejected_at",
}


def now_utc() -> datetime:
    return datetime.now(UTC)


class ApplySequence:
    """Strictly increasing numbers from the wall clock (ns), also across restarts."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, time.time_ns())
        return self._last


def event_row(
    event: Any, raw: bytes, topic: str, partition: int, offset: int, apply_seq: int
) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
        "source": event.source,
        "source_seq": event.source_seq,
        "location": event.location_id,
        "payload": raw.decode() if raw else event.model_dump_json(exclude_none=True),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "apply_seq": apply_seq,
    }


def movement_row(mv: Movement, partition: int, apply_seq: int, processed_at: datetime) -> dict[str, Any]:
    return {
        "event_id": mv.event_id,
        "event_type": mv.event_type,
        "occurred_at": mv.occurred_at,
        "location": mv.location,
        "sku": mv.sku,
        "batch": mv.batch,
        "on_hand_delta": mv.on_hand_delta,
        "reserved_delta": mv.reserved_delta,
        "quarantined_delta": mv.quarantined_delta,
        "in_transit_delta": mv.in_transit_delta,
        **mv.after.as_dict(),
        "reference": mv.reference,
        "counterparty": mv.counterparty,
        "unit_cost": mv.unit_cost,
        "unit_price": mv.unit_price,
        "negative_stock": mv.negative_stock,
        "partition": partition,
        "apply_seq": apply_seq,
        "processed_at": processed_at,
    }


def alert_row(alert: Alert, raised_at: datetime) -> dict[str, Any]:
    return {
        **alert.model_dump(mode="python", exclude={"details"}),
        "details": json.dumps(alert.details, ensure_ascii=False, default=str),
        "raised_at": raised_at,
    }


class LakeWriter:
    """Buffers rows per table and writes them as Parquet files on `flush()`."""

    def __init__(self, root: Path, writer_id: str) -> None:
        self.root = root
        self.writer_id = writer_id
        self._rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._seq = ApplySequence()
        self._writing: dict[str, list[dict[str, Any]]] = {}
        self.rows_written = 0
        self.last_flush_at: datetime | None = None
        #: The highest apply_seq of the rows written so far (0: none yet).
        self.landed_seq = 0

    def next_seq(self) -> int:
        return self._seq.next()

    def append(self, table: str, row: dict[str, Any]) -> None:
        self._rows[table].append(row)

    def land_applied(
        self,
        event: Any,
        raw: bytes,
        topic: str,
        partition: int,
        offset: int,
        movements: Iterable[Movement],
        processed_at: datetime,
    ) -> int:
        """Buffer an event the ledger applied and the movements it made, in apply order;
        returns the event's apply_seq."""
        seq = self.next_seq()
        self.append(topic, event_row(event, raw, topic, partition, offset, seq))
        for mv in movements:
            self.append(
                OutputTopic.INVENTORY_CHANGED, movement_row(mv, partition, self.next_seq(), processed_at)
            )
        return seq

    def unlanded_positions(self) -> set[tuple[str, str, str]]:
        """Location × SKU × batch of every movement applied but not written yet (buffered, or in
        a write under way)."""
        table = OutputTopic.INVENTORY_CHANGED.value
        rows = [*self._rows.get(table, ()), *self._writing.get(table, ())]
        return {(r["location"], r["sku"], r["batch"]) for r in rows}

    @property
    def pending(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def flush(self) -> int:
        """Write everything buffered; returns the number of rows written."""
        return self.write(self.take())

    def take(self) -> dict[str, list[dict[str, Any]]]:
        """Hand over the buffered rows (so they can be written off the event loop); they count
        as unlanded until `write` has written them."""
        buffered, self._rows = self._rows, defaultdict(list)
        self._writing = buffered
        return buffered

    def write(self, buffered: dict[str, list[dict[str, Any]]]) -> int:
        """Write rows taken with `take()`; safe to run in a worker thread."""
        landed_at = now_utc()
        try:
            highest = self._write_all(buffered, landed_at)
        finally:
            self._writing = {}
        written = sum(len(rows) for rows in buffered.values())
        self.landed_seq = max(self.landed_seq, highest)
        self.rows_written += written
        self.last_flush_at = landed_at
        return written

    def _write_all(self, buffered: dict[str, list[dict[str, Any]]], landed_at: datetime) -> int:
        highest = 0
        for table, rows in buffered.items():
            by_date: dict[str, list[dict[str, Any]]] = defaultdict(list)
            date_col = DATE_COLUMN[table]
            for row in rows:
                row["landed_at"] = landed_at
                highest = max(highest, row.get("apply_seq") or 0)
                by_date[row[date_col].astimezone(UTC).date().isoformat()].append(row)
            for day, day_rows in by_date.items():
                self._write(table, day, day_rows)
        return highest

    def _write(self, table: str, day: str, rows: list[dict[str, Any]]) -> None:
        folder = self.root / table / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{self._seq.next():020d}-{self.writer_id}.parquet"
        tmp = folder / f".{name}.tmp"
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[table]), tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, folder / name)


def lake_files(root: Path, table: str) -> list[Path]:
    return sorted((root / table).glob("date=*/part-*.parquet"), key=lambda p: p.name)


def read_table(root: Path, table: str, columns: list[str] | None = None) -> pa.Table:
    files = lake_files(root, table)
    if not files:
        return (
            SCHEMAS[table].empty_table() if columns is None else SCHEMAS[table].empty_table().select(columns)
        )
    return pa.concat_tables(pq.read_table(f, columns=columns, schema=SCHEMAS[table]) for f in files)


def iter_rows(root: Path, tables: Iterable[str], columns: list[str]) -> Iterator[dict[str, Any]]:
    """Rows of several tables merged in apply order (``apply_seq``)."""
    parts = [read_table(root, t, columns) for t in tables]
    merged = pa.concat_tables(parts) if parts else None
    if merged is None or merged.num_rows == 0:
        return iter(())
    merged = merged.sort_by("apply_seq")
    return iter(merged.to_pylist())
