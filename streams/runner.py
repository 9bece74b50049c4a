"""Process orchestration for `stockflow up` and `stockflow simulate`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from stockflow.config import Settings
from stockflow.masterdata import Catalog
from stockflow.simulation import TZ, Simulation, build_catalog
from streams.broker import EmbeddedBroker, ensure_topics, wait_for_broker
from streams.lake import lake_files
from streams.producer import produce

log = logging.getLogger(__name__)
CALENDAR_DAYS_AHEAD = 365


def prepare_company(settings: Settings) -> Catalog:
    """The simulated company's master data, written once to var/ (workers read it from there)."""
    path = settings.masterdata_path
    if path.exists():
        return Catalog.load(path)
    catalog = build_catalog(settings.seed)
    catalog.save(path)
    return catalog


def simulation_start(settings: Settings, days: int) -> date:
    """First simulated day; remembered in var/ so a restart regenerates the same history."""
    path = settings.var_dir / "simulation.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["seed"] == settings.seed:
            return date.fromisoformat(saved["start"])
    start = datetime.now(TZ).date() - timedelta(days=days)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seed": settings.seed, "start": start.isoformat(), "days": days}))
    return start


def lake_has_events(settings: Settings) -> bool:
    return any(lake_files(settings.lake_dir, t) for t in ("scans", "pos_transactions"))


def run_simulation(
    settings: Settings,
    days: int,
    live: bool,
    rate: float,
    bad_ratio: float,
    produce_history: bool = True,
    stop: threading.Event | None = None,
) -> int:
    """Write the simulated history (unless it is already in the lake), then, with `live`, keep
    producing the company's days until `stop` is set."""
    catalog = prepare_company(settings)
    start = simulation_start(settings, days)
    sim = Simulation(catalog, seed=settings.seed)
    # the company's planning calendar: its history and the year ahead (what forecasting may use)
    last = max(start + timedelta(days=days), datetime.now(TZ).date()) + timedelta(days=CALENDAR_DAYS_AHEAD)
    sim.signal_calendar(start, last).save(settings.signals_path)
    history = sim.history(start, days)
    sent = 0
    if produce_history:
        t0 = time.monotonic()
        sent = asyncio.run(produce(settings.bootstrap_servers, sim.messages(history, bad_ratio), stop=stop))
        log.info("history: %d days, %d messages produced in %.1fs", days, sent, time.monotonic() - t0)
    else:
        for _ in history:  # rebuild the simulated world without producing it again
            pass
        log.info("history already in the lake: simulated world rebuilt, not produced again")
    if live and not (stop is not None and stop.is_set()):
        log.info("live: %.1f events/s", rate)
        sent += asyncio.run(
            produce(
                settings.bootstrap_servers,
                sim.messages(sim.live(start + timedelta(days=days), lambda: datetime.now(TZ)), bad_ratio),
                rate=rate,
                stop=stop,
            )
        )
    return sent


def wait_for_http(
    url: str,
    timeout: float = 60.0,
    process: subprocess.Popen | None = None,
    ready_key: str | None = None,
    ready: Callable[[Any], bool] | None = None,
) -> Any:
    """GET `url` until it answers JSON (and, with `ready_key`, until that field is true; with
    `ready`, until it holds for the answer)."""
    if ready is None:
        ready = (lambda body: bool(body.get(ready_key))) if ready_key else (lambda body: True)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body = json.loads(resp.read())
            if ready(body):
                return body
            last = RuntimeError(f"not ready yet: {str(body)[:200]}")
            time.sleep(0.3)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s: {last}")


@dataclass
class Stack:
    """The processes `stockflow up` runs: embedded broker (unless external) and Faust workers."""

    settings: Settings
    workers: int = 1
    broker: EmbeddedBroker | None = None
    worker_procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.settings.var_dir / "logs"

    def worker_url(self, i: int) -> str:
        return f"http://{self.settings.web_host}:{self.settings.web_port + i}"

    def start(self) -> None:
        s = self.settings
        self.logs.mkdir(parents=True, exist_ok=True)
        if s.embedded_broker:
            self.broker = EmbeddedBroker(s.broker_host, s.broker_port, self.logs / "broker.log")
            self.broker.start()
        else:
            wait_for_broker(s.bootstrap_servers)
        ensure_topics(s.bootstrap_servers, s.topic_partitions, 1 if s.embedded_broker else 3)
        prepare_company(s)
        for i in range(self.workers):
            self.worker_procs.append(start_worker(s, s.web_port + i, self.logs / f"worker-{i + 1}.log"))
        for i, proc in enumerate(self.worker_procs):
            wait_for_http(self.worker_url(i) + "/health", timeout=120, process=proc, ready_key="ready")

    def stop(self) -> None:
        for proc in self.worker_procs:
            stop_process(proc)
        self.worker_procs.clear()
        if self.broker is not None:
            self.broker.stop()


def worker_env(settings: Settings, web_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "STOCKFLOW_VAR_DIR": str(settings.var_dir.resolve()),
            "STOCKFLOW_BROKER_HOST": settings.broker_host,
            "STOCKFLOW_BROKER_PORT": str(settings.broker_port),
            "STOCKFLOW_WEB_HOST": settings.web_host,
            "STOCKFLOW_WEB_PORT": str(web_port),
            "STOCKFLOW_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "STOCKFLOW_SEED": str(settings.seed),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.kafka_url:
        env["STOCKFLOW_KAFKA_URL"] = settings.kafka_url
    return env


def start_worker(
    settings: Settings, web_port: int, log_path: Path, loglevel: str = "info"
) -> subprocess.Popen:
    """A Faust worker process."""
    return start_process(
        ["-m", "streams", "worker", "-l", loglevel, "--web-port", str(web_port)],
        worker_env(settings, web_port),
        log_path,
    )


def start_process(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`python <args>` from the repository root, logging to `log_path`, in its own session (so
    Ctrl-C reaches it only through us)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    stop_processes([proc], timeout)


def stop_processes(procs: list[subprocess.Popen], timeout: float = 20.0) -> None:
    """SIGTERM all at once, wait for them together, kill whatever is left at the deadline."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wipe(settings: Settings) -> None:
    if settings.var_dir.exists():
        shutil.rmtree(settings.var_dir)
