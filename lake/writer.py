"""The lake writer: rows buffered per table, written as Parquet files on flush.

Each file is written to a temporary name in the same folder and renamed into place, so readers
never see a half-written file."""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake.rows import event_row, movement_row
from lake.tables import CONFLICTS, DATE_COLUMN, SCHEMAS
from stockflow.delivery import Delivery
from stockflow.events import OutputTopic
from stockflow.ledger import Movement

log = logging.getLogger(__name__)


#: Tables of rows derived from an event (not the event's own record): they never stand for it.
_DERIVED_TABLES = frozenset({OutputTopic.INVENTORY_CHANGED.value, OutputTopic.ALERTS.value, CONFLICTS.name})


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


@dataclass
class Prepared:
    """Files written to temporary names by `LakeWriter.prepare`, not yet renamed into place."""

    landed_at: datetime
    #: (temporary path, final path, table, rows) still to rename
    files: list[tuple[Path, Path, str, list[dict[str, Any]]]] = field(default_factory=list)
    #: (table, rows) renamed into place
    done: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def discard(self) -> None:
        for tmp, *_ in self.files:
            tmp.unlink(missing_ok=True)
        self.files.clear()

    def discard_after_failure(self, writer: LakeWriter) -> None:
        """After a failed commit: the rows not renamed go back to `writer`'s buffer."""
        writer.put_back(self.not_written())
        self.discard()

    def not_written(self) -> dict[str, list[dict[str, Any]]]:
        """The rows of the files not renamed (after a failed commit), to put back."""
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for _tmp, _final, table, rows in self.files:
            out[table] += rows
        return out


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
        delivery: Delivery = Delivery.LIVE,
    ) -> int:
        """Buffer an event the ledger applied and the movements it made, in apply order;
        returns the event's apply_seq. `delivery`: live, or history sent after the fact."""
        seq = self.next_seq()
        row = _dated(topic, event_row(event, raw, topic, partition, offset, seq, delivery))
        table = OutputTopic.INVENTORY_CHANGED.value
        by_time = {row[DATE_COLUMN[topic]]: row["_day"]}  # an event's movements share its time
        moved = []
        for mv in movements:
            out = movement_row(mv, partition, self.next_seq(), processed_at)
            day = by_time.get(out[DATE_COLUMN[table]])
            if day is None:
                _dated(table, out)
            else:
                out["_day"] = day
            moved.append(out)
        self._rows[topic].append(row)  # all of the event's rows, or none of them
        self._rows[table] += moved
        return seq

    def unlanded_positions(self) -> set[tuple[str, str, str]]:
        """Location × SKU × batch of every movement applied but not written yet (buffered, or in
        a write under way)."""
        table = OutputTopic.INVENTORY_CHANGED.value
        rows = [*self._rows.get(table, ()), *self._writing.get(table, ())]
        return {(r["location"], r["sku"], r["batch"]) for r in rows}

    @property
    def pending(self) -> int:
        """Rows not landed yet: buffered, or taken by a write that has not made them visible."""
        return sum(len(rows) for rows in self._rows.values()) + sum(len(r) for r in self._writing.values())

    def flush(self) -> int:
        """Write everything buffered; returns the number of rows written."""
        return self.write(self.take())

    def unlanded_event_ids(self) -> dict[str, str]:
        """Event id → table of the event and dead-letter rows not written yet."""
        out = {}
        for source in (self._rows, self._writing):
            for table, rows in list(source.items()):
                if table in _DERIVED_TABLES:
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
        """Write rows taken with `take()` (`prepare`, then `commit`); safe in a worker thread."""
        return self.commit(self.prepare(buffered))

    def prepare(self, buffered: dict[str, list[dict[str, Any]]]) -> Prepared:
        """Write rows taken with `take()` to temporary files, fsynced, none visible yet: the
        costly part, which can run while the derived messages are flushed to the broker.

        An `OSError` (a full disk, a failing one) removes the temporary files and propagates;
        the caller puts every row back (`put_back`) to write them again. A row that cannot be
        converted is left out and kept in `unlandable` for the caller to record."""
        landed_at = now_utc()
        prepared = Prepared(landed_at)
        try:
            for table, rows in buffered.items():
                by_date: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for row in rows:
                    row["landed_at"] = landed_at
                    by_date[row.get("_day") or _dated(table, row)["_day"]].append(row)
                for day, day_rows in by_date.items():
                    try:
                        prepared.files.append(self._write_tmp(table, day, day_rows))
                    except OSError:
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
                            prepared.files.append(self._write_tmp(table, day, good))
        except BaseException:
            prepared.discard()
            raise
        return prepared

    def commit(self, prepared: Prepared) -> int:
        """Rename the prepared files into place and fsync their folders once each: from here
        on readers see the rows. An `OSError` part-way leaves the files renamed so far in
        place; those not renamed are removed and their rows are in `prepared.not_written()`."""
        folders = set()
        while prepared.files:
            tmp, final, table, rows = prepared.files[0]
            os.replace(tmp, final)
            prepared.files.pop(0)
            prepared.done.append((table, rows))
            folders.add(final.parent)
        for folder in folders:
            fsync_dir(folder)  # the renames themselves survive a power cut
        self._writing = {}
        written = sum(len(rows) for _, rows in prepared.done)
        highest = max((r.get("apply_seq") or 0 for _, rows in prepared.done for r in rows), default=0)
        self.landed_seq = max(self.landed_seq, highest)
        self.rows_written += written
        self.last_flush_at = prepared.landed_at
        return written

    def _write_tmp(self, table: str, day: str, rows: list[dict[str, Any]]) -> tuple[Path, Path, str, list]:
        folder = self.root / table / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{self._seq.next():020d}-{self.writer_id}.parquet"
        tmp = folder / f".{name}.tmp"
        try:
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[table]), tmp, compression="zstd")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, folder / name, table, rows

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
