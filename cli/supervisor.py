"""`stockflow up`'s processes: the embedded broker (unless external) and the Faust workers."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from infra.kafka import aiokafka_options
from infra.processes import start_process, stop_process, wait_for_http
from simulator.run import prepare_company
from stockflow.config import Settings
from stores.credentials import ensure_service_token
from streams.broker import EmbeddedBroker, ensure_topics, wait_for_broker


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
            wait_for_broker(s.bootstrap_servers, security=aiokafka_options(s))
        ensure_topics(
            s.bootstrap_servers, s.topic_partitions, 1 if s.embedded_broker else 3, aiokafka_options(s)
        )
        prepare_company(s)
        ensure_service_token(s)  # the credential the flows and dashboards present to the workers
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


def wipe(settings: Settings) -> None:
    if settings.var_dir.exists():
        shutil.rmtree(settings.var_dir)
