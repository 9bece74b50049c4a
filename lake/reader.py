"""Reading the lake: its files per table, a table, rows of several tables in apply order."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lake.tables import SCHEMAS

_PART = re.compile(r"part-(\d{20})-")
log = logging.getLogger(__name__)

#: Where files that cannot be read are moved (beside the tables, outside every reader's glob).
UNREADABLE_DIR = "_unreadable"
#: Files moved aside by this process, for its owner to raise alerts about (drained by the owner).
moved_aside: list[tuple[Path, str]] = []


def move_aside(root: Path, path: Path, why: str) -> Path:
    """Move an unreadable lake file out of the tables (kept for inspection, never deleted)."""
    rel = path.relative_to(root)
    target = root / UNREADABLE_DIR / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    log.error("lake file %s cannot be read (%s); moved to %s", rel, why, target)
    moved_aside.append((target, why))
    return target


def _read_file(root: Path, path: Path, columns: list[str] | None, schema: pa.Schema) -> pa.Table | None:
    try:
        return pq.read_table(path, columns=columns, schema=schema)
    except FileNotFoundError:
        return None  # moved aside or removed by another reader meanwhile
    except (pa.ArrowException, OSError) as exc:
        move_aside(root, path, f"{type(exc).__name__}: {exc}"[:500])
        return None


def lake_files(root: Path, table: str, after_seq: int = 0) -> list[Path]:
    """A table's files; with `after_seq`, only those that may hold rows with a higher apply_seq.

    A file is named after a sequence number its writer drew when writing it, after every row it
    holds had been given its apply_seq from the same sequence: a file named at or below
    `after_seq` holds no row above it."""
    files = sorted((root / table).glob("date=*/part-*.parquet"), key=lambda p: p.name)
    if not after_seq:
        return files
    kept = []
    for path in files:
        named = _PART.match(path.name)
        if named is None or int(named[1]) > after_seq:
            kept.append(path)
    return kept


def read_table(root: Path, table: str, columns: list[str] | None = None, after_seq: int = 0) -> pa.Table:
    """A table (its `columns`), or with `after_seq` its rows with a higher apply_seq."""
    schema = SCHEMAS[table]
    files = lake_files(root, table, after_seq)
    if not files:
        return schema.empty_table() if columns is None else schema.empty_table().select(columns)
    parts = [t for t in (_read_file(root, f, columns, schema) for f in files) if t is not None]
    if not parts:
        return schema.empty_table() if columns is None else schema.empty_table().select(columns)
    read = pa.concat_tables(parts)
    if after_seq:
        read = read.filter(pc.greater(read["apply_seq"], after_seq))
    return read


def iter_rows(
    root: Path, tables: Iterable[str], columns: list[str], after_seq: int = 0
) -> Iterator[dict[str, Any]]:
    """Rows of several tables merged in apply order (``apply_seq``), those after `after_seq`."""
    parts = [read_table(root, t, columns, after_seq) for t in tables]
    merged = pa.concat_tables(parts) if parts else None
    if merged is None or merged.num_rows == 0:
        return iter(())
    merged = merged.sort_by("apply_seq")
    return iter(merged.to_pylist())
