"""Reconcile stock: the live state, the ledger and the counts compared, and drift repaired.

One run (`Reconciliation`):

1. **Snapshot** every partition's live state (`LiveState`), each with the apply_seq it includes
   everything up to and the positions whose lake rows are not written yet.
2. **Replay** the ledger (`LedgerReplay`), each partition up to its snapshot's apply_seq: the
   record as of the same moment.
3. **Classify** with the rules of `stockflow.reconciliation`: in flight, drift, count variance.
4. **Repair**, unless asked to report only: a `StockCorrection` per drift and a
   ``count_variance`` adjustment per count whose difference is not booked yet, published into
   the stream (`EventPublisher`, never written into the workers' tables), each recorded in the
   audit trail with its reason before it is published; then wait until the state has applied
   them.
5. **Report** (`ReportStore`), and raise a drift alert (`AlertPublisher`) when the state had
   drifted.

`reconcile_legacy` compares a legacy system's stock export with the whole ledger in the same
terms (report only), reading the legacy system's codes through master data's aliases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from stockflow.alerts import Alert
from stockflow.events import StockAdjustment, StockCorrection
from stockflow.ledger import Ledger, Position, PositionKey
from stockflow.masterdata import Catalog
from stockflow.reconciliation import (
    Action,
    Finding,
    RunReport,
    compare_legacy,
    compare_state,
    correction,
    count_variance_action,
    count_variances,
    drift_alert,
    legacy_action,
    new_run_id,
    parse_legacy_csv,
    state_action,
    variance_adjustment,
    variance_adjustment_id,
    withheld,
)
from stockflow.services.auditing import recorded_first
from stockflow.services.ports import AuditTrail, EventPublisher

#: Who the audit trail says repaired the state.
ACTOR = "reconcile_stock"
#: The report source of the live state's runs.
STREAM = "stream"


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- ports
@dataclass(frozen=True)
class Snapshot:
    """One partition's live state."""

    partition: int
    #: The apply_seq the state includes every event up to.
    applied_seq: int
    positions: Mapping[PositionKey, Position]
    #: Positions touched by events the state applied whose lake rows are not written yet.
    unlanded: frozenset[PositionKey]


class LiveState(Protocol):
    """The live stock state, partition by partition."""

    def snapshots(self) -> dict[int, Snapshot]:
        """Every partition's state, each taken at one moment."""
        ...

    def applied(self, partition: int, event_ids: Collection[str]) -> Mapping[str, bool]:
        """Which of these events the partition's state has applied."""
        ...


class LedgerReplay(Protocol):
    """The ledger: the record's accepted events replayed through the core."""

    def replay(self, until_seq: Mapping[int, int]) -> tuple[dict[int, Ledger], int]:
        """Each partition's ledger up to its apply_seq, and how many events were replayed."""
        ...


class LedgerHistory(Protocol):
    """The whole ledger, for a comparison with another system's stock."""

    def replay_all(self) -> tuple[Ledger, int]:
        """Every partition's events in one ledger, and how many were replayed."""
        ...

    def moved_since(self, as_of: datetime) -> set[PositionKey]:
        """The positions that events after `as_of` moved."""
        ...


class ReportStore(Protocol):
    """Where the runs' reports are kept."""

    def last_started_at(self, source: str) -> datetime | None: ...

    def save(self, report: RunReport) -> None: ...


class AlertPublisher(Protocol):
    """Raises an alert where every alert goes (the alerts topic and the lake)."""

    def publish_alert(self, alert: Alert) -> None: ...


