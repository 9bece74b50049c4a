"""The embedded broker alone: how its latency grows with what its partitions hold.

A fresh embedded broker for each rate, two topics of the workers' partition count, and an
aiokafka relay in a process of its own (consume one, produce every message to the other);
this process sends at the rate, one message at a time as a till does, and times each message
until its relayed copy comes back. Five runs of 13 s (3 s of warm-up) one after another on the
same topics: each run's p99 against the first run's. No stockflow code runs: this is the part
of `bench.pipeline`'s event→inventory_changed latency that no worker can take away.

`BENCH_RATES` (500,3000), `BENCH_SECONDS` (10) and `BENCH_RUNS` (5) change the sizes."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from bench.pipeline import (
    Figure,
    console,
    create_plain_topics,
    free_port,
    paced_latency,
    percentile,
    report_and_save,
    start_relay,
)
from infra.processes import stop_process
from stockflow.config import Settings
from streams.broker import EmbeddedBroker


def runs_at(rate: float, runs: int, seconds: float, tmp: Path) -> list[tuple[float, float, int]]:
    """(p50, p99, messages without an echo) of each run at `rate`, on one fresh broker."""
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp / f"broker-{rate:.0f}.log")
    broker.start()
    relay = None
    try:
        asyncio.run(
            create_plain_topics(broker.bootstrap, ["relay_in", "relay_out"], Settings().topic_partitions)
        )
        relay = start_relay(broker.bootstrap, "relay_in", "relay_out", "relay", tmp / f"relay-{rate:.0f}.log")
        out = []
        for run_no in range(runs):
            tag = f"{run_no}"
            msgs = [
                ("relay_in", f"ST{i % 8:02d}".encode(), json.dumps({"id": f"{tag}-{i}"}).encode(), f"{tag}-{i}")
                for i in range(int(rate * (seconds + 3)))
            ]  # fmt: skip
            lat, unanswered = asyncio.run(
                paced_latency(broker.bootstrap, msgs, rate, "relay_out", lambda v: json.loads(v)["id"])
            )
            out.append((percentile(lat, 50), percentile(lat, 99), unanswered))
            console.print(
                f"broker alone, run {run_no + 1} at {rate:,.0f} messages/s: p50 {out[-1][0]:.1f} ms, "
                f"p99 {out[-1][1]:.1f} ms" + (f", {unanswered} unanswered" if unanswered else "")
            )
        return out
    finally:
        if relay is not None:
            stop_process(relay)
        broker.stop()


def run(rates: tuple[float, ...], runs: int, seconds: float) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="stockflow-bench-broker-"))
    figures = []
    for rate in rates:
        measured = runs_at(rate, runs, seconds, tmp)
        first = measured[0][1]
        for run_no, (p50, p99, unanswered) in enumerate(measured, 1):
            figures.append(
                Figure(
                    f"relay p99 @{rate:,.0f}/s, run {run_no}, against run 1",
                    p99,
                    "ms",
                    first,
                    detail=f"p50 {p50:.1f} ms" + (f"; {unanswered} unanswered" if unanswered else ""),
                )
            )
    return figures


def main() -> None:
    figures = run(
        rates=tuple(float(r) for r in os.environ.get("BENCH_RATES", "500,3000").split(",")),
        runs=int(os.environ.get("BENCH_RUNS", 5)),
        seconds=float(os.environ.get("BENCH_SECONDS", 10)),
    )
    report_and_save(figures, "the embedded broker alone: latency run after run (same run)", "broker", "relay")


if __name__ == "__main__":
    main()
