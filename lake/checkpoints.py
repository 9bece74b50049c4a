"""Checkpoints: a partition's replayed state as of an apply_seq, so recovery replays only what
landed after it.

One file per checkpoint, ``<root>/partition=NNNN/ckpt-<apply_seq>.json.zst``: a JSON header line
(format version, partition, partition count, apply_seq, sizes, SHA-256 of the body), then the
body, the core's snapshot as zstd-compressed JSON. Written to a temporary name, fsynced, renamed
into place and the folder fsynced, so a crash leaves the old checkpoint or the new one, never half
of one. A checkpoint that fails its checksum, its header or its decoding is skipped with a warning
and the next older one is tried; with none left, replay starts from the beginning of the lake.

The state in a checkpoint at apply_seq S includes exactly the partition's lake rows with
apply_seq ≤ S: its writer takes it when every such row has landed and no later one is included.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from lake.writer import fsync_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_NAME = re.compile(r"ckpt-(\d{20})\.json\.zst")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (damaged, truncated, another format or layout)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    partition: int
    apply_seq: int
    state: Mapping[str, Any]
    path: Path


class CheckpointStore:
    """The checkpoints of one kind of replayed state (a worker's processors, the reconciliation's
    ledgers), per partition of a topic layout with `partition_count` partitions."""

    def __init__(self, root: Path, partition_count: int, keep: int = 3) -> None:
        self.root = root
        self.partition_count = partition_count
        self.keep = max(1, keep)

    def folder(self, partition: int) -> Path:
        return self.root / f"partition={partition:04d}"

    def paths(self, partition: int) -> list[tuple[int, Path]]:
        """(apply_seq, file) of this partition's checkpoints, newest first."""
        folder = self.folder(partition)
        if not folder.is_dir():
            return []
        found = []
        for path in folder.iterdir():
            m = _NAME.fullmatch(path.name)
            if m:
                found.append((int(m[1]), path))
        return sorted(found, reverse=True)

    def write(self, partition: int, apply_seq: int, state: Mapping[str, Any]) -> Path:
        """Store a partition's state as of `apply_seq`; older checkpoints beyond `keep` go."""
        body = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
        packed = pa.compress(body, codec="zstd", asbytes=True)
        header = {
            "format": FORMAT_VERSION,
            "partition": partition,
            "partition_count": self.partition_count,
            "apply_seq": apply_seq,
            "size": len(body),
            "packed_size": len(packed),
            "sha256": hashlib.sha256(packed).hexdigest(),
            "written_at": datetime.now(UTC).isoformat(),
        }
        folder = self.folder(partition)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"ckpt-{apply_seq:020d}.json.zst"
        tmp = folder / f".{path.name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(json.dumps(header).encode() + b"\n")
            fh.write(packed)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(folder)
        for _, old in self.paths(partition)[self.keep :]:
            old.unlink(missing_ok=True)
        for stale in folder.glob(".ckpt-*.tmp"):  # left by a writer killed mid-write
            stale.unlink(missing_ok=True)
        return path

    def read(self, path: Path, partition: int) -> Checkpoint:
        """One checkpoint, checked: raises `CheckpointError` when it cannot be used."""
        try:
            with open(path, "rb") as fh:
                header = json.loads(fh.readline())
                packed = fh.read()
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"unreadable: {exc}") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
            raise CheckpointError(f"format {header.get('format') if isinstance(header, dict) else '?'}")
        if header.get("partition") != partition or header.get("partition_count") != self.partition_count:
            raise CheckpointError(
                f"partition {header.get('partition')} of {header.get('partition_count')}, "
                f"wanted {partition} of {self.partition_count}"
            )
        if len(packed) != header.get("packed_size") or hashlib.sha256(packed).hexdigest() != header.get(
            "sha256"
        ):
            raise CheckpointError("checksum mismatch")
        collecting = gc.isenabled()
        gc.disable()  # decoding makes many objects and frees none: no collection is worth running
        try:
            body = pa.decompress(packed, decompressed_size=header["size"], codec="zstd", asbytes=True)
            state = json.loads(body)
        except (pa.ArrowException, ValueError, KeyError) as exc:
            raise CheckpointError(f"undecodable: {exc}") from exc
        finally:
            if collecting:
                gc.enable()
        return Checkpoint(partition, int(header["apply_seq"]), state, path)

    def newest(self, partition: int, at_most: int | None = None) -> Checkpoint | None:
        """The newest usable checkpoint (with apply_seq ≤ `at_most`), or None: start from the
        beginning. Damaged ones are skipped with a warning."""
        for seq, path in self.paths(partition):
            if at_most is not None and seq > at_most:
                continue
            try:
                return self.read(path, partition)
            except CheckpointError as err:
                log.warning("checkpoint %s skipped (%s); trying an older one", path, err)
        return None

    def __iter__(self) -> Iterator[int]:
        """The partitions that have checkpoints."""
        if not self.root.is_dir():
            return iter(())
        return iter(sorted(int(p.name.split("=", 1)[1]) for p in self.root.glob("partition=*") if p.is_dir()))
