"""Conflicts: a late event from an edge agent that collides with what happened centrally meanwhile.

An edge agent forwards a store's events, which may have waited offline for hours. By the time
one arrives, the books may have moved on: a count, a transfer, an adjustment, a till sale made
after the event was. The ledger applies (or refuses) the late event by its usual rules; this
module names the collisions a person has to look at, one `Conflict` per position:

* ``counted_meanwhile``: the event changes on hand at a position a cycle count made after it
  already covered (the count was applied first). The count saw the goods gone (or arrived):
  where its difference is booked already, the event's change is in the books twice and the
  suggestion undoes it; where it is not, the count's book takes the change in (the ledger's
  rule), its difference comes out right, and the suggestion is no change.
* ``moved_meanwhile``: the event drove the position negative, and on-hand changes made after it
  (a central transfer, adjustment, sale ...) were applied before it. The suggestion brings the
  position back to zero.
* ``negative_stock``: the event drove the position negative with nothing later involved (the
  store sold offline what the books do not have). The suggestion brings it back to zero.
* ``refused``: the ledger refused the late event (it is dead-lettered as any refusal); listed so
  that a person can decide. Nothing was booked: the suggestion is no change.
* ``document_changed``: the same event id (document) was taken already with another content;
  the document was changed on both sides. Nothing was booked from this copy.

Only events that came through an edge agent are checked. A conflict's id derives from the
event, the kind and the position, so a redelivery finds the same conflict (a duplicate).
A person decides each conflict with a `ConflictDecided` event (`stockflow.services.conflicts`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from stockflow.alerts import Alert, AlertType, Severity, alert
from stockflow.events import ConflictDecision, ConflictingDuplicate, EventRejected
from stockflow.i18n import Message
from stockflow.ledger import NO_BATCH, Ledger, Movement, PositionKey
from stockflow.reconciliation import variance_adjustment_id


class Decided(Protocol):
    """What applying an event gave (a `LedgerResult`, or the stream's processing result)."""

    @property
    def duplicate(self) -> bool: ...

    @property
    def movements(self) -> tuple[Movement, ...]: ...


class ConflictKind(StrEnum):
    COUNTED_MEANWHILE = "counted_meanwhile"
    MOVED_MEANWHILE = "moved_meanwhile"
    NEGATIVE_STOCK = "negative_stock"
    REFUSED = "refused"
    DOCUMENT_CHANGED = "document_changed"


#: Conflicts nothing was booked for: a reversal has nothing to undo.
UNBOOKED_KINDS = frozenset({ConflictKind.REFUSED, ConflictKind.DOCUMENT_CHANGED})


@dataclass(frozen=True, slots=True)
class Conflict:
    """One late edge event × one position where it collided with the central books."""

    conflict_id: str
    kind: ConflictKind
    event_id: str
    event_type: str
    source: str
    edge: str
    location: str
    sku: str
    batch: str
    occurred_at: datetime
    detected_at: datetime
    #: The event's on-hand change at this position (0: nothing booked) and on hand after it.
    on_hand_delta: int
    on_hand_after: int
    #: The on-hand change (base units, signed) the detection suggests a person books.
    suggested_on_hand: int
    #: What it collided with: the count's id, the refusal's reason.
    reference: str
    detail: str

    @property
    def reversal(self) -> int:
        """The on-hand change that undoes the event's at this position."""
        return -self.on_hand_delta

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Conflict:
        """A conflict from its record (an ``open`` row of the lake's conflicts table)."""
        return cls(
            conflict_id=record["conflict_id"],
            kind=ConflictKind(record["kind"]),
            event_id=record["event_id"],
            event_type=record["event_type"],
            source=record.get("source") or "",
            edge=record.get("edge") or "",
            location=record["location"],
            sku=record.get("sku") or "",
            batch=record.get("batch") or NO_BATCH,
            occurred_at=record["occurred_at"],
            detected_at=record["detected_at"],
            on_hand_delta=int(record.get("on_hand_delta") or 0),
            on_hand_after=int(record.get("on_hand_after") or 0),
            suggested_on_hand=int(record.get("suggested_on_hand") or 0),
            reference=record.get("reference") or "",
            detail=record.get("detail") or "",
        )


def conflict_id_for(event_id: str, kind: ConflictKind | str, location: str, sku: str, batch: str) -> str:
    """A conflict's id: from the event, the kind and the position (a redelivery is a duplicate)."""
    digest = hashlib.sha256("|".join([event_id, str(kind), location, sku, batch]).encode()).hexdigest()
    return f"cf-{digest[:24]}"


def conflict_alert(conflict: Conflict) -> Alert:
    """The alert that asks a person to decide a conflict (its id follows the conflict's), dated
    when the conflict was found (the event itself may be hours old)."""
    message = Message(
        f"alert.conflict.{conflict.kind.value}",
        edge=conflict.edge,
        event_type=conflict.event_type,
        event_id=conflict.event_id,
        location=conflict.location,
        sku=conflict.sku,
        batch=conflict.batch or "-",
        on_hand_delta=conflict.on_hand_delta,
        on_hand_after=conflict.on_hand_after,
        suggested=conflict.suggested_on_hand,
        reference=conflict.reference,
    )
    return alert(
        AlertType.CONFLICT,
        Severity.WARNING,
        conflict.detected_at,
        conflict.location,
        message,
        id_parts=(conflict.conflict_id,),
        sku=conflict.sku,
        batch=conflict.batch,
        conflict_id=conflict.conflict_id,
        kind=conflict.kind.value,
        event_id=conflict.event_id,
        edge=conflict.edge,
    )


def decided_on_hand(conflict: Conflict, decision: ConflictDecision, adjustment: int = 0) -> int:
    """The on-hand change a decision books: none to accept, `adjustment` to adjust, the event's
    change undone to reverse."""
    if decision is ConflictDecision.ACCEPT:
        return 0
    if decision is ConflictDecision.ADJUST:
        return adjustment
    return conflict.reversal


def find_conflicts(
    ledger: Ledger,
    event: Any,
    outcome: Decided | EventRejected,
    edge: str | None,
    detected_at: datetime,
) -> list[Conflict]:
    """The conflicts an event that came through edge agent `edge` made, judged right after the
    ledger decided it: `outcome` is its result, or the refusal it raised. None for events that
    did not come through an edge agent, or that are duplicates."""
    if edge is None:
        return []
    if isinstance(outcome, EventRejected):
        kind = (
            ConflictKind.DOCUMENT_CHANGED
            if isinstance(outcome, ConflictingDuplicate)
            else ConflictKind.REFUSED
        )
        location, sku, batch = _position_named(event)
        detail = f"{event.event_type} {event.event_id} from {edge} was not booked: {outcome.reason}: {outcome.detail}"
        return [
            _conflict(
                event,
                edge,
                detected_at,
                kind,
                PositionKey(location, sku, batch),
                0,
                0,
                0,
                outcome.reason,
                detail,
            )
        ]
    if outcome.duplicate:
        return []
    out = []
    for mv in outcome.movements:
        if mv.on_hand_delta:
            found = _judge(ledger, event, mv, edge, detected_at)
            if found is not None:
                out.append(found)
    return out


def _judge(ledger: Ledger, event: Any, mv: Movement, edge: str, detected_at: datetime) -> Conflict | None:
    """The one rule: a count made later covers the position first; else a position driven
    negative, by something made later or not."""
    key = mv.key
    after = mv.after.on_hand
    count = ledger.counted_after(key, mv.occurred_at)
    if count is not None:
        # booked already, the count's difference holds this change too: undo it; not yet, the
        # count's book takes the change in and its difference comes out right (nothing to undo)
        booked = ledger.has_applied(variance_adjustment_id(count.event_id))
        detail = (
            f"{mv.event_type} {mv.event_id} from {edge} changed {mv.sku} at {mv.location} by "
            f"{mv.on_hand_delta} as of {mv.occurred_at.isoformat()}; count {count.count_id} taken at "
            f"{count.occurred_at.isoformat()} covered it already"
            + ("; its difference was booked already" if booked else "; its difference is not booked yet")
        )
        return _conflict(
            event, edge, detected_at, ConflictKind.COUNTED_MEANWHILE, key, mv.on_hand_delta, after,
            -mv.on_hand_delta if booked else 0, count.count_id, detail,
        )  # fmt: skip
    if not mv.negative_stock:  # took no more than the books had
        return None
    later = ledger.later_changes(key, mv.occurred_at)
    kind = ConflictKind.MOVED_MEANWHILE if later else ConflictKind.NEGATIVE_STOCK
    detail = (
        f"{mv.event_type} {mv.event_id} from {edge} took {mv.sku} at {mv.location} to {after} on hand"
        + (
            f"; {len(later)} change(s) made after it ({sum(d for _, d in later):+d}) were booked first"
            if later
            else ""
        )
    )
    return _conflict(event, edge, detected_at, kind, key, mv.on_hand_delta, after, max(-after, 0), "", detail)


def _conflict(
    event: Any,
    edge: str,
    detected_at: datetime,
    kind: ConflictKind,
    key: PositionKey,
    delta: int,
    after: int,
    suggested: int,
    reference: str,
    detail: str,
) -> Conflict:
    return Conflict(
        conflict_id=conflict_id_for(event.event_id, kind, key.location, key.sku, key.batch),
        kind=kind,
        event_id=event.event_id,
        event_type=event.event_type,
        source=event.source,
        edge=edge,
        location=key.location,
        sku=key.sku,
        batch=key.batch,
        occurred_at=event.occurred_at,
        detected_at=detected_at,
        on_hand_delta=delta,
        on_hand_after=after,
        suggested_on_hand=suggested,
        reference=reference,
        detail=detail[:2000],
    )


def _position_named(event: Any) -> tuple[str, str, str]:
    """The location, SKU and batch an event names (a till ticket: its first line's)."""
    lines = getattr(event, "lines", None)
    first = lines[0] if lines else event
    return event.location_id, getattr(first, "sku", "") or "", getattr(first, "batch", None) or NO_BATCH
