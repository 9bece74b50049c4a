"""The record of master data: the current catalogue (`var/masterdata.json`) and the change log
in the lake (``<lake>/masterdata_changes/part-<first>-<last>.parquet``, one file per commit).

A commit appends its file first, then replaces the catalogue: a crash in between leaves a log
ahead of the catalogue, which `load` repairs by applying the logged changes the catalogue lacks.
One writer at a time holds `var/masterdata.lock`.

Personal fields (`stockflow.retention.PERSONAL_FIELDS`) are SM4-encrypted in both where
`Settings.encrypt_personal_data` is on (`stores.crypto`), and decrypted on every read, so the
core only ever sees plain values; plain values written before read as they are. With
encryption on and no key file, the store refuses to open. Retention rewrites the change log's
older versions with their personal fields pseudonymised (`pseudonymise_versions`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from infra.jsonl import exclusive, replace_durably
from lake.tables import MASTERDATA_CHANGES
from lake.writer import fsync_dir
from stockflow.config import get_settings
from stockflow.masterdata import Catalog
from stockflow.masterdata_changes import apply_change, change_key, encode_change, parse_change
from stockflow.retention import ChangeDate, pseudonymise_record
from stores.crypto import (
    PREFIX,
    FieldCipher,
    PersonalDataKeyError,
    has_encrypted_values,
    load_key_file,
    transform_catalog,
    transform_change,
)

_PART = "part-{first:020d}-{last:020d}.parquet"


class MasterDataFiles:
    """`MasterDataStore` over a company's var folder and lake."""

    def __init__(
        self,
        masterdata_path: Path,
        lake_dir: Path,
        cipher: FieldCipher | None = None,
        encrypt: bool | None = None,
    ) -> None:
        """`cipher` and `encrypt` unset: as the settings say (the key file is read where it
        exists, and must exist where encryption is on)."""
        self.path = Path(masterdata_path)
        self.log_dir = Path(lake_dir) / MASTERDATA_CHANGES.name
        if cipher is None and encrypt is None:
            cipher, encrypt = configured_cipher()
        self.cipher = cipher
        self.encrypt = bool(encrypt)
        if self.encrypt and self.cipher is None:
            raise PersonalDataKeyError("personal data is to be encrypted, and there is no key to do it with")

    @contextmanager
    def lock(self) -> Iterator[None]:
        with exclusive(self.path):
            yield

    def load(self) -> Catalog:
        """The current catalogue (empty for a company without master data yet), with any logged
        change a crash kept out of it."""
        catalog = self.read_catalog() if self.path.exists() else Catalog()
        for change in self.changes_after(catalog.version):
            apply_change(catalog, change)
        return catalog

    def record(self, changes: Sequence[Any], catalog: Catalog) -> None:
        if changes:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            rows = [self._sealed_row(change_row(c)) for c in changes]
            name = _PART.format(first=changes[0].version, last=changes[-1].version)
            tmp = self.log_dir / f".{name}.tmp"
            pq.write_table(
                pa.Table.from_pylist(rows, schema=MASTERDATA_CHANGES.schema), tmp, compression="zstd"
            )
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
            os.replace(tmp, self.log_dir / name)
            fsync_dir(self.log_dir)
        replace_durably(self.path, self._catalog_bytes(catalog), mode=0o644)

    # personal fields at rest ----------------------------------------------------------
    def read_catalog(self) -> Catalog:
        """The stored catalogue with its personal fields decrypted."""
        raw = json.loads(self.path.read_bytes())
        if has_encrypted_values(raw):
            raw = transform_catalog(raw, self._reader(), seal=False)
        return Catalog.model_validate(raw)

    def _catalog_bytes(self, catalog: Catalog) -> bytes:
        if not self.encrypt:
            return catalog.model_dump_json().encode()
        assert self.cipher is not None
        sealed = transform_catalog(catalog.model_dump(mode="json"), self.cipher, seal=True)
        return json.dumps(sealed, ensure_ascii=False, separators=(",", ":")).encode()

    def _sealed_row(self, row: dict[str, Any]) -> dict[str, Any]:
        if not self.encrypt:
            return row
        assert self.cipher is not None
        sealed = transform_change(json.loads(row["payload"]), self.cipher, seal=True)
        return {**row, "payload": json.dumps(sealed, ensure_ascii=False, separators=(",", ":"))}

    def plain_payload(self, payload: str) -> str:
        """A logged change's payload with its personal fields decrypted."""
        if PREFIX + ":" not in payload:
            return payload
        plain = transform_change(json.loads(payload), self._reader(), seal=False)
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))

    def _reader(self) -> FieldCipher:
        if self.cipher is None:
            raise PersonalDataKeyError(
                "master data holds encrypted personal fields and no key file was found; "
                "restore the key file (Settings.key_file)"
            )
        return self.cipher

    # retention --------------------------------------------------------------------------
    def change_dates(self) -> list[ChangeDate]:
        """Every logged change's version, entity, key and time (what retention decides on)."""
        out = []
        for path in self.log_files():
            table = pq.read_table(path, columns=["version", "entity", "change_key", "occurred_at"])
            for row in table.to_pylist():
                at = row["occurred_at"]
                out.append(ChangeDate(row["version"], row["entity"], row["change_key"], at.astimezone(UTC)))
        return out

    def pseudonymise_versions(self, versions: set[int], key: bytes) -> int:
        """Rewrite the logged changes of `versions` with their personal fields pseudonymised,
        each file whole (a new file fsynced, renamed over the old one); the number of values
        that changed. Call it holding `lock()`."""
        changed = 0
        for path in self.log_files(min(versions) - 1 if versions else 0):
            table = pq.read_table(path)
            rows = table.to_pylist()
            touched = 0
            for row in rows:
                if row["version"] not in versions:
                    continue
                payload = json.loads(self.plain_payload(row["payload"]))
                record = payload.get("record")
                if not isinstance(record, dict):
                    continue
                payload["record"], count = pseudonymise_record(row["entity"], record, key)
                if count:
                    row["payload"] = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                    touched += count
            if touched:
                _replace_parquet(path, pa.Table.from_pylist(rows, schema=table.schema))
                changed += touched
        return changed

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
                    out.append(parse_change(self.plain_payload(payload)))
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
    store = MasterDataFiles(Path(os.devnull), lake_dir)
    rows: list[dict[str, Any]] = []
    for path in store.log_files():
        rows += pq.read_table(path).to_pylist()
    for row in rows:
        row["payload"] = store.plain_payload(row["payload"])
    return rows


def read_catalog(masterdata_path: Path) -> Catalog:
    """The catalogue at `masterdata_path` (`var/masterdata.json`) with its personal fields
    decrypted: for readers that do not need the change log."""
    path = Path(masterdata_path)
    cipher, _ = configured_cipher()
    return MasterDataFiles(path, path.parent / "lake", cipher, False).read_catalog()


def configured_cipher() -> tuple[FieldCipher | None, bool]:
    """The settings' cipher (None where there is no usable key file) and whether to encrypt;
    `PersonalDataKeyError` where encryption is on and the key file is missing or unusable."""
    settings = get_settings()
    if settings.encrypt_personal_data:
        return FieldCipher(load_key_file(settings.key_path, settings.var_dir)), True
    if not settings.key_path.exists():
        return None, False
    try:
        return FieldCipher(load_key_file(settings.key_path, settings.var_dir)), False
    except PersonalDataKeyError:
        return None, False


def _replace_parquet(path: Path, table: pa.Table) -> None:
    """`table` in place of the file at `path`: written beside it, fsynced, renamed over it, its
    folder fsynced (a reader sees the old file or the new one, also after a power cut)."""
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as written:
        os.fsync(written.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