# ----------------------------------------------------------------------------- the run
class Reconciliation:
    """The steps of one run against the live state (`run` takes them all; a flow may take them
    one by one)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        live: LiveState,
        ledger: LedgerReplay,
        events: EventPublisher,
        audit: AuditTrail,
        reports: ReportStore,
        alerts: AlertPublisher,
        run_id: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.catalog = catalog
        self.live, self.ledger, self.events, self.audit = live, ledger, events, audit
        self.reports, self.alerts = reports, alerts
        self.clock, self.sleep = clock, sleep
        started = clock()
        self.report = RunReport(run_id or new_run_id("rec", started), STREAM, started)

    def snapshot(self) -> dict[int, Snapshot]:
        return self.live.snapshots()

    def replay(self, snapshots: Mapping[int, Snapshot]) -> dict[int, Ledger]:
        ledgers, self.report.events_replayed = self.ledger.replay(
            {p: s.applied_seq for p, s in snapshots.items()}
        )
        return ledgers

    def classify(self, snapshots: Mapping[int, Snapshot], ledgers: Mapping[int, Ledger]) -> list[Finding]:
        """Every discrepancy with the action it calls for (before any is taken)."""
        since = self.reports.last_started_at(STREAM)
        findings: list[Finding] = []
        self.report.positions_compared = 0
        for p, snap in snapshots.items():
            ledger = ledgers[p]
            book = dict(ledger.positions())
            compared = compare_state(snap.positions, book, snap.unlanded, self.catalog)
            self.report.positions_compared += compared.positions_compared
            findings += [Finding(d, state_action(d), partition=p) for d in compared.discrepancies]
            variances = count_variances(ledger.latest_counts(), book, self.catalog)
            by_id = {variance_adjustment_id(d.count.event_id): d for d in variances if d.count is not None}
            not_landed = [i for i in by_id if not ledger.has_applied(i)]
            in_state = self.live.applied(p, not_landed) if not_landed else {}
            for adjustment_id, d in by_id.items():
                posted = ledger.has_applied(adjustment_id) or in_state.get(adjustment_id, False)
                counted_since = since is None or (d.count is not None and d.count.occurred_at >= since)
                action = count_variance_action(posted, counted_since)
                if action is not None:
                    findings.append(Finding(d, action, adjustment_id, partition=p))
        return findings

    def repair(self, findings: list[Finding], wait_seconds: float = 30.0) -> list[Finding]:
        """Publish the corrections and adjustments, each recorded in the audit trail; wait until
        the state has applied them."""
        now = self.clock()
        sent: dict[str, Finding] = {}
        for f in findings:
            d = f.discrepancy
            event: StockCorrection | StockAdjustment
            if f.action is Action.CORRECTION:
                event, what = correction(d, self.report.run_id, now), "stock.corrected"
            elif f.action is Action.ADJUSTMENT and d.count is not None:
                sku = self.catalog.skus.get(d.key.sku)
                unit = sku.base_unit if sku is not None else "each"
                event, what = variance_adjustment(d.count, now, unit=unit), "stock.count_variance_posted"
            else:
                continue
            # the entry first, then the event (its id is derived: sending it again is a duplicate)
            with recorded_first(
                self.audit,
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
            ):
                self.events.publish(event)
            f.event_id = event.event_id
            sent[event.event_id] = f
        self._confirm(sent, wait_seconds)
        return findings

    def _confirm(self, sent: Mapping[str, Finding], wait_seconds: float) -> None:
        by_partition: dict[int, list[str]] = {}
        for event_id, f in sent.items():
            if f.partition is not None:
                by_partition.setdefault(f.partition, []).append(event_id)
        deadline = time.monotonic() + wait_seconds
        while True:
            for partition, ids in by_partition.items():
                waiting = [i for i in ids if not sent[i].applied]
                if waiting:
                    for event_id, done in self.live.applied(partition, waiting).items():
                        sent[event_id].applied = done
            if all(f.applied for f in sent.values()) or time.monotonic() > deadline:
                return
            self.sleep(0.5)

    def report_only(self, findings: list[Finding]) -> list[Finding]:
        """Send nothing: the repairs are reported instead."""
        for f in findings:
            f.action = withheld(f.action)
        return findings

    def store(self, findings: list[Finding]) -> RunReport:
        """Keep the report (again, when retried: the same run replaces its rows)."""
        self.report.findings = findings
        if self.report.finished_at is None:
            self.report.finished_at = self.clock()
        self.reports.save(self.report)
        return self.report

    def raise_alert(self) -> Alert | None:
        """A drift alert when the state had drifted (the same alert id when retried)."""
        found = drift_alert(self.report)
        if found is not None:
            self.alerts.publish_alert(found)
        return found

    def run(self, repair: bool = True, wait_seconds: float = 30.0) -> RunReport:
        snapshots = self.snapshot()
        findings = self.classify(snapshots, self.replay(snapshots))
        if repair:
            self.repair(findings, wait_seconds)
        else:
            self.report_only(findings)
        report = self.store(findings)
        self.raise_alert()
        return report


# ----------------------------------------------------------------------------- legacy exports
def reconcile_legacy(
    export_text: str,
    export_name: str,
    catalog: Catalog,
    ledger: LedgerHistory,
    reports: ReportStore,
    as_of: datetime | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> RunReport:
    """A legacy system's stock export vs the ledger (report only); positions the ledger moved
    after `as_of` (when the export was taken) are in flight. The export's codes are read through
    master data's aliases (the legacy system's codes for ours); a row whose code stands for
    several of ours is reported as an ambiguous code with the reason, not compared. Raises
    `LegacyFormatError` for an export that cannot be read (a code master data does not know)."""
    rows = parse_legacy_csv(export_text, catalog)
    started = clock()
    report = RunReport(new_run_id("legacy", started), f"legacy:{export_name}", started)
    book, report.events_replayed = ledger.replay_all()
    moved: Iterable[PositionKey] = ledger.moved_since(as_of) if as_of is not None else ()
    compared = compare_legacy(
        rows, dict(book.positions()), moved, book.latest_counts(), catalog, book.has_applied
    )
    report.positions_compared = compared.comparison.positions_compared
    report.findings = [Finding(d, legacy_action(d)) for d in compared.comparison.discrepancies]
    report.finished_at = clock()
    reports.save(report)
    return report
