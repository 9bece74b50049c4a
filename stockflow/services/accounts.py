"""People's accounts: add one, change its password, disable, enable or unlock it, make the first
ones, and sign in (the lockout rule is the domain's, `stockflow.accounts`).

Written against the `AccountBook` port (a file adapter in `stores.accounts`) and the audit
trail: every change and every sign-in, failed or not, is an audit entry naming who acted.

A sign-in reads the account without a lock first: an unknown name or a locked account writes
nothing. Otherwise the attempt is judged on the account as read again under the book's lock
and its outcome stored before the lock is let go, so concurrent attempts from several
dashboard processes each count (none is lost, none slips past a lockout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from stockflow.accounts import (
    Account,
    AccountError,
    LockoutPolicy,
    Outcome,
    account_name,
    burn_verification,
    hash_password,
    judge_sign_in,
    random_password,
)
from stockflow.i18n import translator
from stockflow.masking import Role
from stockflow.services.ports import AuditTrail

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class AccountBook(Protocol):
    """Where the accounts are kept."""

    def get(self, name: str) -> Account | None: ...

    def all(self) -> list[Account]: ...

    def changing(self) -> AbstractContextManager[dict[str, Account]]:
        """Name → account, held exclusively for the block; what the block leaves in the dict is
        stored when it ends without an exception."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SignInResult:
    outcome: Outcome
    name: str
    role: Role | None = None  # set when signed in
    locked_until: datetime | None = None  # set when locked

    @property
    def signed_in(self) -> bool:
        return self.outcome is Outcome.SIGNED_IN


def add_account(
    book: AccountBook, audit: AuditTrail, name: str, role: Role, password: str, actor: str, now: Clock = _now
) -> Account:
    name = account_name(name)
    password_hash = hash_password(password)
    with book.changing() as accounts:
        if name in accounts:
            raise AccountError("refusal.account_exists", name=name)
        account = Account(name=name, role=Role(role), password_hash=password_hash, created_at=now())
        accounts[name] = account
        audit.append(actor, "account.added", name, details={"role": account.role.value})
    log.info("%s added the account %s (%s)", actor, name, account.role.value)
    return account


def _change(
    book: AccountBook,
    audit: AuditTrail,
    name: str,
    actor: str,
    action: str,
    change: Callable[[Account], Account],
) -> Account:
    name = account_name(name)
    with book.changing() as accounts:
        if name not in accounts:
            raise AccountError("refusal.no_such_account", name=name)
        accounts[name] = changed = change(accounts[name])
        audit.append(actor, action, name, details={"role": changed.role.value})
    log.info("%s: %s by %s", name, action, actor)
    return changed


def change_password(book: AccountBook, audit: AuditTrail, name: str, password: str, actor: str) -> Account:
    password_hash = hash_password(password)  # checked and hashed before the book is held
    return _change(
        book,
        audit,
        name,
        actor,
        "account.password_changed",
        lambda a: replace(a, password_hash=password_hash),
    )


def disable_account(book: AccountBook, audit: AuditTrail, name: str, actor: str) -> Account:
    return _change(book, audit, name, actor, "account.disabled", lambda a: replace(a, disabled=True))


def enable_account(book: AccountBook, audit: AuditTrail, name: str, actor: str) -> Account:
    return _change(book, audit, name, actor, "account.enabled", lambda a: replace(a, disabled=False))


def set_language(
    book: AccountBook, audit: AuditTrail, name: str, language: str | None, actor: str
) -> Account:
    """The interface language a person chose (kept with the account, for every session)."""
    chosen = None if language is None else str(translator(language).language)  # refuses an unknown one
    return _change(
        book, audit, name, actor, "account.language_changed", lambda a: replace(a, language=chosen)
    )


def unlock_account(book: AccountBook, audit: AuditTrail, name: str, actor: str) -> Account:
    return _change(
        book,
        audit,
        name,
        actor,
        "account.unlocked",
        lambda a: replace(a, failed_sign_ins=0, locked_until=None),
    )


def first_accounts(book: AccountBook, audit: AuditTrail, actor: str, now: Clock = _now) -> dict[str, str]:
    """When there is no account at all: one per role, named after it, with a random password.
    Returns name → password (to be shown once); empty when accounts exist."""
    with book.changing() as accounts:
        if accounts:
            return {}
        chosen = {role.value: random_password() for role in Role}
        for role in Role:
            accounts[role.value] = Account(
                name=role.value, role=role, password_hash=hash_password(chosen[role.value]), created_at=now()
            )
            audit.append(actor, "account.added", role.value, details={"role": role.value, "first_run": True})
    log.info("made the first accounts: %s", ", ".join(chosen))
    return chosen


def sign_in(
    book: AccountBook,
    audit: AuditTrail,
    name: str,
    password: str,
    policy: LockoutPolicy,
    now: Clock = _now,
) -> SignInResult:
    try:
        name = account_name(name)
    except AccountError:
        burn_verification(password)
        return _refused(audit, name.strip()[:64] or "(no name)", Outcome.WRONG, "invalid name", None)
    at = now()
    seen = book.get(name)
    if seen is None or seen.is_locked(at):  # nothing to store: judged without the book's lock
        verdict = judge_sign_in(seen, password, at, policy)
        return _refused(audit, name, verdict.outcome, verdict.why, seen)
    with book.changing() as accounts:
        account = accounts.get(name)
        verdict = judge_sign_in(account, password, at, policy)
        if verdict.updated is not None:
            accounts[name] = verdict.updated
        if account is not None and verdict.outcome is Outcome.SIGNED_IN:
            audit.append(name, "dashboard.signed_in", "dashboard", account.role.value)
            log.info(
                "%s signed in (%s)%s",
                name,
                account.role.value,
                "; hash renewed" * (verdict.why == "rehashed"),
            )
            return SignInResult(Outcome.SIGNED_IN, name, role=account.role)
    return _refused(audit, name, verdict.outcome, verdict.why, verdict.updated or account)


_ACTIONS = {
    Outcome.WRONG: "dashboard.sign_in_failed",
    Outcome.LOCKED_OUT: "dashboard.locked_out",
    Outcome.LOCKED: "dashboard.sign_in_while_locked",
}


def _refused(
    audit: AuditTrail, name: str, outcome: Outcome, why: str, account: Account | None
) -> SignInResult:
    until = account.locked_until if account is not None and outcome is not Outcome.WRONG else None
    details = {"why": why} | ({"locked_until": until.isoformat()} if until else {})
    log.warning("sign-in refused for %r: %s", name, why)
    role = account.role.value if account is not None else ""
    audit.append(name, _ACTIONS[outcome], "dashboard", role, details=details)
    return SignInResult(outcome, name, locked_until=until)
