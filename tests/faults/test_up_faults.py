"""`stockflow up` under load: a worker killed with -9 is restarted (and says so), and Ctrl-C
stops the producers, drains every partition into the lake, and only then stops the memory-only
broker; a restart resumes from the lake.

The test is also a producer: it posts its own sales over HTTP the whole time. Every one answered
202 (the broker acknowledged it) must be in the lake exactly once after the stop, and a restarted
`up` must say `landed` for them."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lake import read_table
from simulator.company import build_catalog
from tests.support import free_port, get_json, kill_left_behind, lake_event_ids, post_json, wait_until

pytestmark = pytest.mark.faults


class Up:
    def __init__(self, tmp: Path, ports: dict[str, int]) -> None:
        self.tmp, self.ports = tmp, ports
        self.url = f"http://127.0.0.1:{ports['web']}"
        self.log_path = tmp / "up.log"
        self.proc: subprocess.Popen | None = None

    def start(self, *args: str) -> "Up":
        env = {
            **os.environ,
            "STOCKFLOW_VAR_DIR": str(self.tmp / "var"),
            "STOCKFLOW_BROKER_PORT": str(self.ports["broker"]),
            "STOCKFLOW_WEB_PORT": str(self.ports["web"]),
            "STOCKFLOW_PREFECT_PORT": str(self.ports["prefect"]),
            "STOCKFLOW_DASHBOARD_PORT": str(self.ports["dashboard"]),
            "STOCKFLOW_HISTORY_DAYS": "1",
            "STOCKFLOW_LIVE_RATE": "300",
            "STOCKFLOW_RESTART_BACKOFF_MAX_SECONDS": "4",
        }
        self.mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "up", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        wait_until(lambda: "Ctrl-C stops everything" in self.log(), 240, "up's banner")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[self.mark :]

    def interrupt(self, timeout: float = 150) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                kill_left_behind(self.tmp / "var")

    def worker_pids(self) -> list[int]:
        """Pids of this run's worker processes (their environment names our var dir)."""
        marker = f"STOCKFLOW_VAR_DIR={self.tmp / 'var'}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes()
                env = (entry / "environ").read_bytes()
            except OSError:
                continue
            if b"streams\x00worker" in cmd and marker in env.split(b"\0"):
                found.append(int(entry.name))
        return found


def ready(url: str) -> bool:
    try:
        return bool(get_json(f"{url}/health")["ready"])
    except OSError:  # restarting: not listening yet
        return False


def sale(event_id, sku):
    return {
        "event_type": "pos_sale",
        "event_id": event_id,
        "occurred_at": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
        "source": "till-fault",
        "store": "ST01",
        "ticket": event_id,
        "channel": "retail",
        "lines": [{"sku": sku, "qty": "1", "unit_price": "2.00"}],
    }


class Poster(threading.Thread):
    """Posts one sale at a time until stopped; keeps the ids the workers answered 202 for."""

    def __init__(self, url: str, sku: str) -> None:
        super().__init__(daemon=True)
        self.url, self.sku = url, sku
        self.accepted: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            event_id = f"fault-{uuid.uuid4().hex[:12]}"
            try:
                status, _ = post_json(f"{self.url}/events", sale(event_id, self.sku))
            except OSError:
                status = None  # a worker restarting, or everything stopping
            if status == 202:
                self.accepted.append(event_id)
            time.sleep(0.02)


def landed(url: str, event_ids: list[str]) -> bool:
    return all(get_json(f"{url}/events/{e}?location=ST01")["status"] == "landed" for e in event_ids)


def test_up_restarts_a_killed_worker_and_drains_before_it_stops(tmp_path):
    ports = {name: free_port() for name in ("broker", "web", "prefect", "dashboard")}
    sku = next(
        c for c, s in sorted(build_catalog(7).skus.items()) if not s.batch_managed and s.base_unit == "each"
    )

    # 1. a worker killed with -9 is restarted by `up`, which says so, and goes on landing
    up = Up(tmp_path, ports).start("--fresh")
    poster = Poster(up.url, sku)
    try:
        wait_until(lambda: "live:" in up.log(), 180, "the history produced, the live company going")
        poster.start()
        wait_until(lambda: len(poster.accepted) > 50, 60, "sales accepted")
        (pid,) = up.worker_pids()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: "worker 1 restarted" in up.log(), 60, "up to restart the killed worker")
        assert "worker 1 exited with code -9" in up.log()
        wait_until(lambda: ready(up.url), 120, "the restarted worker ready")
        count = len(poster.accepted)
        wait_until(lambda: len(poster.accepted) > count + 50, 60, "sales accepted after the restart")
        after = poster.accepted[count : count + 50]
        wait_until(lambda: landed(up.url, after), 90, "sales taken after the restart landed")
    finally:
        poster.halt.set()
        poster.join(5)
        assert up.interrupt() == 0

    # 2. Ctrl-C under load (the live company and this poster sending): producers first, then
    # every partition drained into the lake, then the memory-only broker
    up = Up(tmp_path, ports).start()
    assert "resuming" in up.log()
    poster = Poster(up.url, sku)
    try:
        wait_until(lambda: ready(up.url), 120, "ready")
        poster.start()
        wait_until(lambda: len(poster.accepted) > 100, 60, "sales accepted")
        code = up.interrupt()
    finally:
        poster.halt.set()
        if up.proc.poll() is None:
            up.interrupt()
    poster.join(5)
    output = up.log()
    assert code == 0, output[-3000:]
    assert "drained: every event taken is in the lake" in output, output[-3000:]
    lake = tmp_path / "var" / "lake"
    ids = lake_event_ids(lake)
    assert len(ids) == len(set(ids)), "an event landed twice"
    missing = set(poster.accepted) - set(ids)
    assert not missing, f"{len(missing)} of {len(poster.accepted)} acknowledged sales are not in the lake"

    # 3. a restart resumes from the lake: the broker is new and empty, the record is not
    up = Up(tmp_path, ports).start()
    try:
        assert "resuming" in up.log()
        wait_until(lambda: ready(up.url), 120, "ready after the restart")
        assert landed(up.url, poster.accepted[:: max(1, len(poster.accepted) // 40)])
        assert get_json(f"{up.url}/events/fault-never-sent?location=ST01")["status"] == "unknown"
    finally:
        assert up.interrupt() == 0
    ids = lake_event_ids(lake)
    assert len(ids) == len(set(ids))
    dead = read_table(lake, "dead_letters", ["reason"]).column("reason").to_pylist()
    assert "internal_error" not in dead
