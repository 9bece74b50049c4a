"""Importing master data from spreadsheets: every row checked, then all of it made in one
change, or none of it.

The tables (`stores.spreadsheets.read_spreadsheet` reads them from a file's bytes) are read
against the catalogue as it stands (`stockflow.masterdata_import.prepare_import`): each row's
own problems by file, row and column. The proposals then go through `change_master_data` once,
as one commit: the catalogue's rules (a GTIN another SKU has, a pack size that changed) come
back by proposal and are put at their rows. Any problem, and the change is only checked (a dry
run), so nothing is written; else it is audited as ``masterdata.imported`` with the files'
names and SHA-256, recorded and published like any master-data change.

Recipe versions are checked against the company's day (the clock in the company's time zone):
a version in effect on a past day never changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from stockflow.config import get_settings
from stockflow.masterdata import Catalog
from stockflow.masterdata_changes import apply_change
from stockflow.masterdata_import import (
    ENTITY_ORDER,
    EntityCounts,
    ImportProblem,
    SheetTable,
    all_problems,
    prepare_import,
)
from stockflow.services.masterdata import ChangePublisher, ChangeResult, MasterDataStore, change_master_data
from stockflow.services.ports import AuditTrail

IMPORT_ACTION = "masterdata.imported"


@dataclass
class ImportResult:
    """What an import found and did: its problems (then nothing was written), how many records
    of each entity are new, changed or unchanged, and the change it made (None when it did not
    get that far)."""

    problems: list[ImportProblem] = field(default_factory=list)
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    change: ChangeResult | None = None
    dry_run: bool = False
    #: file name → SHA-256
    files: dict[str, str] = field(default_factory=dict)
    #: (file, sheet) → the entity read from it
    tables: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def written(self) -> bool:
        return bool(self.change and self.change.changes)

    @property
    def versions(self) -> tuple[int, int] | None:
        return self.change.versions if self.change else None


def import_master_data(
    store: MasterDataStore,
    publisher: ChangePublisher | None,
    audit: AuditTrail,
    tables: Sequence[SheetTable],
    actor: str,
    role: str = "",
    dry_run: bool = False,
    entity: str | None = None,
    reason: str = "",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    timezone: tzinfo | None = None,
) -> ImportResult:
    """Check `tables` and, unless `dry_run` or any problem, make them one master-data change
    (see the module). `entity`: what a file holds whose name does not say; `timezone`: the
    company's (None: the settings')."""
    moment = now()
    today = moment.astimezone(timezone or get_settings().tz).date()
    loaded = _LoadedOnce(store)
    prepared = prepare_import(loaded.load(), tables, entity, today)
    details: dict[str, Any] = {
        "files": [{"name": name, "sha256": sha} for name, sha in prepared.files.items()],
        "tables": [
            {"file": file, "sheet": sheet, "entity": name}
            for (file, sheet), name in prepared.entities.items()
        ],
        "rows": {name: c.rows for name, c in prepared.counts.items() if c.rows},
    }
    change = change_master_data(
        loaded,
        publisher,
        audit,
        prepared.proposals,
        actor,
        role=role,
        reason=reason,
        dry_run=dry_run or not prepared.ok,
        now=lambda: moment,
        action=IMPORT_ACTION,
        details=details,
    )
    problems = all_problems(prepared, change.plan.by_proposal if change.plan else {})
    return ImportResult(
        problems=problems,
        counts={name: prepared.counts[name] for name in ENTITY_ORDER},
        change=change,
        dry_run=dry_run,
        files=prepared.files,
        tables=prepared.entities,
    )


class _LoadedOnce:
    """`store`, whose catalogue is read once per import: the first `load` reads it; the next
    (`change_master_data`'s, under the lock) takes that one up to date with the changes recorded
    since (`changes_after`: none, unless someone made a change in between). A catalogue of
    100,000 SKUs takes seconds to read."""

    def __init__(self, store: MasterDataStore) -> None:
        self.store = store
        self.catalog: Catalog | None = None

    def lock(self) -> AbstractContextManager[None]:
        return self.store.lock()

    def load(self) -> Catalog:
        if self.catalog is None:
            self.catalog = self.store.load()
        else:
            for change in self.store.changes_after(self.catalog.version):
                apply_change(self.catalog, change)
        return self.catalog

    def record(self, changes: Sequence[Any], catalog: Catalog) -> None:
        self.store.record(changes, catalog)

    def changes_after(self, version: int) -> list[Any]:
        return self.store.changes_after(version)
