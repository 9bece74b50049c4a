"""dbt in a process of its own, for one build.

A build's dbt runs outside the process that asked for it: the DuckDB file it builds is closed
(and checkpointed) when that process ends, before the file is renamed into place, and dbt's
process-wide state never leaks into a long-lived flow. The process loads dbt and parses the
project while the caller prepares the file, then builds when told to go.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

GO = "go"
#: dbt's multiprocessing semaphores are released by Python's resource tracker when a dbt
#: process skips its teardown (see `_run`); it would say so on stderr.
QUIET_EXIT = {"PYTHONWARNINGS": "ignore:resource_tracker:UserWarning"}
ROOT = Path(__file__).resolve().parents[1]


class DbtProcess:
    """One build's dbt process: give it the job, prepare the file, then `go`."""

    def __init__(self, parse_args: list[str], build_args: list[str], outcome: Path, env: dict[str, str]):
        job = {"parse": parse_args, "build": build_args, "outcome": str(outcome), "env": env}
        self.outcome = outcome
        self._child = subprocess.Popen(
            [sys.executable, "-m", "stores.dbt_process", json.dumps(job)],
            env={**os.environ, **env, **QUIET_EXIT},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def go(self) -> tuple[bool, dict[str, int], list[str]]:
        """Build now (the file is ready); wait for the outcome: success, statuses, failures."""
        _, stderr = self._child.communicate(GO + "\n")
        if not self.outcome.exists():
            return False, {}, [f"dbt process exited with {self._child.returncode}: {stderr[-2000:]}"]
        success, statuses, failures = json.loads(self.outcome.read_text())
        return success, statuses, failures

    def cancel(self) -> None:
        self._child.kill()
        self._child.wait()


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


if __name__ == "__main__":
    _run(json.loads(sys.argv[1]), sys.stdin)
