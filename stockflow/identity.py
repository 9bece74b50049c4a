"""Who may call the workers' API: devices and services with credentials, and what each may do.

* A **credential** belongs to a device (a till, a scanner, a sensor gateway) or a service (the
  flows, the dashboards, an integration). Its token is ``sf_<id>_<secret>``: the id finds the
  credential, the secret proves it. Only the secret's SHA-256 is kept; tokens are 256-bit
  random, so a fast hash is as safe as a slow one and costs nothing per request.
* A device is **scoped**: to the locations it stands at and the event types it may post (a till
  at ST01 cannot post a goods receipt at WH1); it reads stock at its own locations only. A
  service may do everything (alerts from the flows, the reconciliation's reads, any location).
* Checks answer with a reason (`Refusal`), never a bare ``False``, so the API can say why.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

TOKEN_PREFIX = "sf"
_ID_BYTES = 6
_SECRET_BYTES = 32


class Kind(StrEnum):
    DEVICE = "device"
    SERVICE = "service"


class Action(StrEnum):
    """What a request does, as far as permissions go."""

    POST_EVENT = "post_event"
    READ_STOCK = "read_stock"
    POST_INSPECTION = "post_inspection"
    POST_ALERT = "post_alert"
    READ_STATE = "read_state"  # whole partitions, for the reconciliation
    DRAIN = "drain"  # stop taking events in, before a shutdown
    PUBLISH_MASTERDATA = "publish_masterdata"  # numbered master-data changes, from the store


#: What a device may do at its own locations (everything else is for services only).
DEVICE_ACTIONS = frozenset({Action.POST_EVENT, Action.READ_STOCK, Action.POST_INSPECTION})


class InvalidToken(ValueError):
    """A token that is not of the form ``sf_<id>_<secret>``."""


@dataclass(frozen=True)
class Refusal:
    """Why a request may not go ahead: `status` is the HTTP status it maps to."""

    status: int
    reason: str
    detail: str


@dataclass(frozen=True)
class Credential:
    name: str
    kind: Kind
    token_id: str
    secret_sha256: str
    #: Locations a device acts at (empty for a service: all).
    locations: frozenset[str] = field(default_factory=frozenset)
    #: Event types a device may post (empty: any event type).
    event_types: frozenset[str] = field(default_factory=frozenset)
    created_at: datetime | None = None
    revoked: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "token_id": self.token_id,
            "secret_sha256": self.secret_sha256,
            "locations": sorted(self.locations),
            "event_types": sorted(self.event_types),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked": self.revoked,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Credential:
        created = data.get("created_at")
        return cls(
            name=data["name"],
            kind=Kind(data["kind"]),
            token_id=data["token_id"],
            secret_sha256=data["secret_sha256"],
            locations=frozenset(data.get("locations") or ()),
            event_types=frozenset(data.get("event_types") or ()),
            created_at=datetime.fromisoformat(created) if created else None,
            revoked=bool(data.get("revoked", False)),
        )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh token: (token, token_id, sha256 of its secret)."""
    token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return f"{TOKEN_PREFIX}_{token_id}_{secret}", token_id, _digest(secret)


def split_token(token: str) -> tuple[str, str]:
    """(token_id, secret) of a token, or `InvalidToken`."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or len(token_id) != 2 * _ID_BYTES or not secret or len(token) > 200:
        raise InvalidToken("not a stockflow token (sf_<id>_<secret>)")
    return token_id, secret


def credential_for(token: str, by_id: Mapping[str, Credential]) -> Credential | Refusal:
    """The credential a token proves, or why it proves none (401)."""
    try:
        token_id, secret = split_token(token)
    except InvalidToken as exc:
        return Refusal(401, "invalid_token", str(exc))
    found = by_id.get(token_id)
    # compare a digest either way, so an unknown id costs what a wrong secret does
    expected = found.secret_sha256 if found else _digest("")
    if not hmac.compare_digest(_digest(secret), expected) or found is None:
        return Refusal(401, "invalid_token", "unknown or wrong credential")
    if found.revoked:
        return Refusal(401, "revoked_token", f"the credential {found.name!r} was revoked")
    return found


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authorize(
    credential: Credential, action: Action, location: str | None = None, event_type: str | None = None
) -> Refusal | None:
    """None when `credential` may do `action` (at `location`, for `event_type`), else why not."""
    if credential.kind is Kind.SERVICE:
        return None
    if action not in DEVICE_ACTIONS:
        return Refusal(403, "forbidden", f"the device {credential.name!r} may not {action.value}")
    if location is None or location not in credential.locations:
        return Refusal(
            403,
            "wrong_location",
            f"the device {credential.name!r} acts at {sorted(credential.locations)}, not at {location!r}",
        )
    if (
        action is Action.POST_EVENT
        and credential.event_types
        and (event_type is None or event_type not in credential.event_types)
    ):
        return Refusal(
            403,
            "wrong_event_type",
            f"the device {credential.name!r} may post {sorted(credential.event_types)}, not {event_type!r}",
        )
    return None


def new_credential(
    name: str,
    kind: Kind,
    created_at: datetime,
    locations: Iterable[str] = (),
    event_types: Iterable[str] = (),
    known_event_types: Iterable[str] | None = None,
) -> tuple[Credential, str]:
    """A new credential and its token (shown once; only the hash is kept)."""
    if not name or len(name) > 100:
        raise ValueError("a credential needs a name of 1–100 characters")
    locations, event_types = frozenset(locations), frozenset(event_types)
    if kind is Kind.DEVICE and not locations:
        raise ValueError("a device needs at least one location (--location)")
    if known_event_types is not None and not event_types <= set(known_event_types):
        unknown = sorted(event_types - set(known_event_types))
        raise ValueError(f"unknown event types {unknown}; known: {sorted(known_event_types)}")
    token, token_id, digest = new_token()
    return Credential(name, kind, token_id, digest, locations, event_types, created_at), token


def credential_with_token(name: str, kind: Kind, token: str, created_at: datetime) -> Credential:
    """A service credential for a token chosen elsewhere (a secret store, a test session)."""
    token_id, secret = split_token(token)
    return Credential(name, kind, token_id, _digest(secret), created_at=created_at)
