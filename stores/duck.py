"""One way to open the app's own DuckDB files (the books, the planning store)."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


@contextmanager
def connect(
    path: Path, ddl: str, read_only: bool = False, timeout: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to `path`; writers hold `<name>.lock` so that one writes at a time and create
    the schema (`ddl`) first. Readers retry while a writer holds the file (DuckDB allows one
    writing process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not path.exists():
        with connect(path, ddl):  # create the schema once
            pass
    lock = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115
    try:
        if not read_only:
            fcntl.flock(lock, fcntl.LOCK_EX)
        deadline = time.monotonic() + timeout
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            if not read_only:
                con.execute(ddl)
            yield con
        finally:
            con.close()
    finally:
        if not read_only:
            fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
