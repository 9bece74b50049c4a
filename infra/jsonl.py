"""Append-only JSON-lines files shared by several processes (the audit log, webhook dead
letters): an exclusive lock beside the file, and lines flushed and fsynced before returning."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold `<path>.lock` exclusively (across processes) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_durably(path: Path, line: str) -> None:
    """Append one line and make it durable; call it holding `exclusive(path)`."""
    with open(path, "a", encoding="utf-8") as out:
        out.write(line if line.endswith("\n") else line + "\n")
        out.flush()
        os.fsync(out.fileno())


def replace_durably(path: Path, body: bytes, mode: int = 0o600) -> None:
    """Replace a whole file: written beside it with `mode`, fsynced, renamed into place, its
    folder fsynced (a reader sees the old file or the new one, also after a power cut). Call it
    holding `exclusive(path)` when several processes write the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # a temporary file left over keeps its old mode through O_CREAT
    with os.fdopen(fd, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
