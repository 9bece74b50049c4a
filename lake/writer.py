"""The lake writer: rows buffered per table, written as Parquet files on flush.

Each file is written to a temporary name in the same folder and renamed into place, so readers
never see a half-written file."""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake.rows import event_row, movement_row
from lake.tables import DATE_COLUMN, SCHEMAS
from stockflow.events import OutputTopic
from stockflow.ledger import Movement

log = logging.getLogger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


class ApplySequence:
    """Strictly increasing numbers from the wall clock (ns), also across restarts."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, time.time_ns())
        return self._last

    def advance_past(self, seq: int) -> None:
        """Continue above `seq` (one drawn by another writer, whose clock may run ahead of ours):
        what this writer lands after a rebuild replays after what that rebuild read."""
        self._last = max(self._last, seq)


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

    def advance_past(self, seq: int) -> None:
        self._seq.advance_past(seq)

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
