"""The record of master data: the current catalogue (`var/masterdata.json`) and the change log
in the lake (``<lake>/masterdata_changes/part-<first>-<last>.parquet``, one file per commit).

A commit appends its file first, then replaces the catalogue: a crash in between leaves a log
ahead of the catalogue, which `load` repairs by applying the logged changes the catalogue lacks.
One writer at a time holds `var/masterdata.lock`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from infra.jsonl import exclusive, replace_durably
from lake.tables import MASTERDATA_CHANGES
from lake.writer import fsync_dir
from stockflow.masterdata import Catalog
from stockflow.masterdata_changes import apply_change, change_key, encode_change, parse_change

_PART = "part-{first:020d}-{last:020d}.parquet"


class MasterDataFiles:
    """`MasterDataStore` over a company's var folder and lake."""

    def __init__(self, masterdata_path: Path, lake_dir: Path) -> None:
        self.path = Path(masterdata_path)
        self.log_dir = Path(lake_dir) / MASTERDATA_CHANGES.name

    @contextmanager
    def lock(self) -> Iterator[None]:
        with exclusive(self.path):
            yield

    def load(self) -> Catalog:
        """The current catalogue (empty for a company without master data yet), with any logged
        change a crash kept out of it."""
        catalog = Catalog.load(self.path) if self.path.exists() else Catalog()
        for change in self.changes_after(catalog.version):
            apply_change(catalog, change)
        return catalog

    def record(self, changes: Sequence[Any], catalog: Catalog) -> None:
        if changes:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            rows = [change_row(c) for c in changes]
            name = _PART.format(first=changes[0].version, last=changes[-1].version)
            tmp = self.log_dir / f".{name}.tmp"
            pq.write_table(
                pa.Table.from_pylist(rows, schema=MASTERDATA_CHANGES.schema), tmp, compression="zstd"
            )
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
            os.replace(tmp, self.log_dir / name)
            fsync_dir(self.log_dir)
        replace_durably(self.path, catalog.model_dump_json().encode(), mode=0o644)

    def log_files(self, after_version: int = 0) -> list[Path]:
        """Change-log files holding a version above `after_version`, in order."""
        if not self.log_dir.is_dir():
            return []
        out = []
        for path in sorted(self.log_dir.glob("part-*.parquet")):
            last = int(path.stem.split("-")[2])
            if last > after_version:
                out.append(path)
        return out

    def changes_after(self, version: int) -> list[Any]:
        out = []
        for path in self.log_files(version):
            table = pq.read_table(path, columns=["version", "payload"])
            for v, payload in zip(table["version"].to_pylist(), table["payload"].to_pylist(), strict=True):
                if v > version:
                    out.append(parse_change(payload))
        return out


def change_row(change: Any) -> dict[str, Any]:
    return {
        "version": change.version,
        "event_id": change.event_id,
        "event_type": change.event_type,
        "entity": change.entity,
        "code": change.code,
        "change_key": change_key(change),
        "actor": change.actor,
        "occurred_at": change.occurred_at,
        "payload": encode_change(change).decode(),
    }


def read_change_log(lake_dir: Path) -> list[dict[str, Any]]:
    """Every logged change as rows (for exports and checks)."""
    files = MasterDataFiles(Path(os.devnull), lake_dir).log_files()
    rows: list[dict[str, Any]] = []
    for path in files:
        rows += pq.read_table(path).to_pylist()
    return rows
