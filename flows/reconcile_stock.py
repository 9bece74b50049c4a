"""`reconcile_stock`: the live stock state, the ledger and the cycle counts compared, every 15
minutes on the local Prefect server.

1. **Snapshot** each partition's state from the workers (``GET /reconcile/{location}``, taken in
   one step of the owning worker's event loop), with the apply_seq it includes everything up to
   and the positions whose lake rows are not written yet.
2. **Replay** the lake through the core, each partition up to its snapshot's apply_seq: the
   ledger as of the same moment.
3. **Classify** (`stockflow.reconciliation`): in flight, drift, count variance.
4. **Repair**, unless asked to report only: a `StockCorrection` per drift and a
   ``count_variance`` adjustment per count whose difference is not booked yet, produced through
   the workers' ``POST /events`` (never written into their tables), then wait until the state
   has applied them. Each is written to the audit log with the reason.
5. **Report** into ``var/reconciliation.duckdb`` (``reconciliation_runs``, ``discrepancies``),
   which the dashboard reads.

`reconcile_legacy` compares a legacy system's stock export with the ledger in the same terms
(report only), for ``stockflow reconcile --legacy FILE.csv``.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from infra.worker_client import StockApiError, publisher, request_json
from lake import LakeWriter, LedgerOnly, alert_row, partition_for, read_table, replay_lake
from stockflow.alerts import AlertType, Severity, alert
from stockflow.config import Settings, get_settings
from stockflow.events import encode_event
from stockflow.ledger import Ledger, Position, PositionKey
from stockflow.masterdata import Catalog
from stockflow.reconciliation import (
    FIELDS,
    Action,
    Classification,
    Discrepancy,
    compare_legacy,
    compare_state,
    correction,
    count_variances,
    parse_legacy_csv,
    variance_adjustment,
    variance_adjustment_id,
)
from stores import duck
from stores.audit_log import AuditLog

ACTOR = "reconcile_stock"

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


# ----------------------------------------------------------------------------- the state
@dataclass
class Snapshot:
    """One partition's live state, as its worker served it."""

    partition: int
    location: str  # a location the partition owns: how its worker is reached
    applied_seq: int
    positions: dict[PositionKey, Position]
    unlanded: set[PositionKey]


def owner_locations(catalog: Catalog, partitions: int) -> dict[int, str]:
    """One location per partition that owns any (requests for it reach that partition's worker)."""
    out: dict[int, str] = {}
    for location in sorted(catalog.locations):
        out.setdefault(partition_for(location, partitions), location)
    return dict(sorted(out.items()))


def take_snapshot(web_url: str, partition: int, location: str) -> Snapshot:
    body = request_json(f"{web_url}/reconcile/{urllib.parse.quote(location)}")
    if body["partition"] != partition:
        raise StockApiError(f"{location} is served from partition {body['partition']}, not {partition}")
    return Snapshot(
        partition,
        location,
        int(body["applied_seq"]),
        {PositionKey(*row[:3]): Position(*row[3:]) for row in body["positions"]},
        {PositionKey(*row) for row in body["unlanded"]},
    )


def applied_by_state(web_url: str, location: str, event_ids: Iterable[str]) -> dict[str, bool]:
    """Which of these events the state of the partition owning `location` has applied."""
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    query = urllib.parse.urlencode({"events": ",".join(ids), "positions": "no"})
    return request_json(f"{web_url}/reconcile/{urllib.parse.quote(location)}?{query}")["applied"]


# ----------------------------------------------------------------------------- the report
@dataclass
class Finding:
    """A discrepancy with what the run did about it."""

    discrepancy: Discrepancy
    action: Action
    event_id: str = ""
    #: For a repair: whether the state had applied it when the run ended.
    applied: bool | None = None


