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
        #: Rows a write had to leave out (table, row, why), for the owner to dead-letter.
        self.unlandable: list[tuple[str, dict[str, Any], str]] = []

    def next_seq(self) -> int:
        return self._seq.next()

    def advance_past(self, seq: int) -> None:
        self._seq.advance_past(seq)

    def append(self, table: str, row: dict[str, Any]) -> None:
        self._rows[table].append(_dated(table, row))

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
        rows = [(topic, _dated(topic, event_row(event, raw, topic, partition, offset, seq)))]
        table = OutputTopic.INVENTORY_CHANGED.value
        rows += [
            (table, _dated(table, movement_row(mv, partition, self.next_seq(), processed_at)))
            for mv in movements
        ]
        for table, row in rows:  # all of the event's rows, or none of them
            self._rows[table].append(row)
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

    def unlanded_event_ids(self) -> dict[str, str]:
        """Event id → table of the event and dead-letter rows not written yet."""
        out = {}
        for source in (self._rows, self._writing):
            for table, rows in list(source.items()):
                if table == OutputTopic.INVENTORY_CHANGED or table == OutputTopic.ALERTS:
                    continue
                for row in rows:
                    if row.get("event_id"):
                        out[row["event_id"]] = table
        return out

    def put_back(self, taken: dict[str, list[dict[str, Any]]]) -> None:
        """Return rows taken for a write that failed: they are written first next time."""
        for table, rows in taken.items():
            self._rows[table] = rows + self._rows.get(table, [])
        self._writing = {}

    def take(self) -> dict[str, list[dict[str, Any]]]:
        """Hand over the buffered rows (so they can be written off the event loop); they count
        as unlanded until `write` has written them."""
        buffered, self._rows = self._rows, defaultdict(list)
        self._writing = buffered
        return buffered

    def write(self, buffered: dict[str, list[dict[str, Any]]]) -> int:
        """Write rows taken with `take()`; safe to run in a worker thread.

        An `OSError` (a full disk, a failing one) propagates with nothing half-done that
        matters: files are renamed into place only once complete, and the caller puts the rows
        back (`put_back`) to write them again. A row that cannot be converted is left out and
        kept in `unlandable` for the caller to record; the others are written."""
        landed_at = now_utc()
        written = sum(len(rows) for rows in buffered.values())
        highest = self._write_all(buffered, landed_at)
        self._writing = {}
        self.landed_seq = max(self.landed_seq, highest)
        self.rows_written += written
        self.last_flush_at = landed_at
        return written

    def _write_all(self, buffered: dict[str, list[dict[str, Any]]], landed_at: datetime) -> int:
        """Write table by table, day by day; what has been written is removed from `buffered`,
        so after an `OSError` it holds exactly the rows still to write."""
        highest = 0
        for table in list(buffered):
            by_date: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in buffered[table]:
                row["landed_at"] = landed_at
                by_date[row.get("_day") or _dated(table, row)["_day"]].append(row)
            for day in list(by_date):
                day_rows = by_date[day]
                try:
                    self._write(table, day, day_rows)
                except OSError:
                    buffered[table] = [row for rows in by_date.values() for row in rows]
                    raise
                except Exception:  # a row pyarrow cannot take: write the others, keep it aside
                    good = []
                    for row in day_rows:
                        try:
                            pa.Table.from_pylist([row], schema=SCHEMAS[table])
                        except Exception as exc:  # noqa: BLE001 — any conversion failure
                            self.unlandable.append((table, row, f"{type(exc).__name__}: {exc}"[:500]))
                        else:
                            good.append(row)
                    if good:
                        self._write(table, day, good)
                    day_rows = good
                highest = max([highest, *(row.get("apply_seq") or 0 for row in day_rows)])
                del by_date[day]
            del buffered[table]
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
        fsync_dir(folder)  # the rename itself survives a power cut

    def remove_leftovers(self) -> int:
        """Delete temporary files this writer left behind when it was killed mid-write (another
        writer's are left alone: it may be writing them now)."""
        removed = 0
        for tmp in self.root.glob(f"*/date=*/.part-*-{self.writer_id}.parquet.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("removed %d temporary lake files left by an earlier run of %s", removed, self.writer_id)
        return removed


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _dated(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row with the day (UTC) of the partition it lands in; raises `ValueError` for a time
    that has no UTC day (so the event is refused where it can still be dead-lettered)."""
    try:
        row["_day"] = row[DATE_COLUMN[table]].astimezone(UTC).date().isoformat()
    except (OverflowError, AttributeError, TypeError) as exc:
        raise ValueError(
            f"cannot land a row of {table} dated {row.get(DATE_COLUMN[table])!r}: {exc}"
        ) from exc
    return row
