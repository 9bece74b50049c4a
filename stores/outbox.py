"""The edge agent's outbox: a local SQLite file (WAL, every commit synced to disk) that holds each
event taken from a device until the workers have it in the record.

Tables:

* ``outbox``: one row per event not yet settled: its body, source and running number, state
  (`OutboxState`), when it was sent, and, for one refused, the reason;
* ``landed``: the ids (and content digests) of events the record holds, so a device's retry is
  known as a duplicate; their bodies are kept until the next stock snapshot includes them;
* ``daily_sales``: base units sold per location × SKU × day, for offline suggestions;
* ``synced``: what the agent last synced from the workers (master data, stock snapshots).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from stockflow.edge import OutboxState, Outcome, Settlement

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    source TEXT NOT NULL,
    source_seq INTEGER,
    fingerprint INTEGER NOT NULL,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    sent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    detail TEXT,
    settled_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_forwarding
    ON outbox (state, source, source_seq IS NULL, source_seq, arrival);
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (state, sent_at, arrival);
CREATE TABLE IF NOT EXISTS landed (
    event_id TEXT PRIMARY KEY,
    fingerprint INTEGER NOT NULL,
    body BLOB,
    landed_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_sales (
    location TEXT NOT NULL,
    sku TEXT NOT NULL,
    day TEXT NOT NULL,
    units INTEGER NOT NULL,
    PRIMARY KEY (location, sku, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS synced (
    what TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    synced_at TEXT NOT NULL
) WITHOUT ROWID;
"""

_FORWARD_ORDER = "source, source_seq IS NULL, source_seq, arrival"


@dataclass(frozen=True, slots=True)
class Taken:
    """One event a device sent: its id, location, source, running number, content digest and
    canonical body."""

    event_id: str
    location: str
    source: str
    source_seq: int | None
    fingerprint: int
    body: bytes


@dataclass(frozen=True, slots=True)
class OutboxRow:
    event_id: str
    location: str
    body: bytes
    sent_at: datetime | None
    attempts: int


