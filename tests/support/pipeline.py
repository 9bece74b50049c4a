"""The real pipeline's pieces as the tests drive them: settings for a test's own ports and
folder, a librdkafka producer, worker processes, and what the workers leave in the lake."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

import lake
from cli.supervisor import start_worker
from infra.processes import stop_process, wait_for_http
from lake import EVENT_TABLES, read_table
from simulator.company import SimMessage
from stockflow.config import Settings
from stockflow.processing import StockProcessor
from stores.credentials import ensure_service_token
from tests.support.network import free_port, get_json


def settings_for(var_dir: Path, broker_port: int, web_port: int, partitions: int = 4) -> Settings:
    return Settings(
        var_dir=var_dir,
        broker_port=broker_port,
        web_port=web_port,
        topic_partitions=partitions,
        kafka_url=None,
    )


def produce_with_confluent(bootstrap: str, messages: Iterable[SimMessage]) -> int:
    """Produce with confluent-kafka (librdkafka), keyed by location, Java-compatible partitioner."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5, "acks": 1}
    )
    n = 0
    for msg in messages:
        while True:
            try:
                producer.produce(msg.topic, key=msg.key.encode(), value=msg.value)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} messages not delivered"
    return n


def kill_left_behind(var_dir: Path) -> list[int]:
    """SIGKILL every process started for `var_dir` (its environment names it) that is still
    running: after a test that had to kill the app, so that its children do not live on."""
    markers = {f"STOCKFLOW_VAR_DIR={path}".encode() for path in (var_dir, var_dir.resolve())}
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if markers & set((entry / "environ").read_bytes().split(b"\0")):
                os.kill(int(entry.name), 9)
                killed.append(int(entry.name))
        except (OSError, PermissionError):
            continue
    return killed


def lake_event_ids(lake_dir: Path) -> list[str]:
    """The id of every event row in the lake (a doubled row gives its id twice)."""
    ids: list[str] = []
    for table in EVENT_TABLES:
        ids += read_table(lake_dir, table, ["event_id"]).column("event_id").to_pylist()
    return ids


def lake_dead_letters(lake_dir: Path) -> list[dict[str, Any]]:
    return read_table(lake_dir, "dead_letters").to_pylist()


def replay_lake(lake_dir: Path, catalog) -> dict[tuple[str, str, str], dict[str, int]]:
    """Positions from replaying the lake's accepted events through one fresh core processor.

    This is the workers' own recovery, so it is no oracle for what a worker serves: compare
    served positions with the simulated company's ledger (`SimulatedRun.positions`)."""
    procs, _ = lake.replay_lake(lake_dir, catalog, [0], 1, lambda: StockProcessor(catalog))
    return {(k.location, k.sku, k.batch): p.as_dict() for k, p in procs[0].ledger.positions()}


def served_positions(web_url: str, locations: Iterable[str]) -> dict[tuple[str, str, str], dict[str, int]]:
    out = {}
    for location in locations:
        for item in get_json(f"{web_url}/stock/{location}")["items"]:
            for b in item["batches"]:
                out[(location, item["sku"], b["batch"])] = {
                    f: b[f] for f in ("on_hand", "reserved", "quarantined", "in_transit")
                }
    return out


class Worker:
    """A real Faust worker process (`python -m streams worker`)."""

    def __init__(self, settings: Settings, web_port: int, log_dir: Path) -> None:
        self.settings = settings
        self.web_port = web_port
        self.url = f"http://127.0.0.1:{web_port}"
        self.log_path = log_dir / f"worker-{web_port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90, attempts: int = 3) -> Worker:
        """Start it; a port taken between choosing it and binding it (another process got it
        first) is replaced by a fresh one, and `web_port`, `url` and `settings` follow."""
        ensure_service_token(self.settings)
        for attempt in range(attempts):
            self.proc = start_worker(self.settings, self.web_port, self.log_path)
            try:
                wait_for_http(self.url + "/health", timeout=timeout, process=self.proc, ready_key="ready")
                return self
            except RuntimeError:
                if attempt == attempts - 1 or "address already in use" not in self.log_tail(200):
                    raise
            self.web_port = free_port()
            self.url = f"http://127.0.0.1:{self.web_port}"
            self.settings = self.settings.model_copy(update={"web_port": self.web_port})
            self.log_path = self.log_path.with_name(f"worker-{self.web_port}.log")
        return self

    def health(self) -> dict[str, Any]:
        return get_json(self.url + "/health")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, 9)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""
