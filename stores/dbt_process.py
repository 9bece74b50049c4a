"""dbt in a process of its own, for one build: started cold, or taken from a standby.

A build's dbt runs outside the process that asked for it: the DuckDB file it builds is closed
(and checkpointed) when that process ends, before the file is renamed into place, and dbt's
process-wide state never leaks into a long-lived flow. The process loads dbt and parses the
project while the caller prepares the file, then builds when told to go.

Loading dbt takes about two seconds, more than a small incremental build's own work. A
scheduled flow therefore leaves a *standby* behind each build: a process that has loaded dbt
and waits, on a Unix socket named after the warehouse folder, for the next build's job. It
serves exactly one build and exits (the build leaves the next standby), or exits by itself
after `STANDBY_SECONDS` without a job, as soon as its warehouse folder is gone, or when the app
stops (`stop_standby`). Without a
standby, a build starts a cold process and loses nothing but those seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

GO = "go"
STOP = "stop"
#: Touched when the app stops: a standby started before then exits.
STOP_FILE = "standby.stop"
#: How long a standby waits for the next build (scheduled builds run every few minutes).
STANDBY_SECONDS = 900.0
#: dbt's multiprocessing semaphores are released by Python's resource tracker when a dbt
#: process skips its teardown (see `_run`); it would say so on stderr.
QUIET_EXIT = {"PYTHONWARNINGS": "ignore:resource_tracker:UserWarning"}
ROOT = Path(__file__).resolve().parents[1]


class DbtProcess:
    """One build's dbt process: give it the job, prepare the file, then `go`."""

    def __init__(
        self,
        parse_args: list[str],
        build_args: list[str],
        outcome: Path,
        env: dict[str, str],
        use_standby: bool = False,
    ):
        job = {"parse": parse_args, "build": build_args, "outcome": str(outcome), "env": env}
        self.outcome = outcome
        self.from_standby = False
        self._stream: IO[str] | None = None
        self._child: subprocess.Popen[str] | None = None
        connection = _connect(outcome.parent) if use_standby else None
        if connection is not None:
            try:
                self._stream = connection.makefile("rw", encoding="utf-8")
                self._stream.write(json.dumps(job) + "\n")
                self._stream.flush()
                self.from_standby = True
                return
            except OSError:
                connection.close()
                self._stream = None
        self._child = subprocess.Popen(
            [sys.executable, "-m", "stores.dbt_process", "--job", json.dumps(job)],
            env={**os.environ, **env, **QUIET_EXIT},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def go(self) -> tuple[bool, dict[str, int], list[str]]:
        """Build now (the file is ready); wait for the outcome: success, statuses, failures."""
        if self._stream is not None:
            try:
                self._stream.write(GO + "\n")
                self._stream.flush()
                self._stream.read()  # the standby closes the connection when it is done
                detail = "the standby dbt process ended without an outcome"
            except OSError as e:
                detail = f"the standby dbt process failed: {e}"
            finally:
                self._stream.close()
        else:
            assert self._child is not None
            _, stderr = self._child.communicate(GO + "\n")
            detail = f"dbt process exited with {self._child.returncode}: {stderr[-2000:]}"
        if not self.outcome.exists():
            return False, {}, [detail]
        success, statuses, failures = json.loads(self.outcome.read_text())
        return success, statuses, failures

    def cancel(self) -> None:
        if self._stream is not None:
            self._stream.close()  # the standby reads no "go" and exits
        elif self._child is not None:
            self._child.kill()
            self._child.wait()


def start_standby(folder: Path) -> None:
    """Leave a standby for the next build of the warehouse in `folder` (if none is there)."""
    if standby_waiting(folder):
        return
    subprocess.Popen(
        [sys.executable, "-m", "stores.dbt_process", "--standby", str(folder)],
        env={**os.environ, **QUIET_EXIT},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,  # outlives the flow run that started it
    )


def standby_waiting(folder: Path) -> bool:
    """Whether a standby has loaded dbt and waits for the next build of this warehouse."""
    return _connect(folder, probe=True) is not None


def stop_standby(folder: Path) -> None:
    """Let the standby of this warehouse go (when the app stops), and one still loading dbt."""
    if folder.is_dir():
        (folder / STOP_FILE).touch()
    connection = _connect(folder)
    if connection is not None:
        with connection:
            connection.sendall(STOP.encode() + b"\n")


def _address(folder: Path) -> str:
    # an abstract socket (Linux): no file to go stale when a standby dies
    return "\0stockflow-dbt-" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:32]


def _connect(folder: Path, probe: bool = False) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(_address(folder))
    except OSError:
        sock.close()
        return None
    if probe:
        sock.close()  # the standby sees a connection without a job and keeps waiting
    return sock


def _run(job: dict[str, Any], go: IO[str]) -> None:
    """Parse, wait for go, build, close the file, report, exit."""
    from dbt.cli.main import dbtRunner

    os.environ.update(job["env"])
    parsed = dbtRunner().invoke(job["parse"])
    if go.readline().strip() != GO:
        return  # the caller gave up
    # the parsed project is reused; had parsing failed, the build parses again and reports why
    runner = dbtRunner(manifest=parsed.result) if parsed.success else dbtRunner()
    outcome = _invoke(runner, job["build"])
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    duckdb_env = getattr(DuckDBConnectionManager, "_ENV", None)
    if duckdb_env is not None:
        duckdb_env.close()  # DuckDB checkpoints the file: it may be renamed once we report
    Path(job["outcome"]).write_text(json.dumps(outcome))
    sys.stdout.flush()
    sys.stderr.flush()
    # Tearing down dbt's modules and threads takes about a second and writes nothing.
    os._exit(0)


def _invoke(runner: Any, args: list[str]) -> tuple[bool, dict[str, int], list[str]]:
    result = runner.invoke(args)
    statuses: dict[str, int] = {}
    failures: list[str] = []
    for r in getattr(result.result, "results", None) or []:
        status = str(r.status)
        statuses[status] = statuses.get(status, 0) + 1
        if status not in ("success", "pass"):
            failures.append(f"{r.node.unique_id}: {status} {r.message or ''}".strip())
    if result.exception is not None:
        failures.append(f"dbt: {result.exception}")
    return bool(result.success) and not failures, statuses, failures


def _standby(folder: Path) -> None:
    born = time.time()
    from dbt.cli.main import dbtRunner  # noqa: F401  (loaded now, off the next build's clock)

    def wanted() -> bool:
        try:
            return (folder / STOP_FILE).stat().st_mtime < born
        except FileNotFoundError:
            return folder.is_dir()

    if not wanted():
        return
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(_address(folder))
    except OSError:
        return  # another standby serves this warehouse
    server.listen(4)
    server.settimeout(5.0)
    deadline = time.monotonic() + STANDBY_SECONDS
    while time.monotonic() < deadline and wanted():
        try:
            connection, _ = server.accept()
        except TimeoutError:
            continue
        stream = connection.makefile("rw", encoding="utf-8")
        line = stream.readline()
        if not line or line.strip() == STOP:  # a probe, or the app stopping
            stream.close()
            connection.close()
            if line:
                break
            continue
        server.close()  # the name is free for the next standby as soon as the job is taken
        _run(json.loads(line), stream)
        return
    server.close()


if __name__ == "__main__":
    if sys.argv[1] == "--standby":
        _standby(Path(sys.argv[2]))
    else:
        _run(json.loads(sys.argv[2]), sys.stdin)
