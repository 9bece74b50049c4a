"""People's accounts for the dashboards: a name, a role, an argon2id hash of the password, and
the lockout rule.

* **Hashes** are argon2id with RFC 9106's recommended parameters for memory-constrained
  machines (`argon2.profiles.RFC_9106_LOW_MEMORY`: t=3, m=64 MiB, p=4, 16-byte salt, 32-byte
  hash; above OWASP's minimums). A hash made with other parameters is replaced by a fresh one
  the next time its owner signs in (`needs_rehash`).
* **Lockout**: after `max_failures` consecutive failed sign-ins an account is locked for
  `lockout`; a sign-in while it is locked fails without the password being checked; a
  successful sign-in resets the count. The count starts again from zero once a lockout ends.
* **Unknown names** cost as much as known ones: the password is checked against a dummy hash,
  so how long an answer takes does not tell which names exist. A disabled account is checked
  the same way and always refused.

Accounts are values (`Account`, frozen); each change returns a new one. Where they are kept is
an adapter's business (the `AccountBook` port, in `stockflow.services.accounts`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from stockflow.i18n import Explained
from stockflow.masking import Role

#: RFC 9106, section 4, second recommended option (the first needs 2 GiB per hash)
HASH_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
_NAME = re.compile(r"[\w.@-]{1,64}")


class AccountError(Explained, ValueError):
    """A change to the accounts that cannot be made (the message, in any language, says why)."""


def password_hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(HASH_PARAMETERS)


def account_name(name: str) -> str:
    """The stored form of a name: trimmed and lower-cased; letters (any script), digits, `.`,
    `_`, `@` and `-`, at most 64 characters."""
    cleaned = name.strip().lower()
    if not _NAME.fullmatch(cleaned):
        raise AccountError("refusal.account_name_invalid", name=name)
    return cleaned


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("refusal.password_too_short", minimum=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("refusal.password_too_long", maximum=MAX_PASSWORD_LENGTH)


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    check_new_password(password)
    return (hasher or password_hasher()).hash(password)


def random_password() -> str:
    """12 URL-safe characters (72 random bits), for accounts made on first start."""
    return secrets.token_urlsafe(9)


def password_matches(password: str, stored: str, hasher: PasswordHasher | None = None) -> bool:
    """Whether `password` matches the argon2 hash `stored`; False for anything malformed."""
    try:
        return (hasher or password_hasher()).verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, hasher: PasswordHasher | None = None) -> bool:
    try:
        return (hasher or password_hasher()).check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return password_hasher().hash(secrets.token_urlsafe(16))


def burn_verification(password: str) -> None:
    """Check `password` against a dummy hash: the time a real check takes, for an unknown name
    or a disabled account."""
    password_matches(password, _dummy_hash())


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.lockout <= timedelta(0):
            raise ValueError("a lockout needs at least one failure and a positive duration")


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    password_hash: str
    disabled: bool = False
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    last_sign_in: datetime | None = None
    created_at: datetime | None = None
    #: the interface language the person chose (zh_CN | en); None: the company's
    language: str | None = None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, policy: LockoutPolicy) -> Account:
        """One more failed sign-in; the one that reaches the limit locks the account."""
        failures = self.failed_sign_ins + 1
        if failures >= policy.max_failures:
            return replace(self, failed_sign_ins=0, locked_until=now + policy.lockout)
        return replace(self, failed_sign_ins=failures)

    def after_success(self, now: datetime, new_hash: str | None = None) -> Account:
        return replace(
            self,
            failed_sign_ins=0,
            locked_until=None,
            last_sign_in=now,
            password_hash=new_hash or self.password_hash,
        )

    def record(self) -> dict[str, Any]:
        """The stored form (JSON-ready)."""
        return {
            "name": self.name,
            "role": self.role.value,
            "password_hash": self.password_hash,
            "disabled": self.disabled,
            "failed_sign_ins": self.failed_sign_ins,
            "locked_until": _iso(self.locked_until),
            "last_sign_in": _iso(self.last_sign_in),
            "created_at": _iso(self.created_at),
            "language": self.language,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Account:
        return cls(
            name=record["name"],
            role=Role(record["role"]),
            password_hash=record["password_hash"],
            disabled=bool(record.get("disabled", False)),
            failed_sign_ins=int(record.get("failed_sign_ins", 0)),
            locked_until=_time(record.get("locked_until")),
            last_sign_in=_time(record.get("last_sign_in")),
            created_at=_time(record.get("created_at")),
            language=record.get("language"),
        )


class Outcome(StrEnum):
    SIGNED_IN = "signed_in"
    WRONG = "wrong"  # unknown name, wrong password or disabled account: one answer for all
    LOCKED_OUT = "locked_out"  # this failure locked the account
    LOCKED = "locked"  # refused unchecked: the account was already locked


@dataclass(frozen=True)
class Verdict:
    """What a sign-in attempt decided, before anything is stored: `updated` is the account as it
    must be kept (None: nothing to keep); `why` is for the logs, never for the person signing in."""

    outcome: Outcome
    updated: Account | None
    why: str


def judge_sign_in(
    account: Account | None,
    password: str,
    now: datetime,
    policy: LockoutPolicy,
    hasher: PasswordHasher | None = None,
) -> Verdict:
    """The lockout rule for one attempt at `now` (a timezone-aware time)."""
    if account is None:
        burn_verification(password)
        return Verdict(Outcome.WRONG, None, "unknown account")
    if account.is_locked(now):
        return Verdict(Outcome.LOCKED, None, "locked")
    if account.disabled:
        burn_verification(password)
        return Verdict(Outcome.WRONG, None, "disabled")
    hasher = hasher or password_hasher()
    if not password_matches(password, account.password_hash, hasher):
        updated = account.after_failure(now, policy)
        if updated.is_locked(now):
            return Verdict(Outcome.LOCKED_OUT, updated, f"wrong password {policy.max_failures} times")
        return Verdict(Outcome.WRONG, updated, f"wrong password ({updated.failed_sign_ins} in a row)")
    rehashed = hasher.hash(password) if needs_rehash(account.password_hash, hasher) else None
    return Verdict(Outcome.SIGNED_IN, account.after_success(now, rehashed), "rehashed" if rehashed else "ok")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
