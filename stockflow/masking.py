"""Who sees what: the dashboard's roles, what each may see, and masking of personal data.

* **Roles**: manager, warehouse, finance, auditor; each person signs in with a named account
  that has one of them (`stockflow.accounts`).
* **Masking by field** (`mask_record`): a customer's phone number is shown as its first 3 and
  last 4 digits (138****1234) to every role; an identity number is shown in full only to the
  roles the policy allows (the auditor by default) and otherwise as its first and last
  character (3****************X). A field is masked wherever it appears, whatever the page.
* **Masking by value** (`mask_phone_numbers`): for a role that may not see phone numbers in
  full, any mainland-China mobile number inside any text (a customer code, a summary, a
  name) is masked the same way: 11 digits, `1[3-9]` then nine more (3-4-4 groups), with or without a `+86` /
  `0086` prefix, spaces or dashes between the groups; not when the digits are part of a
  longer run of digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    MANAGER = "manager"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    AUDITOR = "auditor"


_NON_DIGITS = re.compile(r"\D")
_SEPARATOR = r"[ -]?"
#: a mainland mobile number anywhere in a text, not inside a longer run of digits
MOBILE_NUMBER = re.compile(
    rf"(?<![0-9])(?:(?:\+|00)86{_SEPARATOR})?(1[3-9][0-9]){_SEPARATOR}([0-9]{{4}}){_SEPARATOR}([0-9]{{4}})(?![0-9])"
)


def mask_phone(value: str | None) -> str | None:
    """138****1234: the first 3 and last 4 digits of the number (a +86 / 0086 prefix dropped);
    a number too short to keep 7 digits and hide at least one is hidden whole."""
    if not value:
        return value
    digits = _NON_DIGITS.sub("", value)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if len(digits) < 8:
        return "*" * max(len(digits), 4)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_phone_numbers(text: str | None) -> str | None:
    """`text` with every mobile number in it shown as 138****5678 (prefix and separators
    dropped); everything else is left as it is."""
    if not text:
        return text
    return MOBILE_NUMBER.sub(lambda m: f"{m[1]}****{m[3]}", text)


def mask_id_number(value: str | None) -> str | None:
    """3****************X: the first and last character of an identity number."""
    if not value:
        return value
    value = value.strip()
    if len(value) < 3:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


@dataclass(frozen=True)
class MaskingPolicy:
    """Which field is masked how, and which roles see it in full (none: masked for all)."""

    maskers: Mapping[str, Any] = field(
        default_factory=lambda: {"phone": mask_phone, "id_number": mask_id_number}
    )
    unmasked_for: Mapping[str, frozenset[Role]] = field(
        default_factory=lambda: {"phone": frozenset(), "id_number": frozenset({Role.AUDITOR})}
    )

    def masked_fields(self, role: Role) -> list[str]:
        return [f for f in self.maskers if role not in self.unmasked_for.get(f, frozenset())]

    def masks_values(self, role: Role) -> bool:
        """Whether phone numbers inside any text are masked for `role`: for every role that may
        not see the `phone` field in full."""
        return role not in self.unmasked_for.get("phone", frozenset())

    def mask_value(self, name: str, value: Any, role: Role) -> Any:
        """One field's value as `role` may see it: its field's masker if it has one for the
        role, else (text only) phone numbers inside it masked."""
        if name in self.maskers and role not in self.unmasked_for.get(name, frozenset()):
            return self.maskers[name](value)
        if isinstance(value, str) and self.masks_values(role):
            return mask_phone_numbers(value)
        return value

    def mask_record(self, record: Mapping[str, Any], role: Role) -> dict[str, Any]:
        """A copy of `record` with every field and every phone number this role may not see
        masked."""
        return {name: self.mask_value(name, value, role) for name, value in record.items()}


DEFAULT_POLICY = MaskingPolicy()


def mask_record(
    record: Mapping[str, Any], role: Role, policy: MaskingPolicy = DEFAULT_POLICY
) -> dict[str, Any]:
    return policy.mask_record(record, role)


class Area(StrEnum):
    """What a dashboard page shows; roles are granted areas, not pages."""

    OVERVIEW = "overview"
    STOCK = "stock"
    ALERTS = "alerts"
    COLD_CHAIN = "cold_chain"
    FINANCE = "finance"
    QUALITY = "quality"
    PLANNING = "planning"
    AUDIT = "audit"
    MASTER_DATA = "master_data"
    #: Late edge events that collided with the central books, and the decisions on them.
    CONFLICTS = "conflicts"
    #: The MQTT devices: registered sensors, scales, gates; last heard, silent or not.
    DEVICES = "devices"
    #: What the company's rules hold for approval (held events, exports of personal data).
    APPROVALS = "approvals"
    #: The no-stock edition: service orders, fulfilment, revenue and customers' consumption.
    SERVICES = "services"


_VIEWS: dict[Role, frozenset[Area]] = {
    Role.MANAGER: frozenset(Area),
    Role.WAREHOUSE: frozenset(
        {Area.OVERVIEW, Area.STOCK, Area.ALERTS, Area.COLD_CHAIN, Area.QUALITY, Area.PLANNING}
    )
    | {Area.MASTER_DATA, Area.CONFLICTS, Area.DEVICES, Area.APPROVALS},
    Role.FINANCE: frozenset(
        {Area.OVERVIEW, Area.FINANCE, Area.ALERTS, Area.QUALITY, Area.MASTER_DATA, Area.CONFLICTS}
    )
    | {Area.APPROVALS, Area.SERVICES},
    Role.AUDITOR: frozenset(Area),
}
#: who may decide (approve, reject, override; create and change master data) in an area; the
#: auditor looks, never acts
_DECIDES: dict[Area, frozenset[Role]] = {
    Area.PLANNING: frozenset({Role.MANAGER, Role.WAREHOUSE}),
    Area.MASTER_DATA: frozenset({Role.MANAGER, Role.WAREHOUSE}),
    Area.CONFLICTS: frozenset({Role.MANAGER, Role.WAREHOUSE}),
    #: each rule names which of them approve what it holds
    Area.APPROVALS: frozenset({Role.MANAGER, Role.FINANCE, Role.WAREHOUSE}),
}


def can_view(role: Role, area: Area) -> bool:
    return area in _VIEWS[role]


def can_decide(role: Role, area: Area) -> bool:
    return role in _DECIDES.get(area, frozenset())
