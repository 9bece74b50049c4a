"""Books benchmark: valuing and posting stock movements, and voucher lag under a live stream.

Figures (all measured in this run):

* posting: every movement of a simulated lake valued (FIFO / moving average) and posted as
  vouchers into DuckDB, in one pass, per second. Baseline: DuckDB loading the same Parquet
  files into a table as they are (no valuation, no vouchers) — the I/O floor of the pass.
* in memory: the core alone (valuation + voucher rules), without reading or writing.
* voucher lag: event time → voucher posted, while the live stream runs at 500 events/s through
  the embedded broker and a worker, with `post_vouchers` running on a local Prefect server.
  Baseline: event time → landed in the lake for the same events (the floor the flow reads).
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from rich.console import Console

from bench.pipeline import Figure, free_port
from cli.supervisor import start_worker
from flows.server import PrefectServer
from infra.processes import stop_process, wait_for_http
from lake import LakeWriter, lake_files, movement_row
from simulator.company import TZ, Simulation, build_catalog
from simulator.producer import produce
from stockflow.config import Settings
from stockflow.ledger import Ledger
from stockflow.valuation import Valuation
from stockflow.vouchers import AccountingPolicy, VoucherRules
from stores.books import Books, first_row
from streams.broker import EmbeddedBroker, ensure_topics

console = Console()
START = date(2026, 1, 5)


def simulated_lake(root: Path, movements: int, rows_per_file: int = 2000) -> tuple[int, list]:
    """A lake of about `movements` stock movements, in files the size a busy second writes."""
    catalog = build_catalog(7)
    catalog.save(root / "masterdata.json")
    ledger = Ledger(catalog)
    writer = LakeWriter(root / "lake", "bench")
    events = 0
    batches = []
    for ev in Simulation(catalog, 7).history(START, 365):
        result = ledger.apply(ev)
        batch = []
        for r in [result] + [ledger.apply(f) for f in result.follow_ups]:
            batch.append(r.movements)
            for mv in r.movements:
                writer.append("inventory_changed", movement_row(mv, 0, writer.next_seq(), datetime.now(UTC)))
        batches += batch
        events += 1
        if writer.pending >= rows_per_file:
            writer.flush()
        if writer.rows_written >= movements:
            break
    writer.flush()
    return events, batches


def posting(tmp: Path, movements: int) -> list[Figure]:
    root = tmp / "posting"
    console.print(f"books: a lake of {movements:,} movements …")
    events, batches = simulated_lake(root, movements)
    catalog = Books(root, build_catalog(7)).catalog
    files = [str(f) for f in lake_files(root / "lake", "inventory_changed")]
    n_rows = sum(len(b) for b in batches)

    t0 = time.perf_counter()
    con = duckdb.connect(str(tmp / "baseline.duckdb"))
    con.execute("CREATE TABLE raw AS SELECT * FROM read_parquet($files)", {"files": files})
    con.close()
    load_seconds = time.perf_counter() - t0

    books = Books(root, catalog)
    t0 = time.perf_counter()
    result = books.post_new_movements()
    post_seconds = time.perf_counter() - t0
    assert books.inventory_balance_by_location() == books.stock_value_by_location()

    valuation, rules = Valuation(catalog), VoucherRules(catalog, AccountingPolicy.cn_small_enterprise())
    t0 = time.perf_counter()
    for mvs in batches:
        rules.vouchers_for(valuation.value_all(mvs))
    core_seconds = time.perf_counter() - t0
    console.print(
        f"  {events:,} events, {n_rows:,} movements in {len(files)} files → {result.vouchers:,} vouchers"
    )
    return [
        Figure("posting, events/s", events / post_seconds, "ev/s"),
        Figure("posting, movements/s", n_rows / post_seconds, "mv/s", n_rows / load_seconds),
        Figure("valuation + rules in memory", n_rows / core_seconds, "mv/s", n_rows / post_seconds),
    ]


def voucher_lag(tmp: Path, rate: float = 500.0, seconds: float = 75.0) -> list[Figure]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.post_vouchers import post_vouchers

    settings = Settings(
        var_dir=tmp / "live",
        broker_port=free_port(),
        web_port=free_port(),
        prefect_port=free_port(),
        kafka_url=None,
    )
    catalog = build_catalog(settings.seed)
    catalog.save(settings.masterdata_path)
    broker = EmbeddedBroker("127.0.0.1", settings.broker_port, tmp / "broker-live.log")
    server = PrefectServer(settings, tmp / "prefect.log")
    worker = None
    try:
        server.start(wait=False)
        broker.start()
        ensure_topics(broker.bootstrap, settings.topic_partitions)
        worker = start_worker(settings, settings.web_port, tmp / "worker-live.log", loglevel="warn")
        wait_for_http(f"http://127.0.0.1:{settings.web_port}/health", 120, worker, ready_key="ready")
        server.wait()
        sim = Simulation(catalog, seed=settings.seed)
        opening = list(sim.messages(sim.history(START, 0)))
        asyncio.run(produce(broker.bootstrap, opening))
        live = itertools.islice(
            (
                m
                for m in sim.messages(sim.live(START, lambda: datetime.now(TZ)))
                if m.topic != "temperature_readings"
            ),
            int(rate * seconds),
        )
        live_start = datetime.now(UTC)
        console.print(
            f"voucher lag: live stream at {rate:.0f} events/s for {seconds:.0f}s, flow polling every 5s …"
        )
        producer = threading.Thread(target=lambda: asyncio.run(produce(broker.bootstrap, live, rate=rate)))
        producer.start()
        with temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}):
            post_vouchers(var_dir=str(settings.var_dir), run_seconds=seconds + 10, poll_seconds=5.0)
        producer.join()
        with duckdb.connect(str(settings.var_dir / "books.duckdb"), read_only=True) as con:
            lag = first_row(
                con.execute(
                    "SELECT count(*), quantile_cont(lag_seconds, 0.5), quantile_cont(lag_seconds, 0.99)"
                    " FROM vouchers WHERE occurred_at >= $t",
                    {"t": live_start},
                )
            )
            landed = first_row(
                con.execute(
                    "SELECT quantile_cont(epoch(landed_at) - epoch(occurred_at), 0.5),"
                    " quantile_cont(epoch(landed_at) - epoch(occurred_at), 0.99)"
                    " FROM vouchers WHERE occurred_at >= $t",
                    {"t": live_start},
                )
            )
        console.print(f"  {lag[0]:,} vouchers for live events")
        return [
            Figure("voucher lag p50", lag[1], "s", landed[0]),
            Figure(f"voucher lag p99 @{rate:.0f} ev/s", lag[2], "s", landed[1], "< 30 s", lag[2] < 30),
        ]
    finally:
        if worker is not None:
            stop_process(worker)
        broker.stop()
        server.stop()


def run(movements: int = 200_000) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="stockflow-bench-books-"))
    return posting(tmp, movements) + voucher_lag(tmp)


def main() -> None:
    import os

    from bench.pipeline import report_and_save

    figures = run(movements=int(os.environ.get("BENCH_MOVEMENTS", 200_000)))
    report_and_save(figures, "stockflow books benchmark (same machine, same run)", "books")
