"""The local Prefect server that `stockflow up` runs, and the environment its clients need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

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


def apply_prefect_env(settings: Settings) -> None:
    """Point this process's Prefect client at the local server (call before importing prefect)."""
    os.environ.update(prefect_env(settings))


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
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    self.settings.prefect_host,
                    "--port",
                    str(self.settings.prefect_port),
                ],  # fmt: skip
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        if wait:
            self.wait(timeout)

    def wait(self, timeout: float = 120.0) -> None:
        assert self.process is not None, "start() first"
        _wait_healthy(self.health_url, timeout, self.process)

    def stop(self) -> None:
        from streams.runner import stop_process

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
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flows", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )


def _wait_healthy(url: str, timeout: float, process: subprocess.Popen) -> None:
    """Prefect's /health answers a bare JSON `true` once the server is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if json.loads(resp.read()) is True:
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the Prefect server did not answer {url} within {timeout:.0f}s")
