"""Compliance as code (合规即代码): the company's rules, checked on intake and on actions.

The rules live in one file the company writes (`Settings.policies_path`, YAML read by
`stores.policies`) and are validated here: every rule has an id, a description in the company's
words (one text, or one per language), a kind with its conditions and an effect:

* ``block``: the event or action is refused, citing the rule (on the stream: a dead letter with
  reason ``policy_blocked``);
* ``approval``: it is held until a person approves it (`stockflow.services.approvals`); with
  ``second_person`` (the default) that person may not be the one who asked.

Kinds:

* ``sale_restriction``: SKUs or categories that may not be sold through some channels, to some
  customers (by code or by a named customer group of the file) or at some locations. Checked on
  POS tickets (channel = the ticket's), group-meal orders (``group_meal``), sales issues and
  stock reservations (channel ``sales_order``).
* ``amount_limit``: documents above an amount in the books' currency: purchase orders (quantity
  × standard cost), goods receipts (quantity × invoiced cost at the day's exchange rate) and
  write-offs (a stock adjustment taking stock off, × standard cost).
* ``export``: exporting data classes that hold personal data (customers' phone and identity
  numbers, suppliers' phone numbers) — an action, not an event.

Evaluation is pure: `evaluate(rules, subject)` gives the `Decision` of the first blocking rule
that matches, else of the first approval rule, else None; a decision always names its rule.
`PolicyBook` indexes the rules by what they apply to when loaded, so an event no rule concerns
costs one dictionary lookup.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stockflow.events import AdjustmentReason, SalesChannel, fingerprint
from stockflow.i18n import Language, Message, parse_language
from stockflow.masking import Role
from stockflow.masterdata import Catalog

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
#: The money an amount limit is compared in: to the fen.
AMOUNT_QUANTUM = Decimal("0.01")
#: The channel a rule names for sales orders (issues and reservations carry none of a till's).
SALES_ORDER_CHANNEL = "sales_order"
CHANNELS = frozenset({*(c.value for c in SalesChannel), SALES_ORDER_CHANNEL})
#: Events a sale restriction is checked on.
SALE_EVENTS = frozenset({"pos_sale", "group_meal_order", "sales_issue", "stock_reservation"})
#: What an amount limit can name: two event types and the write-off (a stock adjustment that
#: takes stock off).
AMOUNT_DOCUMENTS = frozenset({"purchase_order", "goods_receipt", "write_off"})
#: The event type a write-off arrives as.
WRITE_OFF_EVENT = "stock_adjustment"
#: The subject kind of an export of master data.
EXPORT_ACTION = "export"
#: Data classes of the master data that hold personal data (and the fields that make them so).
PERSONAL_DATA = {"customers": ("phone", "id_number"), "suppliers": ("phone",)}


class Effect(StrEnum):
    BLOCK = "block"
    APPROVAL = "approval"


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Code
    description: str | dict[str, str] = Field(
        description="The company's words: one text, or one per language (zh_CN, en)."
    )
    effect: Effect
    second_person: bool = Field(
        default=True, description="An approval is given by someone other than who asked."
    )
    approvers: frozenset[Role] = Field(
        default=frozenset({Role.MANAGER}), description="The roles that may approve or reject."
    )

    @field_validator("description")
    @classmethod
    def _described(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        texts = [value] if isinstance(value, str) else list(value.values())
        if not texts or not all(text.strip() for text in texts):
            raise ValueError("a rule needs a description")
        if isinstance(value, dict):
            unknown = [k for k in value if parse_language(k) is None]
            if unknown:
                raise ValueError(f"unknown languages {unknown}; use zh_CN and en")
        return value

    @field_validator("approvers")
    @classmethod
    def _approvers_decide(cls, value: frozenset[Role]) -> frozenset[Role]:
        if not value:
            raise ValueError("a rule needs at least one role that approves")
        if Role.AUDITOR in value:
            raise ValueError("the auditor looks, never decides")
        return value

    def describe(self, language: Language | str) -> str:
        """The description in `language` (the other one when the company wrote only that)."""
        if isinstance(self.description, str):
            return self.description
        wanted = parse_language(language)
        by_language = {parse_language(k): v for k, v in self.description.items()}
        return by_language.get(wanted) or next(iter(by_language.values()))

    @abstractmethod
    def applies_to(self) -> frozenset[str]:
        """The subject kinds (event types, actions) this rule is checked on."""

    @abstractmethod
    def decide(self, subject: Subject) -> Decision | None:
        """The rule's decision on a subject it applies to (None: it does not hold it)."""

    def _decision(self, reason: str, **fields: Any) -> Decision:
        return Decision(
            self.effect, self.id, reason, {"rule": self.id, **fields}, self.second_person, self.approvers
        )


