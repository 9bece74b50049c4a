"""Recovery benchmark: how long one partition takes to rebuild after 1 day and after 60 days of
a 300-store chain's history (same events per day).

The chain runs on 16 partitions; the rebuilt partition owns 19 stores and a warehouse, whose
days the simulator plays in full (opening stock, receipts, transfers, tills, counts, sensors)
and which land, as a worker lands them, through the lake writer with checkpoints (every
20,000 events, as the workers' default, and at the end of the last day). The other 280 stores'
traffic lands in the same files (their event rows, copied from the simulated stores under
other codes), as it would from the workers that own them. After the history comes a tail: the
first 3,000 events of the next day, landed after the newest checkpoint.

Figures: the rebuild of the partition, through the function a worker's rebuild calls (newest
checkpoint, then the rows landed after it), at both sizes; the 60-day one must take at most
1.5 times the 1-day one. Baseline: the same replay from the lake's beginning (no checkpoint),
in the same run. Then one reconciliation replay at both sizes, from the reconciliation's own
checkpoints (written by its previous run).
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.pipeline import Figure, report_and_save
from lake import CheckpointStore, LedgerOnly, replay_partitions
from lake.landing import Landing
from lake.rows import event_row
from simulator.company import Simulation, build_catalog
from stockflow.events import encode_event
from stockflow.masterdata import Catalog
from stockflow.processing import StockProcessor

console = Console()
SEED = 7
START = date(2026, 3, 1)
#: The rebuilt partition's share of a 300-store chain on 16 partitions.
STORES, WAREHOUSES, SKUS = 19, 1, 300
#: Copies of each of its events under other codes: the other partitions' rows in the same files.
OTHER_STORES = 300 - STORES
TAIL_EVENTS = int(os.environ.get("BENCH_RECOVERY_TAIL", "3000"))
LONG_DAYS = int(os.environ.get("BENCH_RECOVERY_DAYS", "60"))
CHECKPOINT_EVERY = 20_000
REPEATS = 3


class ChainLanding(Landing):
    """The partition's events applied and landed; the rest of the chain's rows beside them."""

    def __init__(self, root: Path, catalog: Catalog, copies: int, store: CheckpointStore) -> None:
        super().__init__(
            root,
            1,
            lambda: StockProcessor(catalog),
            store,
            checkpoint_every_events=CHECKPOINT_EVERY,
            writer_id="bench",
        )
        self.copies = copies
        self.other_rows = 0

    def apply(self, event: Any, offset: int = 0) -> None:
        super().apply(event, offset)
        row = event_row(event, encode_event(event), event.topic.value, 7, offset, 0)
        for r in range(self.copies):
            self.writer.append(
                event.topic.value,
                {
                    **row,
                    "event_id": f"{event.event_id}-R{r}",
                    "location": f"{event.location_id}-R{r}",
                    "apply_seq": self.writer.next_seq(),
                },
            )
        self.other_rows += self.copies


def build_lake(root: Path, days: int) -> tuple[Catalog, CheckpointStore, dict[str, int]]:
    catalog = build_catalog(SEED, n_skus=SKUS, n_stores=STORES, n_warehouses=WAREHOUSES)
    store = CheckpointStore(root / "_checkpoints" / "stock", 1)
    copies = round(OTHER_STORES / (STORES + WAREHOUSES))
    landing = ChainLanding(root, catalog, copies, store)
    sim = Simulation(catalog, seed=SEED)
    started = time.perf_counter()
    landing.apply_all(sim.history(START, days), flush_every=2_000)
    landing.flush(checkpoint_all=True)  # the state at the day's end (as the 5-minute timer would)
    tail = list(_take(sim.day(START + timedelta(days=days)), TAIL_EVENTS))
    for n, event in enumerate(tail, 1):
        landing.apply(event, n)
        if n % 500 == 0:
            landing.flush()  # the workers flush every second: the tail comes in many files
    landing.flush()
    console.print(
        f"  {days} day(s): {landing.counts['applied']:,} events of the partition, "
        f"{landing.other_rows:,} rows of the other partitions, in {time.perf_counter() - started:.0f} s"
    )
    return catalog, store, dict(landing.counts)


def _take(events: Iterable[Any], n: int) -> Iterable[Any]:
    for i, event in enumerate(events):
        if i >= n:
            return
        yield event


def timed(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(root: Path, days: int) -> dict[str, float]:
    catalog, store, counts = build_lake(root, days)
    gc.collect()  # the landing's processors: a worker that rebuilds has nothing else in memory

    def rebuild():  # what StockState.rebuild does for a partition it gains
        return replay_partitions(root, catalog, [0], 1, lambda: StockProcessor(catalog), checkpoints=store)

    def from_scratch():
        return replay_partitions(root, catalog, [0], 1, lambda: StockProcessor(catalog))

    seconds, quick = timed(rebuild)
    full_seconds, full = timed(from_scratch, repeats=1)
    same = {k: p.as_dict() for k, p in quick.processors[0].ledger.positions()} == {
        k: p.as_dict() for k, p in full.processors[0].ledger.positions()
    }
    assert same, "the rebuild from a checkpoint differs from the replay from the beginning"
    newest = store.paths(0)[0][1]
    started_from, highest = quick.started_from[0], quick.highest_seq[0]
    tail_events = quick.events
    positions = sum(1 for _ in quick.processors[0].ledger.positions())
    del quick, full
    gc.collect()

    # the reconciliation's replay: its previous run left a checkpoint at the day's end
    recon_store = CheckpointStore(root / "_checkpoints" / "reconciliation", 1)
    upto = {0: highest}
    previous = replay_partitions(
        root, catalog, [0], 1, lambda: LedgerOnly.new(catalog), until_seq={0: started_from}
    )
    recon_store.write(0, started_from, previous.processors[0].snapshot())
    del previous
    gc.collect()
    recon_seconds, _ = timed(
        lambda: replay_partitions(
            root, catalog, [0], 1, lambda: LedgerOnly.new(catalog), until_seq=upto, checkpoints=recon_store
        )
    )
    return {
        "rebuild": seconds,
        "full": full_seconds,
        "recon": recon_seconds,
        "tail_events": tail_events,
        "history_events": counts["applied"],
        "checkpoint_mb": newest.stat().st_size / 1e6,
        "positions": positions,
    }


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="stockflow-recovery-") as tmp:
        console.print("recovery: landing the histories …")
        short = measure(Path(tmp) / "short", 1)
        long = measure(Path(tmp) / "long", LONG_DAYS)
    ratio = long["rebuild"] / short["rebuild"]
    return [
        Figure(
            f"rebuild of one partition after 1 day ({short['tail_events']:,} events after the checkpoint)",
            round(short["rebuild"], 3),
            "s",
            baseline=round(short["full"], 3),
        ),
        Figure(
            f"rebuild of one partition after {LONG_DAYS} days ({long['tail_events']:,} events after the checkpoint)",
            round(long["rebuild"], 3),
            "s",
            baseline=round(long["full"], 3),
            target=f"≤ 1.5 × the 1-day rebuild ({ratio:.2f}×)",
            ok=ratio <= 1.5,
        ),
        Figure("reconciliation replay after 1 day", round(short["recon"], 3), "s"),
        Figure(
            f"reconciliation replay after {LONG_DAYS} days",
            round(long["recon"], 3),
            "s",
            baseline=round(short["recon"], 3),
        ),
        Figure(
            f"checkpoint size after 1 / {LONG_DAYS} days (MB)",
            round(long["checkpoint_mb"], 2),
            "MB",
            baseline=round(short["checkpoint_mb"], 2),
        ),
        Figure(
            f"partition history after 1 / {LONG_DAYS} days (events)",
            long["history_events"],
            "events",
            baseline=short["history_events"],
        ),
        Figure(
            f"positions held after 1 / {LONG_DAYS} days",
            long["positions"],
            "positions",
            baseline=short["positions"],
        ),
    ]


def main() -> None:
    report_and_save(
        run(),
        "stockflow recovery benchmark: one partition of a 300-store chain (same run)",
        "recovery",
    )


if __name__ == "__main__":
    main()
