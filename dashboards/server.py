"""The dashboard server: `streamlit run` on the settings' host and port, telemetry off."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from stockflow.config import Settings

APP = Path(__file__).resolve().parent / "streamlit_app.py"


def streamlit_args(settings: Settings) -> list[str]:
    return [
        "-m", "streamlit", "run", str(APP),
        "--server.address", settings.dashboard_host,
        "--server.port", str(settings.dashboard_port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
    ]  # fmt: skip


def dashboard_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "STOCKFLOW_VAR_DIR": str(settings.var_dir.resolve()),
        "STOCKFLOW_WEB_PORT": str(settings.web_port),
        "STOCKFLOW_WEB_HOST": settings.web_host,
        "DO_NOT_TRACK": "1",
    }


def start_dashboard(settings: Settings, log_path: Path) -> subprocess.Popen:
    from infra.processes import start_process

    return start_process(streamlit_args(settings), dashboard_env(settings), log_path)


def wait_until_serving(
    settings: Settings, process: subprocess.Popen | None = None, timeout: float = 60
) -> None:
    """Until Streamlit's health endpoint answers "ok"."""
    url = f"{settings.dashboard_url}/_stcore/health"
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {process.returncode} before it served")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 — our own server
                if response.read().strip() == b"ok":
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s: {last}")
