"""The reconciliation's reports: ``var/reconciliation.duckdb``, one row per run
(``reconciliation_runs``) and one per discrepancy found (``discrepancies``), which the CLI and
the dashboards read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from stockflow.reconciliation import FIELDS, Finding, RunReport
from stores import duck

_DDL = """
CREATE TABLE IF NOT EXISTS reconciliation_runs (
    run_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL, seconds DOUBLE NOT NULL, positions_compared BIGINT NOT NULL,
    events_replayed BIGINT NOT NULL, in_flight INTEGER NOT NULL, drift INTEGER NOT NULL,
    count_variance INTEGER NOT NULL, corrections INTEGER NOT NULL, adjustments INTEGER NOT NULL,
    unconfirmed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS discrepancies (
    run_id VARCHAR NOT NULL, found_at TIMESTAMPTZ NOT NULL, location VARCHAR NOT NULL,
    sku VARCHAR NOT NULL, batch VARCHAR NOT NULL, classification VARCHAR NOT NULL,
    qty BIGINT NOT NULL, value DECIMAL(18, 2) NOT NULL,
    on_hand_diff BIGINT NOT NULL, reserved_diff BIGINT NOT NULL, quarantined_diff BIGINT NOT NULL,
    in_transit_diff BIGINT NOT NULL, observed_on_hand BIGINT NOT NULL, ledger_on_hand BIGINT NOT NULL,
    action VARCHAR NOT NULL, event_id VARCHAR, applied BOOLEAN, detail VARCHAR,
    PRIMARY KEY (run_id, location, sku, batch, classification)
);
"""


class ReconciliationStore:
    """``var/reconciliation.duckdb``. Reads wait up to `read_timeout` seconds while a run writes."""

    def __init__(self, path: Path, read_timeout: float = 60.0) -> None:
        self.path = path
        self.read_timeout = read_timeout

    def last_started_at(self, source: str) -> datetime | None:
        if not self.path.exists():
            return None
        with duck.connect(self.path, _DDL, read_only=True, timeout=self.read_timeout) as con:
            row = con.execute(
                "SELECT max(started_at) FROM reconciliation_runs WHERE source = ?", [source]
            ).fetchone()
        return row[0] if row else None

    def save(self, report: RunReport) -> None:
        """The run's row and its discrepancies (a run saved again replaces its rows)."""
        s = report.summary()
        with duck.connect(self.path, _DDL) as con:
            con.execute("BEGIN")
            con.execute(
                "INSERT OR REPLACE INTO reconciliation_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    report.run_id, report.source, report.started_at, report.finished_at, s["seconds"],
                    report.positions_compared, report.events_replayed, s["in_flight"], s["drift"],
                    s["count_variance"], s["corrections"], s["adjustments"], s["unconfirmed"],
                ],
            )  # fmt: skip
            con.execute("DELETE FROM discrepancies WHERE run_id = ?", [report.run_id])
            rows = [_row(report, f) for f in report.findings]
            if rows:
                con.executemany(
                    "INSERT INTO discrepancies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            con.execute("COMMIT")

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs (the live state's and legacy comparisons), newest first."""
        return self._dicts("SELECT * FROM reconciliation_runs ORDER BY started_at DESC LIMIT ?", [limit])

    def discrepancies(self, run_id: str) -> list[dict[str, Any]]:
        """What one run found, by class, the largest value first."""
        return self._dicts(
            "SELECT * FROM discrepancies WHERE run_id = ?"
            " ORDER BY classification, abs(value) DESC, location, sku, batch",
            [run_id],
        )

    def _dicts(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with duck.connect(self.path, _DDL, read_only=True, timeout=self.read_timeout) as con:
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _row(report: RunReport, f: Finding) -> list[Any]:
    d = f.discrepancy
    return [
        report.run_id, report.finished_at or report.started_at, d.key.location, d.key.sku, d.key.batch,
        d.classification.value, d.qty, d.value, *(d.difference[n] for n in FIELDS),
        d.observed.on_hand, d.ledger.on_hand, f.action.value, f.event_id or None, f.applied, d.detail,
    ]  # fmt: skip
