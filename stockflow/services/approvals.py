"""The approvals queue: what the company's rules (`stockflow.compliance`) hold, and the people's
decisions on it.

* `hold_event`: a worker parks an event a rule holds (recorded before the event is
  acknowledged; the same event held again is the same request).
* `approve` / `reject`: a person whose role the rule names decides a pending request — not the
  one who asked, where the rule wants a second person. The audit entry is written first, then
  the decision is recorded; an approved event is then published again, whole and with its own
  id, and the workers take it (they find it approved). Approving an approved event again
  publishes it again (after a failure to publish; the stream takes it once).
* `request_export` / `use_export_approval`: an export of personal data a rule holds asks for an
  approval; once approved, the person who asked runs it, once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from stockflow.compliance import (
    PERSONAL_DATA,
    ApprovalRequest,
    ApprovalStatus,
    Decision,
    Effect,
    PolicyBook,
    decision_refusal,
    export_subject,
    held_request,
)
from stockflow.events import Event, parse_event
from stockflow.i18n import Explained
from stockflow.masking import Area, Role, can_decide
from stockflow.services.auditing import recorded_first
from stockflow.services.ports import AuditTrail, EventPublisher

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class ApprovalRefused(Explained, ValueError):
    """A decision or an export that may not go ahead; `reason` is the key's last part."""

    def __init__(self, reason: str, **fields: Any) -> None:
        super().__init__(f"approvals.refused.{reason}", **fields)
        self.reason = reason


class ApprovalStore(Protocol):
    """Where requests and decisions are kept (several processes share it)."""

    def get(self, approval_id: str) -> ApprovalRequest | None: ...

    def all(self) -> list[ApprovalRequest]:
        """Every request as it stands now, oldest first."""
        ...

    def add(self, request: ApprovalRequest) -> bool:
        """Keep a new request; False (nothing kept) when one with its id is kept already."""
        ...

    def transition(
        self, approval_id: str, expected: ApprovalStatus, changes: dict[str, Any]
    ) -> ApprovalRequest | None:
        """Apply `changes` (status, who, when, why) if the request is still `expected`,
        atomically; None when it is not (another decision came first)."""
        ...


def list_approvals(store: ApprovalStore, status: ApprovalStatus | str | None = None) -> list[ApprovalRequest]:
    """Requests, newest first; only those with `status` when given."""
    wanted = ApprovalStatus(status) if status else None
    return [r for r in reversed(store.all()) if wanted is None or r.status is wanted]


def hold_event(
    store: ApprovalStore,
    audit: AuditTrail,
    decision: Decision,
    event: Any,
    raw: bytes,
    topic: str,
    now: Clock = _now,
) -> ApprovalRequest:
    """Park an event a rule holds; idempotent by event id (a redelivery finds its request)."""
    request = held_request(decision, event, raw, topic, now())
    known = store.get(request.approval_id)
    if known is not None:
        return known
    # the audit entry first: a crash before the request is saved leaves an entry too many
    # (the redelivery writes it again), never a request the audit log does not know
    with recorded_first(
        audit,
        request.requested_by,
        "approval.requested",
        f"{request.event_type} {request.event_id}",
        reason=decision.english,
        details={
            "approval_id": request.approval_id,
            "rule_id": request.rule_id,
            "event_id": request.event_id,
            "message_key": request.reason,
            "message_fields": dict(request.fields),
        },
    ):
        added = store.add(request)
    return request if added else (store.get(request.approval_id) or request)


def _role(role: Role | str | None) -> Role | None:
    try:
        return Role(role) if role else None
    except ValueError:
        return None


def _decide(
    store: ApprovalStore,
    audit: AuditTrail,
    approval_id: str,
    status: ApprovalStatus,
    actor: str,
    role: Role | str | None,
    reason: str,
    now: Clock,
) -> ApprovalRequest:
    request = store.get(approval_id)
    if request is None:
        raise ApprovalRefused("no_such_approval", approval=approval_id)
    chosen = _role(role)
    if chosen is None or not can_decide(chosen, Area.APPROVALS):
        chosen = None
    why = decision_refusal(request, actor, chosen)
    if why is not None:
        raise ApprovalRefused(why[0], **why[1])
    at = now()
    with recorded_first(
        audit,
        actor,
        f"approval.{status.value}",
        f"{request.subject} {request.event_id or ','.join(sorted(request.data_classes))}",
        chosen.value if chosen else "",
        reason,
        {
            "approval_id": request.approval_id,
            "rule_id": request.rule_id,
            "requested_by": request.requested_by,
            "event_id": request.event_id,
            "decision_id": request.approval_id,
        },
    ):
        decided = store.transition(
            approval_id,
            ApprovalStatus.PENDING,
            {
                "status": status,
                "decided_by": actor,
                "decided_role": chosen.value if chosen else "",
                "decided_at": at,
                "decision_reason": reason,
            },
        )
        if decided is None:
            current = store.get(approval_id)
            raise ApprovalRefused(
                "not_pending", approval=approval_id, status=(current.status.value if current else "-")
            )
    return decided


