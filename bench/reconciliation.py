"""Reconciliation benchmark: one `reconcile_stock` run over 100,000 location × SKU × batch positions.

A lake holds a receipt for each of 100,000 batches at the simulated company's locations, and
cycle counts of a few thousand of them (a tenth disagreeing with the book). A real worker on the
embedded broker rebuilds its state from that lake; then one run takes the state from the
worker's API, replays the lake through the core, classifies every difference and stores the
report (report only: the count variances are found, not booked).

Baseline: the same worker rebuilding its state from the same lake (the replay at the heart of
both). Target: the run under 30 s.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from bench.pipeline import Figure, free_port, report_and_save
from cli.supervisor import start_worker
from flows.reconcile_stock import reconciliation
from infra.processes import stop_process, wait_for_http
from lake import LakeWriter, partition_for
from simulator.company import build_catalog
from stockflow.config import Settings
from stockflow.events import CycleCount, GoodsReceipt
from stockflow.ledger import Ledger
from stockflow.reconciliation import Classification, compare_state
from streams.broker import EmbeddedBroker, ensure_topics

console = Console()
POSITIONS = int(os.environ.get("BENCH_RECONCILE_POSITIONS", "100000"))
COUNTS = POSITIONS // 20
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def write_lake(settings: Settings) -> tuple[int, Ledger]:
    """Receipts for `POSITIONS` batches and counts of `COUNTS` of them; returns events written."""
    catalog = build_catalog(settings.seed)
    catalog.save(settings.masterdata_path)
    rng = random.Random(7)
    pairs = [
        (location, sku)
        for location in sorted(catalog.locations)
        for sku, s in sorted(catalog.skus.items())
        if s.batch_managed
    ]
    writer = LakeWriter(settings.lake_dir, "bench")
    ledger = Ledger(catalog)
    supplier = sorted(catalog.suppliers)[0]
    events = 0

    def land(event: object) -> None:
        nonlocal events
        ledger.apply(event)
        location = event.location_id  # type: ignore[attr-defined]
        raw = event.model_dump_json(exclude_none=True).encode()  # type: ignore[attr-defined]
        writer.land_applied(
            event, raw, "scans", partition_for(location, settings.topic_partitions), events, (), T0
        )
        events += 1
        if writer.pending >= 20_000:
            writer.flush()

    keys = []
    for i in range(POSITIONS):
        location, sku = pairs[i % len(pairs)]
        batch = f"B{i // len(pairs):05d}"
        keys.append((location, sku, batch))
        land(
            GoodsReceipt(
                event_id=f"r{i}", occurred_at=T0 + timedelta(seconds=i), source="bench", location=location,
                purchase_order=f"PO{i // 50}", supplier=supplier, sku=sku, batch=batch,
                expiry_date=date(2027, 1, 1), qty=Decimal(rng.randint(1, 40)), unit_cost=Decimal("3.50"),
            )
        )  # fmt: skip
    for j, (location, sku, batch) in enumerate(rng.sample(keys, COUNTS)):
        on_hand = ledger.batches_at(location, sku)[batch].on_hand
        counted = on_hand - (rng.randint(1, 3) if j % 10 == 0 else 0)
        land(
            CycleCount(
                event_id=f"c{j}", occurred_at=T0 + timedelta(days=2, seconds=j), source="bench", location=location,
                count_id=f"CNT{j}", sku=sku, batch=batch, counted_qty=Decimal(max(counted, 0)),
            )
        )  # fmt: skip
    writer.flush()
    return events, ledger


def measure(tmp: Path) -> list[Figure]:
    settings = Settings(var_dir=tmp / "var", broker_port=free_port(), web_port=free_port(), kafka_url=None)
    console.print(f"reconciliation: a lake of {POSITIONS:,} positions …")
    events, ledger = write_lake(settings)
    positions = dict(ledger.positions())

    t0 = time.perf_counter()
    compared = compare_state(positions, positions, [], ledger.catalog)
    core_seconds = time.perf_counter() - t0
    assert compared.positions_compared == len(positions) >= POSITIONS

    broker = EmbeddedBroker("127.0.0.1", settings.broker_port, tmp / "broker.log")
    worker = None
    try:
        broker.start()
        ensure_topics(broker.bootstrap, settings.topic_partitions)
        worker = start_worker(settings, settings.web_port, tmp / "worker.log", loglevel="warn")
        health = wait_for_http(f"{settings.web_url}/health", 600, worker, ready_key="ready")
        rebuild = max(health["rebuild_seconds"].values())

        t0 = time.perf_counter()
        run = reconciliation(settings).run(repair=False)
        seconds = time.perf_counter() - t0
    finally:
        if worker is not None:
            stop_process(worker)
        broker.stop()
    found = run.summary()
    console.print(f"  {events:,} events; found {found}")
    assert run.positions_compared >= POSITIONS
    assert run.count(Classification.DRIFT) == 0
    assert run.count(Classification.COUNT_VARIANCE) == sum(1 for c in ledger.latest_counts() if c.variance)
    return [
        Figure(
            f"reconcile_stock run, {run.positions_compared:,} positions ({events:,} events)",
            seconds,
            "s",
            baseline=rebuild,
            target="< 30 s",
            ok=seconds < 30,
        ),
        Figure(f"core comparison alone, {len(positions):,} positions", core_seconds, "s"),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stockflow-bench-reconcile-") as tmp:
        figures = measure(Path(tmp))
    report_and_save(
        figures,
        "stockflow reconciliation benchmark (baseline: the worker rebuilding from the same lake)",
        "reconciliation",
    )


if __name__ == "__main__":
    main()