class SaleRestriction(_Rule):
    kind: Literal["sale_restriction"]
    skus: frozenset[Code] = frozenset()
    categories: frozenset[Code] = frozenset()
    channels: frozenset[str] = Field(default=frozenset(), description="Empty: every channel.")
    customers: frozenset[Code] = Field(default=frozenset(), description="Empty: every customer.")
    customer_groups: frozenset[Code] = frozenset()
    locations: frozenset[Code] = Field(default=frozenset(), description="Empty: every location.")
    #: Every customer the rule names, its groups' members included (filled in by `PolicySet`).
    named_customers: frozenset[str] = Field(default=frozenset(), exclude=True)

    @model_validator(mode="after")
    def _targets(self) -> SaleRestriction:
        if not self.skus and not self.categories:
            raise ValueError("a sale restriction names skus or categories")
        unknown = sorted(self.channels - CHANNELS)
        if unknown:
            raise ValueError(f"unknown channels {unknown}; known: {sorted(CHANNELS)}")
        return self

    def applies_to(self) -> frozenset[str]:
        return SALE_EVENTS

    def decide(self, subject: Subject) -> Decision | None:
        if subject.kind not in SALE_EVENTS:
            return None
        if self.channels and subject.channel not in self.channels:
            return None
        if (self.customers or self.customer_groups) and subject.customer not in self.named_customers:
            return None
        if self.locations and subject.location not in self.locations:
            return None
        for sku, category in subject.items:
            if sku in self.skus or category in self.categories:
                return self._decision(
                    "policy.reason.sale_restricted",
                    sku=sku,
                    channel=subject.channel or "-",
                    customer=subject.customer or "-",
                    location=subject.location,
                )
        return None


class AmountLimit(_Rule):
    kind: Literal["amount_limit"]
    documents: frozenset[str] = Field(default=AMOUNT_DOCUMENTS, description="Empty: all three.")
    above: Decimal = Field(gt=0, max_digits=16, decimal_places=2, description="In the books' currency.")
    locations: frozenset[Code] = Field(default=frozenset(), description="Empty: every location.")

    @field_validator("documents")
    @classmethod
    def _known_documents(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - AMOUNT_DOCUMENTS)
        if unknown:
            raise ValueError(f"unknown documents {unknown}; known: {sorted(AMOUNT_DOCUMENTS)}")
        return value or AMOUNT_DOCUMENTS

    def applies_to(self) -> frozenset[str]:
        return frozenset(WRITE_OFF_EVENT if d == "write_off" else d for d in self.documents)

    def decide(self, subject: Subject) -> Decision | None:
        if subject.document not in self.documents or subject.amount is None:
            return None
        if self.locations and subject.location not in self.locations:
            return None
        if subject.amount <= self.above:
            return None
        return self._decision(
            "policy.reason.amount_over_limit",
            document=subject.document,
            amount=f"{subject.amount:.2f}",
            limit=f"{self.above:.2f}",
            currency=subject.currency,
            location=subject.location,
        )


class ExportRule(_Rule):
    kind: Literal["export"]
    data_classes: frozenset[str] = Field(
        default=frozenset(PERSONAL_DATA), description="Default: those holding personal data."
    )

    def applies_to(self) -> frozenset[str]:
        return frozenset({EXPORT_ACTION})

    def decide(self, subject: Subject) -> Decision | None:
        if subject.kind != EXPORT_ACTION:
            return None
        hit = sorted(subject.data_classes & self.data_classes)
        if not hit:
            return None
        return self._decision("policy.reason.personal_data_export", data_classes=", ".join(hit))


Rule = Annotated[SaleRestriction | AmountLimit | ExportRule, Field(discriminator="kind")]


class PolicySet(BaseModel):
    """A rules file: named customer groups and the rules, in the order they are checked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_groups: dict[Code, frozenset[Code]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> PolicySet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
            if isinstance(rule, SaleRestriction):
                missing = sorted(rule.customer_groups - self.customer_groups.keys())
                if missing:
                    raise ValueError(f"rule {rule.id}: unknown customer groups {missing}")
        return self

    def resolved(self) -> list[_Rule]:
        """The rules with each sale restriction's customer groups taken in as customers."""
        out: list[_Rule] = []
        for rule in self.rules:
            if isinstance(rule, SaleRestriction):
                members = set(rule.customers)
                for group in rule.customer_groups:
                    members |= self.customer_groups[group]
                rule = rule.model_copy(update={"named_customers": frozenset(members)})
            out.append(rule)
        return out