def approve(
    store: ApprovalStore,
    publisher: EventPublisher | None,
    audit: AuditTrail,
    approval_id: str,
    actor: str,
    role: Role | str | None,
    reason: str = "",
    now: Clock = _now,
) -> ApprovalRequest:
    """Approve a pending request (see the module); a held event is published again."""
    request = store.get(approval_id)
    if (
        request is not None
        and request.subject == "event"
        and request.status is ApprovalStatus.APPROVED
        and publisher is not None
    ):
        _republish(publisher, audit, request, actor, role)
        return request
    decided = _decide(store, audit, approval_id, ApprovalStatus.APPROVED, actor, role, reason.strip(), now)
    if decided.subject == "event" and publisher is not None:
        _republish(publisher, audit, decided, actor, role)
    return decided


def _republish(
    publisher: EventPublisher,
    audit: AuditTrail,
    request: ApprovalRequest,
    actor: str,
    role: Role | str | None,
) -> Event:
    event = parse_event(request.payload)
    with recorded_first(
        audit,
        actor,
        "approval.published",
        f"{request.event_type} {request.event_id}",
        str(role or ""),
        details={
            "approval_id": request.approval_id,
            "rule_id": request.rule_id,
            "event_id": request.event_id,
        },
    ):
        publisher.publish(event)
    return event


def reject(
    store: ApprovalStore,
    audit: AuditTrail,
    approval_id: str,
    actor: str,
    role: Role | str | None,
    reason: str,
    now: Clock = _now,
) -> ApprovalRequest:
    """Reject a pending request, with the reason (a held event is never applied)."""
    reason = reason.strip()
    if not reason:
        raise ApprovalRefused("reason_required", approval=approval_id)
    return _decide(store, audit, approval_id, ApprovalStatus.REJECTED, actor, role, reason, now)


def personal_data_classes(data_classes: Iterable[str]) -> frozenset[str]:
    """Of these data classes, those that hold personal data."""
    return frozenset(data_classes) & frozenset(PERSONAL_DATA)


def request_export(
    store: ApprovalStore,
    audit: AuditTrail,
    book: PolicyBook,
    data_classes: Iterable[str],
    actor: str,
    now: Clock = _now,
) -> ApprovalRequest | None:
    """What exporting these data classes needs: None (no rule holds it: export), or a new
    pending request. Raises `ApprovalRefused` ``policy_blocked`` when a rule blocks it."""
    classes = frozenset(data_classes)
    decision = book.decide(export_subject(classes, actor))
    if decision is None:
        return None
    if decision.effect is Effect.BLOCK:
        audit.append(
            actor,
            "export.blocked",
            f"export {','.join(sorted(classes))}",
            reason=decision.english,
            details={"rule_id": decision.rule_id, "data_classes": sorted(classes)},
        )
        raise ApprovalRefused("policy_blocked", rule=decision.rule_id, why=decision.message.english)
    request = ApprovalRequest(
        approval_id="A-" + secrets.token_hex(6),
        subject="export",
        rule_id=decision.rule_id,
        reason=decision.reason,
        fields=dict(decision.fields),
        second_person=decision.second_person,
        approvers=decision.approvers,
        requested_by=actor,
        requested_at=now(),
        data_classes=classes,
    )
    with recorded_first(
        audit,
        actor,
        "approval.requested",
        f"export {','.join(sorted(classes))}",
        reason=decision.english,
        details={
            "approval_id": request.approval_id,
            "rule_id": decision.rule_id,
            "data_classes": sorted(classes),
        },
    ):
        store.add(request)
    return request


def use_export_approval(
    store: ApprovalStore,
    audit: AuditTrail,
    approval_id: str,
    actor: str,
    data_classes: Iterable[str],
    now: Clock = _now,
) -> ApprovalRequest:
    """Take an approved export's approval for this export (once, by the person who asked, for
    no more than the data classes approved); the audit entry names it."""
    request = store.get(approval_id)
    if request is None or request.subject != "export":
        raise ApprovalRefused("no_such_approval", approval=approval_id)
    if request.status is not ApprovalStatus.APPROVED:
        raise ApprovalRefused("not_approved", approval=approval_id, status=request.status.value)
    if actor.strip().lower() != request.requested_by.strip().lower():
        raise ApprovalRefused("not_requester", approval=approval_id, person=request.requested_by)
    extra = sorted(frozenset(data_classes) - request.data_classes)
    if extra:
        raise ApprovalRefused("not_covered", approval=approval_id, data_classes=", ".join(extra))
    with recorded_first(
        audit,
        actor,
        "export.approved_run",
        f"export {','.join(sorted(request.data_classes))}",
        details={"approval_id": approval_id, "rule_id": request.rule_id, "approved_by": request.decided_by},
    ):
        used = store.transition(approval_id, ApprovalStatus.APPROVED, {"status": ApprovalStatus.USED})
        if used is None:
            raise ApprovalRefused("not_approved", approval=approval_id, status=ApprovalStatus.USED.value)
    return used