class Outbox:
    """One SQLite connection, used from one thread at a time (the agent calls it off its event
    loop); every write commits before it returns, and a commit is on disk when it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ taking events in
    def take(
        self, events: Sequence[Taken], received_at: datetime, sales: Iterable[tuple[str, str, date, int]] = ()
    ) -> list[str]:
        """Keep `events` (one transaction, on disk when this returns). Per event: ``taken``,
        ``duplicate`` (the same content under the same id, in the outbox or landed) or
        ``conflict`` (the id is taken with another content: nothing of the request is kept).
        `sales`: (location, SKU, day, base units) the new events sold, added to the daily sums."""
        outcomes: list[str] = []
        with self._txn() as db:
            for e in events:
                known = db.execute(
                    "SELECT fingerprint FROM outbox WHERE event_id = ?", (e.event_id,)
                ).fetchone()
                if known is None:
                    known = db.execute(
                        "SELECT fingerprint FROM landed WHERE event_id = ?", (e.event_id,)
                    ).fetchone()
                if known is not None:
                    outcomes.append("duplicate" if known[0] == e.fingerprint else "conflict")
                    continue
                outcomes.append("taken")
            if "conflict" in outcomes:
                return outcomes
            new = [e for e, o in zip(events, outcomes, strict=True) if o == "taken"]
            db.executemany(
                "INSERT INTO outbox (event_id, location, source, source_seq, fingerprint, body, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.event_id,
                        e.location,
                        e.source,
                        e.source_seq,
                        e.fingerprint,
                        e.body,
                        received_at.isoformat(),
                    )
                    for e in new
                ],
            )
            db.executemany(
                "INSERT INTO daily_sales VALUES (?, ?, ?, ?) ON CONFLICT (location, sku, day)"
                " DO UPDATE SET units = units + excluded.units",
                [(loc, sku, day.isoformat(), units) for loc, sku, day, units in sales],
            )
        return outcomes

    # ------------------------------------------------------------------ forwarding
    def next_batch(self, limit: int) -> list[OutboxRow]:
        """The next events to forward, in forwarding order."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT event_id, location, body, sent_at, attempts FROM outbox WHERE state = ?"
                f" ORDER BY {_FORWARD_ORDER} LIMIT ?",
                (OutboxState.WAITING.value, limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def mark_sent(self, event_ids: Sequence[str], at: datetime) -> None:
        with self._txn() as db:
            db.executemany(
                "UPDATE outbox SET state = ?, sent_at = ?, attempts = attempts + 1"
                " WHERE event_id = ? AND state = ?",
                [(OutboxState.SENT.value, at.isoformat(), i, OutboxState.WAITING.value) for i in event_ids],
            )

    def sent(self, limit: int) -> list[OutboxRow]:
        """Forwarded events not yet known to be in the record, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, location, body, sent_at, attempts FROM outbox WHERE state = ?"
                " ORDER BY sent_at, arrival LIMIT ?",
                (OutboxState.SENT.value, limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def settle(self, settled: Iterable[tuple[str, Settlement]], at: datetime) -> dict[Outcome, int]:
        """Apply what the workers said about forwarded events; counts per outcome."""
        counts = dict.fromkeys(Outcome, 0)
        with self._txn() as db:
            for event_id, s in settled:
                counts[s.outcome] += 1
                if s.outcome is Outcome.DELETE:
                    db.execute(
                        "INSERT OR REPLACE INTO landed SELECT event_id, fingerprint, body, ? FROM outbox"
                        " WHERE event_id = ?",
                        (at.isoformat(), event_id),
                    )
                    db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))
                elif s.outcome is Outcome.DEAD_LETTER:
                    db.execute(
                        "UPDATE outbox SET state = ?, reason = ?, detail = ?, settled_at = ? WHERE event_id = ?",
                        (
                            OutboxState.DEAD_LETTERED.value,
                            s.reason,
                            s.detail[:2000],
                            at.isoformat(),
                            event_id,
                        ),
                    )
                elif s.outcome is Outcome.RESEND:
                    db.execute(
                        "UPDATE outbox SET state = ? WHERE event_id = ? AND state = ?",
                        (OutboxState.WAITING.value, event_id, OutboxState.SENT.value),
                    )
        return counts

    # ------------------------------------------------------------------ reading
    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
            landed = self._db.execute("SELECT count(*) FROM landed").fetchone()[0]
        out = {state.value: 0 for state in OutboxState}
        out.update(dict(rows))
        out["landed"] = landed
        return out

    def oldest_waiting(self) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT min(received_at) FROM outbox WHERE state IN (?, ?)",
                (OutboxState.WAITING.value, OutboxState.SENT.value),
            ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def dead_lettered(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, location, source, source_seq, reason, detail, received_at, settled_at"
                " FROM outbox WHERE state = ? ORDER BY arrival LIMIT ?",
                (OutboxState.DEAD_LETTERED.value, limit),
            ).fetchall()
        keys = (
            "event_id",
            "location",
            "source",
            "source_seq",
            "reason",
            "detail",
            "received_at",
            "settled_at",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def status(self, event_id: str) -> dict[str, Any]:
        """Where one event stands here: its outbox state (with the reason for a refused one),
        ``landed``, or ``unknown``."""
        with self._lock:
            row = self._db.execute(
                "SELECT location, state, reason, detail FROM outbox WHERE event_id = ?", (event_id,)
            ).fetchone()
            landed = (
                row is None
                and self._db.execute("SELECT 1 FROM landed WHERE event_id = ?", (event_id,)).fetchone()
            )
        if row is not None:
            answer = {"event_id": event_id, "location": row[0], "status": row[1]}
            if row[1] == OutboxState.DEAD_LETTERED.value:
                answer.update(reason=row[2], detail=row[3])
            return answer
        return {"event_id": event_id, "status": "landed" if landed else "unknown"}

    def unsettled_bodies(self) -> list[bytes]:
        """Bodies of events landed since the last snapshot, then those still in the outbox (not
        refused), in forwarding order: what the local stock view applies over the snapshot."""
        with self._lock:
            landed = self._db.execute(
                "SELECT body FROM landed WHERE body IS NOT NULL ORDER BY landed_at"
            ).fetchall()
            waiting = self._db.execute(
                f"SELECT body FROM outbox WHERE state IN (?, ?) ORDER BY {_FORWARD_ORDER}",
                (OutboxState.SENT.value, OutboxState.WAITING.value),
            ).fetchall()
        return [r[0] for r in landed] + [r[0] for r in waiting]

    def sales(self, since: date) -> dict[tuple[str, str], dict[date, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT location, sku, day, units FROM daily_sales WHERE day >= ?", (since.isoformat(),)
            ).fetchall()
        out: dict[tuple[str, str], dict[date, int]] = {}
        for location, sku, day, units in rows:
            out.setdefault((location, sku), {})[date.fromisoformat(day)] = units
        return out

    # ------------------------------------------------------------------ syncing
    def save_synced(self, items: dict[str, str], at: datetime, snapshot_taken: bool) -> None:
        """Keep what was synced; with a stock snapshot, drop the landed bodies (the snapshot
        includes them)."""
        with self._txn() as db:
            db.executemany(
                "INSERT OR REPLACE INTO synced VALUES (?, ?, ?)",
                [(what, body, at.isoformat()) for what, body in items.items()],
            )
            if snapshot_taken:
                db.execute("UPDATE landed SET body = NULL WHERE body IS NOT NULL")

    def synced(self, what: str) -> tuple[str, datetime] | None:
        with self._lock:
            row = self._db.execute("SELECT body, synced_at FROM synced WHERE what = ?", (what,)).fetchone()
        return (row[0], datetime.fromisoformat(row[1])) if row else None

    def forget(self, landed_before: datetime, sales_before: date) -> None:
        """Drop what is no longer needed: ids landed before `landed_before` (their bodies are in
        a snapshot) and daily sales before `sales_before`."""
        with self._txn() as db:
            db.execute(
                "DELETE FROM landed WHERE body IS NULL AND landed_at < ?", (landed_before.isoformat(),)
            )
            db.execute("DELETE FROM daily_sales WHERE day < ?", (sales_before.isoformat(),))


def _row(r: tuple[Any, ...]) -> OutboxRow:
    return OutboxRow(r[0], r[1], r[2], datetime.fromisoformat(r[3]) if r[3] else None, r[4])
