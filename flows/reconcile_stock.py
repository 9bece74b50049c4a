"""`reconcile_stock`: the live stock state, the ledger and the cycle counts compared, every 15
minutes on the local Prefect server.

The run is the use case `stockflow.services.reconciliation.Reconciliation`; this module wires
its ports to the adapters and runs each step as a task:

* the live state: the workers' ``GET /reconcile/{location}`` (`WorkerLiveState`, through
  `infra.worker_client`);
* the ledger: the lake replayed through the core (`LakeLedger`);
* repairs: the workers' ``POST /events``; the drift alert: their ``POST /alerts`` (so it
  reaches the ``alerts`` topic and the webhooks like every other alert);
* the audit trail: `stores.audit_log`; the reports: `stores.reconciliation`
  (``var/reconciliation.duckdb``, which the dashboards read).

`reconcile_legacy` compares a legacy system's stock export with the ledger in the same terms
(report only), for ``stockflow reconcile --legacy FILE.csv``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from infra.worker_client import StockApiError, WorkerClient
from lake import CheckpointStore, LedgerOnly, partition_for, read_table, replay_lake, replay_partitions
from stockflow.config import Settings, get_settings
from stockflow.ledger import Ledger, PositionKey
from stockflow.masterdata import Catalog
from stockflow.reconciliation import Classification, Finding, RunReport
from stockflow.services import reconciliation as use_case
from stockflow.services.reconciliation import Reconciliation, Snapshot
from stores.audit_log import AuditLog
from stores.reconciliation import ReconciliationStore


# ----------------------------------------------------------------------------- adapters
def owner_locations(catalog: Catalog, partitions: int) -> dict[int, str]:
    """One location per partition that owns any (requests for it reach that partition's worker)."""
    out: dict[int, str] = {}
    for location in sorted(catalog.locations):
        out.setdefault(partition_for(location, partitions), location)
    return dict(sorted(out.items()))


class WorkerLiveState:
    """The live state as the workers serve it, one request per partition."""

    def __init__(self, client: WorkerClient, catalog: Catalog, partitions: int) -> None:
        self.client = client
        self.owners = owner_locations(catalog, partitions)
        #: Per partition, as of the last snapshots: an apply_seq at or below which every lake row
        #: of the partition had landed (the worker's landed mark, capped at what its state included).
        self.landed: dict[int, int] = {}

    def snapshots(self) -> dict[int, Snapshot]:
        out = {}
        for partition, location in self.owners.items():
            state = self.client.partition_state(location)
            if state.partition != partition:
                raise StockApiError(f"{location} is served from partition {state.partition}, not {partition}")
            out[partition] = Snapshot(partition, state.applied_seq, state.positions, state.unlanded)
            self.landed[partition] = min(state.applied_seq, state.landed_seq)
        return out

    def applied(self, partition: int, event_ids: Collection[str]) -> Mapping[str, bool]:
        return self.client.applied(self.owners[partition], event_ids)


class LakeLedger:
    """The ledger as the lake replays it (the replay behind the use case's ledger ports).

    With `checkpoints`, each partition's replay starts from the reconciliation's own newest
    checkpoint, and the run leaves a new one at the mark `landed` gives (below it every row had
    landed when the live state was taken). These checkpoints are made by this replay of the lake
    alone, never from a worker's state or checkpoints: a drift in the live state, or in what a
    worker restored, shows as a difference here. `full` ignores them (the nightly run)."""

    def __init__(
        self,
        lake_dir: Path,
        catalog: Catalog,
        partitions: int,
        checkpoints: CheckpointStore | None = None,
        landed: Callable[[], Mapping[int, int]] | None = None,
        full: bool = False,
    ) -> None:
        self.lake_dir, self.catalog, self.partitions = lake_dir, catalog, partitions
        self.checkpoints, self.landed, self.full = checkpoints, landed, full

    def replay(self, until_seq: Mapping[int, int]) -> tuple[dict[int, Ledger], int]:
        done = replay_partitions(
            self.lake_dir,
            self.catalog,
            until_seq.keys(),
            self.partitions,
            lambda: LedgerOnly.new(self.catalog),
            until_seq=until_seq,
            # a full replay starts from no checkpoint, and leaves the newest one to start from
            checkpoints=_Fresh(self.checkpoints) if self.full and self.checkpoints else self.checkpoints,
            save_at=self.landed() if self.landed is not None else None,
        )
        return {p: proc.ledger for p, proc in done.processors.items()}, done.events

    def replay_all(self) -> tuple[Ledger, int]:
        procs, replayed = replay_lake(
            self.lake_dir, self.catalog, [0], 1, lambda: LedgerOnly.new(self.catalog)
        )
        return procs[0].ledger, replayed

    def moved_since(self, as_of: datetime) -> set[PositionKey]:
        table = read_table(self.lake_dir, "inventory_changed", ["location", "sku", "batch", "occurred_at"])
        return {
            PositionKey(r["location"], r["sku"], r["batch"])
            for r in table.to_pylist()
            if r["occurred_at"] > as_of
        }


class _Fresh(CheckpointStore):
    """A checkpoint store that offers none to start from, but keeps what is written."""

    def __init__(self, store: CheckpointStore) -> None:
        super().__init__(store.root, store.partition_count, store.keep)

    def newest(self, partition: int, at_most: int | None = None) -> None:
        return None


def reconciliation(
    settings: Settings, web_url: str | None = None, run_id: str | None = None, full: bool = False
) -> Reconciliation:
    """One run of the use case, wired to the workers, the lake, the audit log and the store
    (`full`: the ledger replayed from the lake's beginning, not from the last run's checkpoints)."""
    catalog = Catalog.load(settings.masterdata_path)
    workers = WorkerClient(web_url or settings.web_url)
    live = WorkerLiveState(workers, catalog, settings.topic_partitions)
    checkpoints = CheckpointStore(
        settings.reconciliation_checkpoints_dir, settings.topic_partitions, settings.checkpoints_kept
    )
    return Reconciliation(
        catalog,
        live=live,
        ledger=LakeLedger(
            settings.lake_dir,
            catalog,
            settings.topic_partitions,
            checkpoints,
            landed=lambda: dict(live.landed),
            full=full,
        ),
        events=workers,
        audit=AuditLog(settings.var_dir),
        reports=ReconciliationStore(settings.reconciliation_path),
        alerts=workers,
        run_id=run_id,
    )


def reconcile_legacy(settings: Settings, export: Path, as_of: datetime | None = None) -> RunReport:
    """A legacy system's stock export vs the ledger (report only); positions the ledger moved
    after `as_of` (when the export was taken) are in flight."""
    catalog = Catalog.load(settings.masterdata_path)
    return use_case.reconcile_legacy(
        export.read_text(encoding="utf-8"),
        export.name,
        catalog,
        LakeLedger(settings.lake_dir, catalog, settings.topic_partitions),
        ReconciliationStore(settings.reconciliation_path),
        as_of,
    )


# ----------------------------------------------------------------------------- the flow
@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def snapshot_state(run: Reconciliation) -> dict[int, Snapshot]:
    return run.snapshot()


@task(cache_policy=NO_CACHE)
def replay_ledger(run: Reconciliation, snapshots: dict[int, Snapshot]) -> dict[int, Ledger]:
    return run.replay(snapshots)


@task(cache_policy=NO_CACHE)
def classify_differences(
    run: Reconciliation, snapshots: dict[int, Snapshot], ledgers: dict[int, Ledger]
) -> list[Finding]:
    return run.classify(snapshots, ledgers)


@task(cache_policy=NO_CACHE)
def repair_state(run: Reconciliation, findings: list[Finding], wait_seconds: float) -> list[Finding]:
    return run.repair(findings, wait_seconds)


@task(retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def store_report(run: Reconciliation, findings: list[Finding]) -> dict[str, Any]:
    return run.store(findings).summary()


@task(retries=3, retry_delay_seconds=5, cache_policy=NO_CACHE)
def send_drift_alert(run: Reconciliation) -> str | None:
    """Through the workers' alerts (the same alert id when retried)."""
    found = run.raise_alert()
    return found.alert_id if found is not None else None


def _full_replay_marker(settings: Settings) -> Path:
    return settings.reconciliation_checkpoints_dir / "last_full_replay"


def full_replay_due(settings: Settings) -> bool:
    """Whether this run replays the whole lake: once every `reconcile_full_replay_hours`, so that
    a flaw in the reconciliation's own checkpoints cannot outlive a day."""
    marker = _full_replay_marker(settings)
    try:
        last = datetime.fromisoformat(marker.read_text().strip())
    except (OSError, ValueError):
        return True
    return datetime.now(UTC) - last >= timedelta(hours=settings.reconcile_full_replay_hours)


def mark_full_replay(settings: Settings) -> None:
    marker = _full_replay_marker(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(datetime.now(UTC).isoformat())


@flow(name="reconcile_stock")
def reconcile_stock(
    var_dir: str | None = None,
    web_url: str | None = None,
    repair: bool | None = None,
    wait_seconds: float = 30.0,
    full_replay: bool | None = None,
) -> dict[str, Any]:
    """Compare the live stock state with the ledger and the counts; repair drift, book count variances."""
    logger = get_run_logger()
    settings = get_settings()
    if var_dir:
        settings = settings.model_copy(update={"var_dir": Path(var_dir)})
    full = full_replay_due(settings) if full_replay is None else full_replay
    run = reconciliation(settings, web_url, full=full)
    snapshots = snapshot_state(run)
    findings = classify_differences(run, snapshots, replay_ledger(run, snapshots))
    if settings.reconcile_repair if repair is None else repair:
        findings = repair_state(run, findings, wait_seconds)
    else:
        findings = run.report_only(findings)
    summary = store_report(run, findings)
    send_drift_alert(run)
    for f in findings:
        if f.discrepancy.classification is not Classification.IN_FLIGHT:
            d = f.discrepancy
            logger.warning(
                "%s at %s %s %s: %s → %s %s", d.classification, d.key.location, d.key.sku, d.key.batch or "-",
                d.detail, f.action, f.event_id,
            )  # fmt: skip
    if full:
        mark_full_replay(settings)
    logger.info("reconciliation %s%s", "(full replay) " if full else "", summary)
    return summary
