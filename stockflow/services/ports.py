"""The ports several use cases share: publishing an event into the stream and the audit trail.

Ports that only one use case needs are declared in its own module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from stockflow.audit import AuditEntry
from stockflow.events import Event


class EventPublisher(Protocol):
    """Produces an event into the stream (the workers apply it like any other)."""

    def publish(self, event: Event) -> None: ...


class AuditTrail(Protocol):
    """Appends to the hash-chained audit trail: who did what to which target, and why."""

    def append(
        self,
        actor: str,
        action: str,
        target: str,
        role: str = "",
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry: ...
