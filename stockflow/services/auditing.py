"""Audit before action: the entry of an action is written before the action takes effect.

`recorded_first` appends the entry, then lets its block carry the action out (publish its
event, commit its change). The entry names the action's own id in its details (a decision's
`decision_id`, an event's `event_id`), by which the action is idempotent, so:

* a crash after the entry and before the effect leaves an entry for an action that did not take
  effect (the item is still undecided, the event id is not in the stream); taking the action
  again writes a second entry with the same id and takes effect once;
* a failure that is seen is followed by a `<action>.failed` entry that names the entry it voids
  (its seq) and the error, then the error goes on to the caller;
* there is never an effect without its entry: where the entry cannot be written, the block
  does not run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from stockflow.audit import AuditEntry
from stockflow.services.ports import AuditTrail

log = logging.getLogger(__name__)


@contextmanager
def recorded_first(
    audit: AuditTrail,
    actor: str,
    action: str,
    target: str,
    role: str = "",
    reason: str = "",
    details: Mapping[str, Any] | None = None,
) -> Iterator[AuditEntry]:
    """The action's audit entry, written; the block then carries the action out."""
    entry = audit.append(actor, action, target, role, reason, details)
    try:
        yield entry
    except BaseException as exc:
        try:
            audit.append(
                actor,
                f"{action}.failed",
                target,
                role,
                f"entry {entry.seq} did not take effect",
                {**dict(details or {}), "voids_entry": entry.seq, "error": f"{type(exc).__name__}: {exc}"},
            )
        except Exception:  # the original error is the one to report
            log.exception("could not record that %s on %s failed", action, target)
        raise
