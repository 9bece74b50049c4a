"""Helpers for tests that run the real pipeline: embedded broker, worker processes, lake."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def post_multipart(url: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[int, Any]:
    """A ``multipart/form-data`` POST (fields and files: name → (file name, bytes)); JSON back."""
    boundary = f"----stockflow{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def post_json(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


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


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def lake_event_ids(lake: Path) -> list[str]:
    ids: list[str] = []
    for table in EVENT_TABLES:
        ids += read_table(lake, table, ["event_id"]).column("event_id").to_pylist()
    return ids


def lake_dead_letters(lake: Path) -> list[dict[str, Any]]:
    return read_table(lake, "dead_letters").to_pylist()


def replay_lake(lake_dir: Path, catalog) -> dict[tuple[str, str, str], dict[str, int]]:
    """Positions from replaying the lake's accepted events through one fresh core processor."""
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
