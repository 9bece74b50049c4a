"""`stockflow up`'s processes: the embedded broker (unless external) and the Faust workers."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infra.kafka import aiokafka_options
from infra.processes import start_process, stop_process, wait_for_http
from infra.worker_client import client_token
from simulator.run import prepare_company
from stockflow.config import Settings
from stores.credentials import ensure_service_token
from streams.broker import EmbeddedBroker, ensure_topics, wait_for_broker

log = logging.getLogger(__name__)

#: A worker that stayed up this long has its restart backoff reset.
HEALTHY_AFTER_SECONDS = 60.0


@dataclass
class Stack:
    """The processes `stockflow up` runs: embedded broker (unless external) and Faust workers."""

    settings: Settings
    workers: int = 1
    broker: EmbeddedBroker | None = None
    worker_procs: list[subprocess.Popen] = field(default_factory=list)
    #: Per worker: when it was (re)started, the next backoff, when it may be restarted, restarts.
    started_at: list[float] = field(default_factory=list)
    backoff: list[float] = field(default_factory=list)
    restart_due: list[float | None] = field(default_factory=list)
    restarts: list[int] = field(default_factory=list)

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
            wait_for_broker(s.bootstrap_servers, security=aiokafka_options(s))
        ensure_topics(
            s.bootstrap_servers, s.topic_partitions, 1 if s.embedded_broker else 3, aiokafka_options(s)
        )
        prepare_company(s)
        ensure_service_token(s)  # the credential the flows and dashboards present to the workers
        for i in range(self.workers):
            self.worker_procs.append(self._start_worker(i))
            self.started_at.append(time.monotonic())
            self.backoff.append(1.0)
            self.restart_due.append(None)
            self.restarts.append(0)
        for i, proc in enumerate(self.worker_procs):
            wait_for_http(self.worker_url(i) + "/health", timeout=120, process=proc, ready_key="ready")

    def _start_worker(self, i: int) -> subprocess.Popen:
        s = self.settings
        return start_worker(s, s.web_port + i, self.logs / f"worker-{i + 1}.log")

    def watch(self, say: Callable[[str], None] = log.warning) -> None:
        """Restart any worker that died, after a backoff that doubles (up to the setting) while
        it keeps dying and resets once it stays up; say so each time. Call it every second."""
        now = time.monotonic()
        for i, proc in enumerate(self.worker_procs):
            if proc.poll() is None:
                if now - self.started_at[i] >= HEALTHY_AFTER_SECONDS:
                    self.backoff[i] = 1.0
                continue
            due = self.restart_due[i]
            if due is None:
                wait = self.backoff[i]
                self.restart_due[i] = now + wait
                self.backoff[i] = min(wait * 2, self.settings.restart_backoff_max_seconds)
                say(f"worker {i + 1} exited with code {proc.returncode}; restarting it in {wait:.0f}s")
            elif now >= due:
                self.worker_procs[i] = self._start_worker(i)
                self.started_at[i] = now
                self.restart_due[i] = None
                self.restarts[i] += 1
                say(f"worker {i + 1} restarted (restart {self.restarts[i]}; its log: worker-{i + 1}.log)")

    def drain(self, timeout: float, say: Callable[[str], None] = log.warning) -> bool:
        """Wait, the producers stopped, until every worker has taken in all there is and landed
        and acked it: nothing buffered, nothing unacked, and no message taken in for two
        looks a second apart (a consumer fetches every few milliseconds: a second with nothing
        new is an empty topic). True when drained, False at the timeout."""
        deadline = time.monotonic() + timeout
        for i in range(len(self.worker_procs)):  # no new events over HTTP from here on
            try:
                self._post(i, "/drain")
            except OSError as exc:
                say(f"worker {i + 1} did not take the drain request: {exc}")
        settled = 0
        last = ""
        taken_before = -1
        while time.monotonic() < deadline:
            try:
                states = [
                    self._held(i)
                    for i in range(len(self.worker_procs))
                    if self.worker_procs[i].poll() is None
                ]
            except (OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                settled = 0
                time.sleep(0.5)
                continue
            held = sum(h for h, _ in states)
            taken = sum(n for _, n in states)
            settled = settled + 1 if held == 0 and taken == taken_before else 0
            taken_before = taken
            if settled >= 2:
                return True
            now = f"{held} held, {taken} taken in"
            if now != last:
                last = now
                say(f"draining: {held} message(s) not landed yet")
            time.sleep(1.0)
        say(f"not drained within {timeout:.0f}s ({last}); stopping anyway (unacked messages are redelivered)")
        return False

    def _post(self, i: int, path: str) -> None:
        token = client_token(self.settings)
        request = urllib.request.Request(
            self.worker_url(i) + path,
            data=b"{}",
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 — our own workers
            pass

    def _held(self, i: int) -> tuple[int, int]:
        """(rows not landed + events not acked, messages taken in so far) of worker `i`."""
        with urllib.request.urlopen(self.worker_url(i) + "/health", timeout=10) as resp:  # noqa: S310
            body = json.loads(resp.read())
        if not body.get("ready"):
            raise ValueError(f"worker {i + 1} is not ready")
        return body["pending_acks"] + body["lake_pending_rows"], body["counters"].get("in", 0)

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
    if settings.failpoints:
        env["STOCKFLOW_FAILPOINTS"] = settings.failpoints
    return env


def start_worker(
    settings: Settings, web_port: int, log_path: Path, loglevel: str = "info"
) -> subprocess.Popen:
    """A Faust worker process (the installation's service credential registered for it first)."""
    ensure_service_token(settings)
    return start_process(
        ["-m", "streams", "worker", "-l", loglevel, "--web-port", str(web_port)],
        worker_env(settings, web_port),
        log_path,
    )


def wipe(settings: Settings) -> None:
    if settings.var_dir.exists():
        shutil.rmtree(settings.var_dir)
