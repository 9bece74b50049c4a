"""The stock processor: one partition's state and the single entry point the stream calls.

``process(event)`` applies the ledger, then the alert rules, and returns what the stream must
publish. Replaying accepted events through a fresh processor in the order they were applied
(``process(event, admit=False)``: what was admitted then is booked whatever master data says
now) rebuilds exactly the same state (the lake is the record, the stream's tables its fast view).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from stockflow.alerts import Alert, AlertType, Severity, alert
from stockflow.coldchain import ColdChainMonitor
from stockflow.compliance import Decision, Effect, PolicyBook
from stockflow.events import AdjustmentReason, TransitDispatched, fingerprint
from stockflow.i18n import Message
from stockflow.ledger import (
    SYSTEM_EVENTS,
    Ledger,
    LedgerResult,
    MenuChange,
    Movement,
    OpenReceivables,
    Position,
    PositionKey,
    StockRejected,
)
from stockflow.masterdata import Catalog

log = logging.getLogger(__name__)


class PolicyBlocked(StockRejected):
    """A rule of the company's (`stockflow.compliance`) blocks the event: refused, citing it."""

    def __init__(self, decision: Decision) -> None:
        super().__init__("policy_blocked", decision.english)
        self.decision = decision


class PolicyHeld(Exception):
    """A rule holds the event for a person's approval: nothing is applied, nothing decided (the
    same event, once approved, is taken)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.english)
        self.decision = decision


class ApprovedEvents(Protocol):
    """Which held events a person has approved (`stockflow.services.approvals`)."""

    def approved(self, event_id: str, content: int) -> bool:
        """Whether the event with this id and content fingerprint was approved."""
        ...


@dataclass(frozen=True, slots=True)
class ProcessResult:
    event_id: str
    duplicate: bool
    movements: tuple[Movement, ...] = ()
    follow_ups: tuple[TransitDispatched, ...] = ()
    alerts: tuple[Alert, ...] = ()
    #: Dishes sold out, or back, per channel (`stockflow.ledger.MenuChange`).
    menu: tuple[MenuChange, ...] = ()


@dataclass
class StockProcessor:
    catalog: Catalog
    near_expiry_days: int = 3
    excursion_minutes: float = 15.0
    #: Whether an excursion holds the batches on hand (None: the settings').
    excursion_holds: bool | None = None
    #: Customers' open receivables for the credit check (None: none known, 0).
    receivables: OpenReceivables | None = None
    #: The company's rules, checked on every entering event before the ledger (None: none).
    policies: PolicyBook | None = None
    #: Approvals of held events (None: nothing held is ever approved).
    approvals: ApprovedEvents | None = None
    ledger: Ledger = field(init=False)
    _below_reorder: set[tuple[str, str]] = field(default_factory=set, init=False)
    _expiry_alerted: set[PositionKey] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(
            self.catalog,
            receivables=self.receivables,
            excursion_minutes=self.excursion_minutes,
            excursion_holds=self.excursion_holds,
        )

    @property
    def coldchain(self) -> ColdChainMonitor:
        """The excursions open now (the ledger's: it holds the batches an excursion finds)."""
        return self.ledger.coldchain

    def catalog_changed(self) -> None:
        """Take in a catalogue changed in place (master data applied while running): the
        ledger reads the catalogue as it is at each event."""

    def process(self, event: object, admit: bool = True) -> ProcessResult:
        """Apply one parsed event; raises `StockRejected` (nothing changes) when refused.

        `admit`: the event is entering, and the admission rules hold (a SKU's lifecycle, exchange
        rates); False when the record is replayed (see `Ledger.apply`). An entering event is
        first checked against the company's rules: `PolicyBlocked` (a refusal, decided) or
        `PolicyHeld` (nothing decided) when one applies."""
        if admit and self.policies:
            self._check_policies(event)
        result: LedgerResult = self.ledger.apply(event, admit)
        if result.duplicate:
            return ProcessResult(result.event_id, duplicate=True)
        alerts: list[Alert] = list(result.alerts)  # a reading's excursions
        movements = result.movements
        try:  # the event is booked: a fault in an alert rule must not undo or lose it
            for mv in movements:
                alerts += self._movement_alerts(mv)
            alerts += [menu_alert(change) for change in result.menu]
        except Exception:
            log.exception("alert rules failed for event %s; the event itself is booked", result.event_id)
        return ProcessResult(result.event_id, False, movements, result.follow_ups, tuple(alerts), result.menu)

    def _check_policies(self, event: Any) -> None:
        if not self.policies.concerns(event.event_type) or self.ledger.has_applied(event.event_id):  # type: ignore[union-attr]
            return  # a redelivery is the ledger's to recognise
        if type(event) in SYSTEM_EVENTS or getattr(event, "reason", None) is AdjustmentReason.COUNT_VARIANCE:
            return  # what the system derives (a transit leg, a repair, a count's variance) is no one's to approve
        decision = self.policies.decide_event(event, self.catalog)  # type: ignore[union-attr]
        if decision is None:
            return
        content = fingerprint(event)
        if decision.effect is Effect.BLOCK:
            self.ledger.mark_refused(event.event_id, content)  # a redelivery stays refused
            raise PolicyBlocked(decision)
        if self.approvals is None or not self.approvals.approved(event.event_id, content):
            raise PolicyHeld(decision)

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> dict[str, Any]:
        """The partition's whole state (ledger and alert rules), as JSON-ready values."""
        return {
            "ledger": self.ledger.snapshot(),
            "below_reorder": [list(item) for item in self._below_reorder],
            "expiry_alerted": [[k.location, k.sku, k.batch] for k in self._expiry_alerted],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take over a snapshot's state (this processor's settings stay its own)."""
        self.ledger = Ledger.from_snapshot(
            self.catalog, data["ledger"], self.receivables, self.excursion_minutes, self.excursion_holds
        )
        self._below_reorder = {(location, sku) for location, sku in data["below_reorder"]}
        self._expiry_alerted = {PositionKey(lo, sk, ba) for lo, sk, ba in data["expiry_alerted"]}
        if "cold_chain" in data and "cold_chain" not in data["ledger"]:  # a checkpoint of before
            self.coldchain.restore(data["cold_chain"])

    # ------------------------------------------------------------------ rules
    def available(self, location: str, sku: str) -> int:
        return Position.total(self.ledger.batches_at(location, sku).values()).unrestricted

    def _movement_alerts(self, mv: Movement) -> list[Alert]:
        out: list[Alert] = []
        sku = self.catalog.skus[mv.sku]
        if mv.negative_stock:
            out.append(
                alert(
                    AlertType.NEGATIVE_STOCK,
                    Severity.WARNING,
                    mv.occurred_at,
                    mv.location,
                    Message(
                        "alert.negative_stock",
                        sku=mv.sku,
                        batch=mv.batch or "-",
                        location=mv.location,
                        on_hand=mv.after.on_hand,
                        event_type=mv.event_type,
                        event_id=mv.event_id,
                    ),
                    id_parts=(mv.event_id, mv.location, mv.sku, mv.batch),
                    sku=mv.sku,
                    batch=mv.batch,
                    on_hand=mv.after.on_hand,
                    event_id=mv.event_id,
                )
            )
        if mv.quarantined_delta > 0:
            out.append(
                alert(
                    AlertType.QUARANTINE,
                    Severity.WARNING,
                    mv.occurred_at,
                    mv.location,
                    Message(
                        "alert.quarantine",
                        qty=mv.quarantined_delta,
                        unit=sku.base_unit,
                        sku=mv.sku,
                        batch=mv.batch or "-",
                        location=mv.location,
                        event_type=mv.event_type,
                        event_id=mv.event_id,
                        held=mv.after.quarantined,
                    ),
                    id_parts=(mv.event_id, mv.location, mv.sku, mv.batch),
                    sku=mv.sku,
                    batch=mv.batch,
                    quarantined=mv.after.quarantined,
                    event_id=mv.event_id,
                )
            )
        item = (mv.location, mv.sku)
        if sku.reorder_point > 0:
            available = self.available(*item)
            if available < sku.reorder_point and item not in self._below_reorder:
                self._below_reorder.add(item)
                out.append(
                    alert(
                        AlertType.LOW_STOCK,
                        Severity.WARNING,
                        mv.occurred_at,
                        mv.location,
                        Message(
                            "alert.low_stock",
                            sku=mv.sku,
                            location=mv.location,
                            available=available,
                            unit=sku.base_unit,
                            reorder_point=sku.reorder_point,
                        ),
                        id_parts=(mv.event_id, mv.location, mv.sku),
                        sku=mv.sku,
                        available=available,
                        reorder_point=sku.reorder_point,
                        event_id=mv.event_id,
                    )
                )
            elif available >= sku.reorder_point:
                self._below_reorder.discard(item)
        if mv.on_hand_delta > 0 or mv.in_transit_delta > 0:
            near = self._near_expiry_alert(mv.key, mv.occurred_at)
            if near is not None:
                out.append(near)
        return out

    def _near_expiry_alert(self, key: PositionKey, now: datetime) -> Alert | None:
        expiry = self.ledger.batch_expiry(key.location, key.sku, key.batch)
        pos = self.ledger.position(key)
        if expiry is None or pos.on_hand <= 0 or key in self._expiry_alerted:
            return None
        days_left = (expiry - now.date()).days
        if days_left > self.near_expiry_days:
            return None
        self._expiry_alerted.add(key)
        expired = days_left < 0
        return alert(
            AlertType.NEAR_EXPIRY,
            Severity.CRITICAL if expired else Severity.WARNING,
            now,
            key.location,
            Message(
                "alert.expired" if expired else "alert.near_expiry",
                batch=key.batch,
                sku=key.sku,
                location=key.location,
                expiry=expiry.isoformat(),
                days_left=days_left,
                on_hand=pos.on_hand,
            ),
            id_parts=(key.location, key.sku, key.batch),
            sku=key.sku,
            batch=key.batch,
            expiry_date=expiry.isoformat(),
            days_left=days_left,
            on_hand=pos.on_hand,
        )

    def sweep_expiry(self, now: datetime) -> list[Alert]:
        """Check every batch on hand against its expiry date (run periodically by the stream)."""
        out = []
        for key, pos in list(self.ledger.positions()):
            if pos.on_hand > 0:
                found = self._near_expiry_alert(key, now)
                if found is not None:
                    out.append(found)
        return out


def menu_alert(change: MenuChange) -> Alert:
    """A dish sold out for a channel (warning), or back on its menu (info)."""
    channel = change.channel or "open"
    return alert(
        AlertType.SOLD_OUT,
        Severity.WARNING if change.sold_out else Severity.INFO,
        change.occurred_at,
        change.store,
        Message(
            "alert.sold_out" if change.sold_out else "alert.back_on_menu",
            dish=change.dish,
            channel=channel,
            store=change.store,
            portions=change.portions_left,
        ),
        id_parts=(change.event_id,),
        sku=change.dish,
        channel=channel,
        sold_out=change.sold_out,
        portions_left=change.portions_left,
    )


def menu_message(change: MenuChange) -> dict[str, object]:
    """A menu change as the ``menu_availability`` topic carries it (keyed by store): what a
    till or a delivery platform needs to mark the dish sold out, or offer it again."""
    return {
        "event_id": change.event_id,
        "occurred_at": change.occurred_at.isoformat(),
        "store": change.store,
        "dish": change.dish,
        "channel": change.channel or None,
        "sold_out": change.sold_out,
        "portions_left": change.portions_left,
    }
