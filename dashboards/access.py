"""Sign-in for the dashboards: people's named accounts in `var/accounts.json` (argon2id hashes),
made with `stockflow users add NAME --role ROLE`, or by `stockflow up` the first time (one per
role, named after it, whose passwords it prints once). The lockout rule and the audit entries
are the core's (`stockflow.services.accounts`); this module hands it the file and the log."""

from __future__ import annotations

from datetime import timedelta

from stockflow.accounts import Account, LockoutPolicy
from stockflow.config import Settings
from stockflow.services.accounts import SignInResult, first_accounts, set_language
from stockflow.services.accounts import sign_in as sign_in_account
from stores.accounts import AccountFile
from stores.audit_log import AuditLog


def account_book(settings: Settings) -> AccountFile:
    return AccountFile(settings.accounts_path)


def lockout_policy(settings: Settings) -> LockoutPolicy:
    return LockoutPolicy(
        max_failures=settings.sign_in_max_failures,
        lockout=timedelta(minutes=settings.sign_in_lockout_minutes),
    )


def sign_in(settings: Settings, name: str, password: str) -> SignInResult:
    return sign_in_account(
        account_book(settings), AuditLog(settings.var_dir), name, password, lockout_policy(settings)
    )


def signed_in_account(settings: Settings, name: str) -> Account | None:
    """The account a session signed in with, as it is now: None once it is gone or disabled."""
    account = account_book(settings).get(name)
    return None if account is None or account.disabled else account


def save_language(settings: Settings, name: str, language: str) -> None:
    """The language a person picked, kept with their account (they change their own)."""
    set_language(account_book(settings), AuditLog(settings.var_dir), name, language, name)


def ensure_accounts(settings: Settings, actor: str) -> dict[str, str]:
    """With no account yet, one per role named after it: name → password, to be shown once."""
    return first_accounts(account_book(settings), AuditLog(settings.var_dir), actor)
