"""Who sees what: the dashboard's roles, their passwords (stored hashed), and field-level masking
of personal data.

* **Roles**: manager, warehouse, finance, auditor; each signs in with its own password.
* **Passwords** are kept as scrypt hashes (`hash_password`) in the settings, never in clear;
  `verify_password` compares in constant time.
* **Masking** (`mask_record`): a customer's phone number is shown as its first 3 and last 4
  digits (138****1234) to every role; an identity number is shown in full only to the roles
  the policy allows (the auditor by default) and otherwise as its first and last character
  (3****************X). A field is masked wherever it appears, whatever the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
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


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_NON_DIGITS = re.compile(r"\D")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$<n>$<r>$<p>$<salt>$<hash>` (base64), for the settings."""
    if not password:
        raise ValueError("a password cannot be empty")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a `hash_password` result; False for anything malformed."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), dklen=len(expected), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


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

    def mask_record(self, record: Mapping[str, Any], role: Role) -> dict[str, Any]:
        """A copy of `record` with every field this role may not see masked."""
        out = dict(record)
        for name in self.masked_fields(role):
            if name in out:
                out[name] = self.maskers[name](out[name])
        return out


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


_VIEWS: dict[Role, frozenset[Area]] = {
    Role.MANAGER: frozenset(Area),
    Role.WAREHOUSE: frozenset(
        {Area.OVERVIEW, Area.STOCK, Area.ALERTS, Area.COLD_CHAIN, Area.QUALITY, Area.PLANNING}
    ),
    Role.FINANCE: frozenset({Area.OVERVIEW, Area.FINANCE, Area.ALERTS, Area.QUALITY}),
    Role.AUDITOR: frozenset(Area),
}
#: who may decide (approve, reject, override) in an area; the auditor looks, never acts
_DECIDES: dict[Area, frozenset[Role]] = {Area.PLANNING: frozenset({Role.MANAGER, Role.WAREHOUSE})}


def can_view(role: Role, area: Area) -> bool:
    return area in _VIEWS[role]


def can_decide(role: Role, area: Area) -> bool:
    return role in _DECIDES.get(area, frozenset())
