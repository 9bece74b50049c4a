"""Reading the lake: its files per table, a table, rows of several tables in apply order."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lake.tables import SCHEMAS

_PART = re.compile(r"part-(\d{20})-")


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
    read = pa.concat_tables(pq.read_table(f, columns=columns, schema=schema) for f in files)
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
