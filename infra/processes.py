"""Child processes: start one from the repository root, stop several at once, wait for HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


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
