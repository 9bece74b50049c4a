"""The local Prefect server that `stockflow up` runs, and the environment its clients need."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.processes import start_process, stop_process, wait_for_http
from stockflow.config import Settings


def prefect_env(settings: Settings) -> dict[str, str]:
    """Environment for the Prefect server and every process that talks to it (telemetry off)."""
    home = (settings.var_dir / "prefect").resolve()
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_SERVER_API_HOST": settings.prefect_host,
        "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
    }


@dataclass
class PrefectServer:
    settings: Settings
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def health_url(self) -> str:
        return self.settings.prefect_api_url + "/health"

    def start(self, timeout: float = 120.0, wait: bool = True) -> None:
        env = {**os.environ, **prefect_env(self.settings)}
        Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
        self.process = start_process(
            ["-m", "prefect", "server", "start", "--host", self.settings.prefect_host,
             "--port", str(self.settings.prefect_port)],
            env,
            self.log_path,
        )  # fmt: skip
        if wait:
            self.wait(timeout)

    def wait(self, timeout: float = 120.0) -> None:
        assert self.process is not None, "start() first"
        wait_for_http(self.health_url, timeout, self.process, ready=lambda body: body is True)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def start_flow_serving(settings: Settings, log_path: Path) -> subprocess.Popen:
    """`python -m flows serve`: the process that runs the flows' schedules."""
    env = {
        **os.environ,
        **prefect_env(settings),
        "STOCKFLOW_VAR_DIR": str(settings.var_dir.resolve()),
        "PYTHONUNBUFFERED": "1",
    }
    return start_process(["-m", "flows", "serve"], env, log_path)
