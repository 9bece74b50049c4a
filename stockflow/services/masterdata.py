"""Changing master data: check, record, audit and publish, one writer at a time.

`change_master_data` is the one way master data changes (the CLI's import and edits, the
dashboard's Master data page): the proposals are checked against the catalogue as it stands
(`stockflow.masterdata_changes.check_changes`); nothing is written unless all of them pass.
Then, under the store's lock:

1. the audit entry is written (who, what, the versions it makes) — before the effect;
2. the changes are recorded (the lake's change log, then the current catalogue);
3. they are published on the master-data topic, where every running worker applies them.

A crash after 2 and before 3 leaves the change recorded and not yet published: the workers
read the recorded catalogue when they start, and `publish_recorded` sends what the topic lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from stockflow.masterdata import Catalog
from stockflow.masterdata_changes import (
    Plan,
    Problem,
    Proposal,
    apply_change,
    change_key,
    check_changes,
    number_changes,
)
from stockflow.services.auditing import recorded_first
from stockflow.services.ports import AuditTrail

#: An audit entry lists the keys of at most this many changes (the change log has them all).
AUDIT_KEYS_LISTED = 1000


class MasterDataStore(Protocol):
    """The record of master data: the current catalogue and the log of every change."""

    def lock(self) -> AbstractContextManager[None]:
        """Held while a change is checked and recorded (one writer at a time)."""
        ...

    def load(self) -> Catalog: ...

    def record(self, changes: Sequence[Any], catalog: Catalog) -> None:
        """Append `changes` to the change log, then make `catalog` (which includes them) the
        current one. Both are durable when it returns."""
        ...

    def changes_after(self, version: int) -> list[Any]:
        """Recorded changes with a version above `version`, in version order."""
        ...


class ChangePublisher(Protocol):
    """Publishes changes on the master-data topic (keyed by `change_key`) and waits until the
    broker has them."""

    def publish(self, changes: Sequence[Any]) -> None: ...


@dataclass
class ChangeResult:
    """What a change request did: the problems that stopped it (nothing written), or the
    changes it recorded, numbered."""

    problems: list[Problem] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)
    plan: Plan | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def versions(self) -> tuple[int, int] | None:
        if not self.changes:
            return None
        return self.changes[0].version, self.changes[-1].version


def change_master_data(
    store: MasterDataStore,
    publisher: ChangePublisher | None,
    audit: AuditTrail,
    proposals: Sequence[Proposal],
    actor: str,
    role: str = "",
    reason: str = "",
    dry_run: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    action: str = "masterdata.changed",
    details: dict[str, Any] | None = None,
) -> ChangeResult:
    """Check `proposals` and, unless `dry_run` or any fails, make them all (see the module).

    `publisher` None records without publishing (no stack is running: the workers read the
    recorded catalogue when they start)."""
    with store.lock():
        catalog = store.load()
        plan = check_changes(catalog, proposals)
        if not plan.ok or dry_run or not plan.changes:
            return ChangeResult(problems=plan.problems, plan=plan, dry_run=dry_run)
        changes = number_changes(plan, catalog.version + 1, actor, now())
        keys = [change_key(c) for c in changes]
        summary = {
            "versions": [changes[0].version, changes[-1].version],
            "changes": len(changes),
            "event_types": sorted({c.event_type for c in changes}),
            **({"keys": keys} if len(keys) <= AUDIT_KEYS_LISTED else {"keys_listed": False}),
            **(details or {}),
        }
        target = keys[0] if len(keys) == 1 else f"masterdata:{len(keys)} changes"
        with recorded_first(audit, actor, action, target, role, reason, summary):
            for change in changes:
                apply_change(catalog, change)
            store.record(changes, catalog)
    if publisher is not None:
        publisher.publish(changes)
    return ChangeResult(changes=changes, plan=plan)


def publish_recorded(store: MasterDataStore, publisher: ChangePublisher, after_version: int = 0) -> int:
    """Publish every recorded change above `after_version` again (an empty broker after a
    restart, or a publish a crash cut short); workers ignore what they have. Returns how many."""
    changes = store.changes_after(after_version)
    if changes:
        publisher.publish(changes)
    return len(changes)