@dataclass
class RunReport:
    run_id: str
    source: str
    started_at: datetime
    positions_compared: int = 0
    events_replayed: int = 0
    findings: list[Finding] = field(default_factory=list)
    finished_at: datetime | None = None

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    def count(self, classification: Classification) -> int:
        return sum(1 for f in self.findings if f.discrepancy.classification is classification)

    def sent(self, action: Action) -> int:
        return sum(1 for f in self.findings if f.action is action)

    @property
    def unconfirmed(self) -> int:
        return sum(1 for f in self.findings if f.applied is False)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "seconds": round(self.seconds, 2),
            "positions_compared": self.positions_compared,
            "events_replayed": self.events_replayed,
            **{c.value: self.count(c) for c in Classification},
            "corrections": self.sent(Action.CORRECTION),
            "adjustments": self.sent(Action.ADJUSTMENT),
            "unconfirmed": self.unconfirmed,
        }


class ReconciliationStore:
    """``var/reconciliation.duckdb``: one row per run, one per discrepancy found."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def last_started_at(self, source: str) -> datetime | None:
        if not self.path.exists():
            return None
        with duck.connect(self.path, _DDL, read_only=True) as con:
            row = con.execute(
                "SELECT max(started_at) FROM reconciliation_runs WHERE source = ?", [source]
            ).fetchone()
        return row[0] if row else None

    def save(self, report: RunReport) -> None:
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
        return self._dicts("SELECT * FROM reconciliation_runs ORDER BY started_at DESC LIMIT ?", [limit])

    def discrepancies(self, run_id: str) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT * FROM discrepancies WHERE run_id = ? ORDER BY classification, location, sku, batch",
            [run_id],
        )

    def _dicts(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with duck.connect(self.path, _DDL, read_only=True) as con:
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


# ----------------------------------------------------------------------------- the run
class Reconciler:
    """The steps of one reconciliation run (the flow runs each as a task)."""

    def __init__(self, settings: Settings, web_url: str | None = None, run_id: str | None = None) -> None:
        self.settings = settings
        self.web_url = web_url or settings.web_url
        self.catalog = Catalog.load(settings.masterdata_path)
        self.store = ReconciliationStore(settings.reconciliation_path)
        started = datetime.now(UTC)
        self.report = RunReport(
            run_id or f"rec-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", "stream", started
        )

    def snapshots(self) -> dict[int, Snapshot]:
        owners = owner_locations(self.catalog, self.settings.topic_partitions)
        return {p: take_snapshot(self.web_url, p, loc) for p, loc in owners.items()}

    def replay(self, snapshots: Mapping[int, Snapshot]) -> dict[int, Ledger]:
        procs, replayed = replay_lake(
            self.settings.lake_dir,
            self.catalog,
            snapshots.keys(),
            self.settings.topic_partitions,
            lambda: LedgerOnly.new(self.catalog),
            until_seq={p: s.applied_seq for p, s in snapshots.items()},
        )
        self.report.events_replayed = replayed
        return {p: proc.ledger for p, proc in procs.items()}

    def classify(self, snapshots: Mapping[int, Snapshot], ledgers: Mapping[int, Ledger]) -> list[Finding]:
        """Every discrepancy with the action it calls for (before any is taken)."""
        since = self.store.last_started_at("stream")
        findings: list[Finding] = []
        for p, snap in snapshots.items():
            ledger = ledgers[p]
            book = dict(ledger.positions())
            compared = compare_state(snap.positions, book, snap.unlanded, self.catalog)
            self.report.positions_compared += compared.positions_compared
            for d in compared.discrepancies:
                action = Action.NONE if d.classification is Classification.IN_FLIGHT else Action.CORRECTION
                findings.append(Finding(d, action))
            variances = count_variances(ledger.latest_counts(), book, self.catalog)
            ids = {variance_adjustment_id(d.count.event_id): d for d in variances if d.count is not None}
            unlanded = [i for i in ids if not ledger.has_applied(i)]
            in_state = applied_by_state(self.web_url, snap.location, unlanded)
            for adjustment_id, d in ids.items():
                posted = ledger.has_applied(adjustment_id) or in_state.get(adjustment_id, False)
                if not posted:
                    findings.append(Finding(d, Action.ADJUSTMENT, adjustment_id))
                elif since is None or (d.count is not None and d.count.occurred_at >= since):
                    findings.append(Finding(d, Action.ALREADY_POSTED, adjustment_id))  # new since last run
        return findings

    def repair(self, findings: list[Finding], wait_seconds: float = 30.0) -> list[Finding]:
        """Send the corrections and adjustments; wait until the state has applied them."""
        publish = publisher(self.web_url)
        audit = AuditLog(self.settings.var_dir)
        now = datetime.now(UTC)
        sent: dict[str, Finding] = {}
        for f in findings:
            d = f.discrepancy
            if f.action is Action.CORRECTION:
                event = correction(d, self.report.run_id, now)
                what = "stock.corrected"
            elif f.action is Action.ADJUSTMENT and d.count is not None:
                event = variance_adjustment(d.count, now)
                what = "stock.count_variance_posted"
            else:
                continue
            publish(encode_event(event))
            f.event_id = event.event_id
            sent[event.event_id] = f
            audit.append(
                ACTOR,
                what,
                f"{d.key.location} {d.key.sku} {d.key.batch or '-'}",
                role="system",
                reason=d.detail,
                details={
                    "run_id": self.report.run_id,
                    "event_id": event.event_id,
                    "classification": d.classification.value,
                    "difference": dict(d.difference),
                    "value": str(d.value),
                },
            )
        self._confirm(sent, wait_seconds)
        return findings

    def _confirm(self, sent: dict[str, Finding], wait_seconds: float) -> None:
        by_location: dict[str, list[str]] = {}
        owners = owner_locations(self.catalog, self.settings.topic_partitions)
        for event_id, f in sent.items():
            owner = owners[partition_for(f.discrepancy.key.location, self.settings.topic_partitions)]
            by_location.setdefault(owner, []).append(event_id)
        deadline = time.monotonic() + wait_seconds
        while True:
            for location, ids in by_location.items():
                waiting = [i for i in ids if not sent[i].applied]
                for event_id, done in applied_by_state(self.web_url, location, waiting).items():
                    sent[event_id].applied = done
            if all(f.applied for f in sent.values()) or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def finish(self, findings: list[Finding]) -> RunReport:
        self.report.findings = findings
        self.report.finished_at = datetime.now(UTC)
        self.store.save(self.report)
        self.raise_alert()
        return self.report

    def raise_alert(self) -> None:
        """A drift alert in the lake's alerts table (the dashboards' Alerts page) when the state
        had drifted; critical when a repair was not confirmed."""
        report = self.report
        drift = [f for f in report.findings if f.discrepancy.classification is Classification.DRIFT]
        if not drift:
            return
        unconfirmed = report.unconfirmed
        worth = sum(abs(f.discrepancy.value) for f in drift)
        now = report.finished_at or datetime.now(UTC)
        found = alert(
            AlertType.STOCK_DRIFT,
            Severity.CRITICAL if unconfirmed else Severity.WARNING,
            now,
            drift[0].discrepancy.key.location if len({f.discrepancy.key.location for f in drift}) == 1 else "",
            f"the live stock had drifted from the ledger at {len(drift)} position(s) worth {worth:,} at standard "
            f"cost; " + (f"{unconfirmed} repair(s) not confirmed" if unconfirmed else "all corrected")
            + f" (reconciliation {report.run_id})",
            id_parts=(report.run_id,),
            run_id=report.run_id,
            positions=[f"{f.discrepancy.key.location}|{f.discrepancy.key.sku}|{f.discrepancy.key.batch}" for f in drift][:50],
        )  # fmt: skip
        writer = LakeWriter(self.settings.lake_dir, "reconcile")
        writer.append("alerts", alert_row(found, now))
        writer.flush()

    def run(self, repair: bool = True, wait_seconds: float = 30.0) -> RunReport:
        snapshots = self.snapshots()
        findings = self.classify(snapshots, self.replay(snapshots))
        if repair:
            self.repair(findings, wait_seconds)
        else:
            report_only(findings)
        return self.finish(findings)


def report_only(findings: list[Finding]) -> None:
    for f in findings:
        if f.action in (Action.CORRECTION, Action.ADJUSTMENT):
            f.action = Action.REPORT_ONLY


# ----------------------------------------------------------------------------- legacy exports
def reconcile_legacy(settings: Settings, export: Path, as_of: datetime | None = None) -> RunReport:
    """A legacy system's stock export vs the ledger (report only); positions the ledger moved
    after `as_of` (when the export was taken) are in flight."""
    catalog = Catalog.load(settings.masterdata_path)
    rows = parse_legacy_csv(export.read_text(encoding="utf-8"), catalog)
    started = datetime.now(UTC)
    report = RunReport(
        f"legacy-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", f"legacy:{export.name}", started
    )
    procs, report.events_replayed = replay_lake(
        settings.lake_dir, catalog, [0], 1, lambda: LedgerOnly.new(catalog)
    )
    ledger = procs[0].ledger
    moved: set[PositionKey] = set()
    if as_of is not None:
        table = read_table(
            settings.lake_dir, "inventory_changed", ["location", "sku", "batch", "occurred_at"]
        )
        for r in table.to_pylist():
            if r["occurred_at"] > as_of:
                moved.add(PositionKey(r["location"], r["sku"], r["batch"]))
    compared = compare_legacy(
        rows, dict(ledger.positions()), moved, ledger.latest_counts(), catalog, ledger.has_applied
    )
    report.positions_compared = compared.comparison.positions_compared
    report.findings = [
        Finding(d, Action.NONE if d.classification is Classification.IN_FLIGHT else Action.REPORT_ONLY)
        for d in compared.comparison.discrepancies
    ]
    report.finished_at = datetime.now(UTC)
    ReconciliationStore(settings.reconciliation_path).save(report)
    return report


# ----------------------------------------------------------------------------- the flow
@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def snapshot_state(reconciler: Reconciler) -> dict[int, Snapshot]:
    return reconciler.snapshots()


@task(cache_policy=NO_CACHE)
def replay_ledger(reconciler: Reconciler, snapshots: dict[int, Snapshot]) -> dict[int, Ledger]:
    return reconciler.replay(snapshots)


@task(cache_policy=NO_CACHE)
def classify_differences(
    reconciler: Reconciler, snapshots: dict[int, Snapshot], ledgers: dict[int, Ledger]
) -> list[Finding]:
    return reconciler.classify(snapshots, ledgers)


@task(cache_policy=NO_CACHE)
def repair_state(reconciler: Reconciler, findings: list[Finding], wait_seconds: float) -> list[Finding]:
    return reconciler.repair(findings, wait_seconds)


@task(retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def store_report(reconciler: Reconciler, findings: list[Finding]) -> dict[str, Any]:
    return reconciler.finish(findings).summary()


@flow(name="reconcile_stock")
def reconcile_stock(
    var_dir: str | None = None,
    web_url: str | None = None,
    repair: bool | None = None,
    wait_seconds: float = 30.0,
) -> dict[str, Any]:
    """Compare the live stock state with the ledger and the counts; repair drift, book count variances."""
    logger = get_run_logger()
    settings = get_settings()
    if var_dir:
        settings = settings.model_copy(update={"var_dir": Path(var_dir)})
    reconciler = Reconciler(settings, web_url)
    snapshots = snapshot_state(reconciler)
    findings = classify_differences(reconciler, snapshots, replay_ledger(reconciler, snapshots))
    if settings.reconcile_repair if repair is None else repair:
        findings = repair_state(reconciler, findings, wait_seconds)
    else:
        report_only(findings)
    summary = store_report(reconciler, findings)
    for f in findings:
        if f.discrepancy.classification is not Classification.IN_FLIGHT:
            d = f.discrepancy
            logger.warning(
                "%s at %s %s %s: %s → %s %s", d.classification, d.key.location, d.key.sku, d.key.batch or "-",
                d.detail, f.action, f.event_id,
            )  # fmt: skip
    logger.info("reconciliation %s", summary)
    return summary