@dataclass(frozen=True, slots=True)
class Subject:
    """What a rule looks at, taken from an event or an action."""

    kind: str
    location: str = ""
    channel: str = ""
    customer: str = ""
    #: (sku, category) of every line.
    items: tuple[tuple[str, str], ...] = ()
    #: purchase_order, goods_receipt or write_off (amount limits), else "".
    document: str = ""
    amount: Decimal | None = None
    currency: str = ""
    data_classes: frozenset[str] = frozenset()
    requested_by: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """A rule's verdict on a subject: its effect, the rule, and why (a message key and fields)."""

    effect: Effect
    rule_id: str
    reason: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    second_person: bool = True
    approvers: frozenset[Role] = frozenset({Role.MANAGER})

    @property
    def message(self) -> Message:
        return Message(self.reason, **self.fields)

    @property
    def english(self) -> str:
        """For logs and dead letters: ``rule <id>: <why>`` (every reason's message names its rule)."""
        return self.message.english


def evaluate(rules: Iterable[_Rule], subject: Subject) -> Decision | None:
    """The decision on `subject`: the first matching blocking rule's, else the first matching
    approval rule's, else None (allowed)."""
    held: Decision | None = None
    for rule in rules:
        decided = rule.decide(subject)
        if decided is None:
            continue
        if decided.effect is Effect.BLOCK:
            return decided
        held = held or decided
    return held


def _quantity_in_base(catalog: Catalog, sku_code: str, qty: Decimal, unit: str) -> int | None:
    sku = catalog.skus.get(sku_code)
    if sku is None:
        return None
    try:
        return catalog.to_base_units(sku, qty, unit)
    except ValueError:
        return None


def subject_of(event: Any, catalog: Catalog, tz: tzinfo) -> Subject:
    """The subject an event presents to the rules (unknown SKUs have no category; an amount that
    cannot be worked out — an unknown SKU, no exchange rate — is None: the ledger refuses such
    an event anyway)."""
    kind = event.event_type

    def item(code: str) -> tuple[str, str]:
        sku = catalog.skus.get(code)
        return code, sku.category if sku is not None else ""

    if kind == "pos_sale":
        return Subject(
            kind,
            event.store,
            event.channel.value,
            event.customer or "",
            tuple(item(li.sku) for li in event.lines),
        )
    if kind == "group_meal_order":
        if event.action != "confirm":
            return Subject(kind, event.location)
        return Subject(
            kind,
            event.location,
            SalesChannel.GROUP_MEAL.value,
            event.customer or "",
            tuple(item(li.dish) for li in event.lines),
        )
    if kind == "sales_issue":
        return Subject(kind, event.location, SALES_ORDER_CHANNEL, event.customer, (item(event.sku),))
    if kind == "stock_reservation":
        if event.action != "reserve":
            return Subject(kind, event.location)
        return Subject(kind, event.location, SALES_ORDER_CHANNEL, event.customer or "", (item(event.sku),))
    books = catalog.currency
    if kind == "goods_receipt":
        rate = catalog.rate_on(event.currency, event.occurred_at.astimezone(tz).date())
        amount = None if rate is None else (event.qty * event.unit_cost * rate).quantize(AMOUNT_QUANTUM)
        return Subject(
            kind, event.location, items=(item(event.sku),), document=kind, amount=amount, currency=books
        )
    if kind == "purchase_order":
        base = _quantity_in_base(catalog, event.sku, event.qty, event.unit)
        amount = (
            None if base is None else (base * catalog.skus[event.sku].standard_cost).quantize(AMOUNT_QUANTUM)
        )
        return Subject(
            kind, event.location, items=(item(event.sku),), document=kind, amount=amount, currency=books
        )
    if kind == WRITE_OFF_EVENT:
        if event.qty >= 0 or event.reason == AdjustmentReason.FOUND:
            return Subject(kind, event.location)
        base = _quantity_in_base(catalog, event.sku, -event.qty, event.unit)
        amount = (
            None if base is None else (base * catalog.skus[event.sku].standard_cost).quantize(AMOUNT_QUANTUM)
        )
        return Subject(
            kind,
            event.location,
            items=(item(event.sku),),
            document="write_off",
            amount=amount,
            currency=books,
        )
    return Subject(kind, getattr(event, "location_id", ""))


def export_subject(data_classes: Iterable[str], requested_by: str) -> Subject:
    """The subject of exporting these master-data classes (e.g. ``customers``)."""
    return Subject(EXPORT_ACTION, data_classes=frozenset(data_classes), requested_by=requested_by)


