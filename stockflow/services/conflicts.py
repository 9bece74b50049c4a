"""Deciding a conflict between a late edge event and the central books (`stockflow.conflicts`).

A manager or the warehouse decides each conflict once: accept (keep what was booked), adjust
(book a given signed on-hand change) or reverse (undo the event's on-hand change at the
conflict's position). `decide_conflict`:

1. checks the role, the conflict (it exists, is still open) and the decision;
2. writes the audit entry (who, which conflict, what change, why) — before the effect;
3. publishes a `conflict_decided` event into the stream, where the ledger books the change and
   the lake records the decision. Its id derives from the conflict's, so a second click (or a
   retry after a crash between 2 and 3) is a duplicate the ledger ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from stockflow.conflicts import UNBOOKED_KINDS, Conflict, decided_on_hand
from stockflow.events import ConflictDecided, ConflictDecision, decision_event_id
from stockflow.masking import Area, Role, can_decide
from stockflow.services.auditing import recorded_first
from stockflow.services.ports import AuditTrail, EventPublisher

#: The source a decision's event names.
DECISION_SOURCE = "conflicts"


class ConflictRefused(ValueError):
    """A decision that cannot be taken; `reason` is a stable code (a message key's last part)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ConflictRecords(Protocol):
    """Where the conflicts the stream found, and the decisions on them, are kept."""

    def find(self, conflict_id: str) -> Conflict | None: ...

    def decision_of(self, conflict_id: str) -> Mapping[str, Any] | None:
        """The decision recorded on a conflict (its record), None while it is open."""
        ...


def decide_conflict(
    records: ConflictRecords,
    publisher: EventPublisher,
    audit: AuditTrail,
    conflict_id: str,
    decision: ConflictDecision | str,
    actor: str,
    role: Role | str,
    note: str,
    adjustment: int = 0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ConflictDecided:
    """Decide a conflict (see the module); returns the event published. Raises
    `ConflictRefused`: ``not_allowed`` (the role does not decide conflicts), ``no_such_conflict``,
    ``already_decided``, ``note_required``, ``nothing_to_reverse`` (nothing was booked from the
    event), ``zero_adjustment``."""
    decision = ConflictDecision(decision)
    try:
        allowed = can_decide(Role(role), Area.CONFLICTS)
    except ValueError:
        allowed = False
    if not allowed:
        raise ConflictRefused("not_allowed", f"role {role!r} does not decide conflicts")
    note = note.strip()
    if not note:
        raise ConflictRefused("note_required", "a decision needs its reason")
    conflict = records.find(conflict_id)
    if conflict is None:
        raise ConflictRefused("no_such_conflict", f"no conflict {conflict_id!r}")
    taken = records.decision_of(conflict_id)
    if taken is not None:
        raise ConflictRefused(
            "already_decided",
            f"conflict {conflict_id} was decided already ({taken.get('decision')} by {taken.get('decided_by')})",
        )
    if decision is ConflictDecision.REVERSE and (conflict.kind in UNBOOKED_KINDS or not conflict.reversal):
        raise ConflictRefused("nothing_to_reverse", f"nothing was booked from {conflict.event_id}")
    if decision is ConflictDecision.ADJUST and not adjustment:
        raise ConflictRefused("zero_adjustment", "an adjustment of zero changes nothing")
    on_hand = decided_on_hand(conflict, decision, adjustment)
    event = ConflictDecided(
        event_id=decision_event_id(conflict.conflict_id),
        occurred_at=now(),
        source=DECISION_SOURCE,
        conflict_id=conflict.conflict_id,
        location=conflict.location,
        sku=conflict.sku,
        batch=conflict.batch or None,
        decision=decision,
        on_hand=on_hand,
        decided_by=actor,
        role=str(Role(role).value),
        note=note,
    )
    with recorded_first(
        audit,
        actor,
        f"conflict.{decision.value}",
        f"conflict {conflict.conflict_id} ({conflict.location} × {conflict.sku})",
        event.role,
        note,
        {
            "conflict_id": conflict.conflict_id,
            "kind": conflict.kind.value,
            "conflict_event_id": conflict.event_id,
            "location": conflict.location,
            "sku": conflict.sku,
            "batch": conflict.batch,
            "on_hand": on_hand,
            "decision_id": event.event_id,
            "event_id": event.event_id,
        },
    ):
        publisher.publish(event)
    return event
