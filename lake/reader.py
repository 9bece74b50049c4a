"""Reading the lake: its files per table, a table, rows of several tables in apply order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake.tables import SCHEMAS


def lake_files(root: Path, table: str) -> list[Path]:
    return sorted((root / table).glob("date=*/part-*.parquet"), key=lambda p: p.name)


def read_table(root: Path, table: str, columns: list[str] | None = None) -> pa.Table:
    files = lake_files(root, table)
    if not files:
        return (
            SCHEMAS[table].empty_table() if columns is None else SCHEMAS[table].empty_table().select(columns)
        )
    return pa.concat_tables(pq.read_table(f, columns=columns, schema=SCHEMAS[table]) for f in files)


def iter_rows(root: Path, tables: Iterable[str], columns: list[str]) -> Iterator[dict[str, Any]]:
    """Rows of several tables merged in apply order (``apply_seq``)."""
    parts = [read_table(root, t, columns) for t in tables]
    merged = pa.concat_tables(parts) if parts else None
    if merged is None or merged.num_rows == 0:
        return iter(())
    merged = merged.sort_by("apply_seq")
    return iter(merged.to_pylist())