class PolicyBook:
    """The rules, indexed by the event types and actions each applies to (built once, at load)."""

    def __init__(self, policies: PolicySet | Sequence[_Rule] | None = None, tz: tzinfo | None = None) -> None:
        self.tz = tz
        self.replace(policies)

    def replace(self, policies: PolicySet | Sequence[_Rule] | None) -> None:
        """Take these rules in place of the ones held (a rules file changed): everything that
        holds this book decides by them from its next event on."""
        if policies is None:
            rules: list[_Rule] = []
        elif isinstance(policies, PolicySet):
            rules = policies.resolved()
        else:
            rules = list(policies)
        self.rules: tuple[_Rule, ...] = tuple(rules)
        index: dict[str, list[_Rule]] = {}
        for rule in self.rules:
            for kind in rule.applies_to():
                index.setdefault(kind, []).append(rule)
        self._by_kind: dict[str, tuple[_Rule, ...]] = {k: tuple(v) for k, v in index.items()}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule(self, rule_id: str) -> _Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def concerns(self, kind: str) -> bool:
        return kind in self._by_kind

    def decide(self, subject: Subject) -> Decision | None:
        return evaluate(self._by_kind.get(subject.kind, ()), subject)

    def decide_event(self, event: Any, catalog: Catalog) -> Decision | None:
        """The decision on an incoming event; None at once when no rule concerns its type."""
        rules = self._by_kind.get(event.event_type)
        if rules is None:
            return None
        if self.tz is None:
            from stockflow.config import get_settings

            self.tz = get_settings().tz
        return evaluate(rules, subject_of(event, catalog, self.tz))


def parse_policies(data: Mapping[str, Any] | None) -> PolicySet:
    """A rules file's content (already read from YAML) validated; `ValueError` (pydantic's
    `ValidationError`) says what is wrong where. None or empty: no rules."""
    return PolicySet.model_validate(dict(data or {}))


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    #: An approved export that has been run (an approval is good for one export).
    USED = "used"


class ApprovalRequest(BaseModel):
    """Something a rule holds for a person's approval: a held event (kept whole, to be published
    again once approved) or an action (an export), with the rule's decision and, once taken, the
    person's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_id: Code
    subject: Literal["event", "export"]
    rule_id: str
    reason: str
    fields: dict[str, Any] = Field(default_factory=dict)
    second_person: bool = True
    approvers: frozenset[Role] = frozenset({Role.MANAGER})
    requested_by: str
    requested_at: datetime
    status: ApprovalStatus = ApprovalStatus.PENDING
    #: A held event: its id, type, topic, key (its location), payload and content fingerprint.
    event_id: str = ""
    event_type: str = ""
    topic: str = ""
    key: str = ""
    payload: str = ""
    content: int = 0
    #: An export: the data classes asked for.
    data_classes: frozenset[str] = frozenset()
    decided_by: str = ""
    decided_role: str = ""
    decided_at: datetime | None = None
    decision_reason: str = ""

    @property
    def message(self) -> Message:
        return Message(self.reason, **self.fields)


def event_approval_id(event_id: str) -> str:
    """The approval id of a held event: the same for every delivery of it."""
    return "A-" + hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()


def held_request(decision: Decision, event: Any, raw: bytes, topic: str, at: datetime) -> ApprovalRequest:
    """The request a held event makes: the requester is its source (a device, till or system —
    or the person, for what a person enters)."""
    return ApprovalRequest(
        approval_id=event_approval_id(event.event_id),
        subject="event",
        rule_id=decision.rule_id,
        reason=decision.reason,
        fields=dict(decision.fields),
        second_person=decision.second_person,
        approvers=decision.approvers,
        requested_by=event.source,
        requested_at=at,
        event_id=event.event_id,
        event_type=event.event_type,
        topic=str(topic),
        key=event.location_id,
        payload=raw.decode("utf-8", errors="replace"),
        content=fingerprint(event),
    )


def decision_refusal(
    request: ApprovalRequest, actor: str, role: Role | None
) -> tuple[str, dict[str, Any]] | None:
    """Why `actor` (with `role`) may not decide `request`: a reason and its fields, or None.
    Reasons: ``not_pending``, ``not_allowed`` (the role approves nothing here),
    ``same_person`` (the rule wants a second person)."""
    if request.status is not ApprovalStatus.PENDING:
        return "not_pending", {"approval": request.approval_id, "status": request.status.value}
    if role is None or role not in request.approvers:
        roles = ", ".join(sorted(r.value for r in request.approvers))
        return "not_allowed", {
            "approval": request.approval_id,
            "role": role.value if role else "-",
            "roles": roles,
        }
    if request.second_person and actor.strip().lower() == request.requested_by.strip().lower():
        return "same_person", {"approval": request.approval_id, "person": actor}
    return None


def personal_data_in(catalog: Catalog) -> frozenset[str]:
    """The data classes of `catalog` that hold personal data now (a customer with a phone or an
    identity number, a supplier with a phone)."""
    found = set()
    for name, fields in PERSONAL_DATA.items():
        records = getattr(catalog, name).values()
        if any(getattr(record, f, "") for record in records for f in fields):
            found.add(name)
    return frozenset(found)
