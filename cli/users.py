"""`stockflow users`: people's dashboard accounts (add, list, passwd, disable, enable, unlock).

Every change is an audit entry whose actor is the operating-system user running the command."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from cli.common import _audit, _whoami, console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

users_app = typer.Typer(
    no_args_is_help=True, help="People's dashboard accounts: add, list, passwd, disable, enable, unlock."
)


def _book():  # noqa: ANN202
    from stores.accounts import AccountFile

    return AccountFile(get_settings().accounts_path)


def _new_password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(f"new password for {name}", hide_input=True, confirmation_prompt=True)


def _apply(change, *args):  # noqa: ANN001, ANN202
    """Run one of the accounts use cases; its refusal is the command's error (exit 2)."""
    from stockflow.accounts import AccountError

    try:
        return change(_book(), _audit(), *args)
    except AccountError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="The person's account name, e.g. wang.li"),
    role: str = typer.Option(..., "--role", help="manager, warehouse, finance or auditor"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Add an account (the password is asked twice, or read from stdin; at least 8 characters)."""
    from stockflow.masking import Role
    from stockflow.services.accounts import add_account

    try:
        chosen = Role(role)
    except ValueError:
        console.print(f"[red]unknown role {role!r}[/]: " + ", ".join(r.value for r in Role))
        raise typer.Exit(2) from None
    password = _new_password(name, password_stdin)
    account = _apply(add_account, name, chosen, password, _whoami())
    console.print(f"account {account.name} added ({account.role.value})")


@users_app.command("list")
def users_list() -> None:
    """Every account: name, role, state (active, locked until, disabled), last sign-in."""
    from datetime import UTC, datetime

    from rich.table import Table

    settings = get_settings()
    now = datetime.now(UTC)
    table = Table("name", "role", "state", "failed sign-ins", "last sign-in")
    for account in _book().all():
        if account.disabled:
            state = "disabled"
        elif account.is_locked(now):
            state = f"locked until {account.locked_until.astimezone(settings.tz):%Y-%m-%d %H:%M}"  # type: ignore[union-attr]
        else:
            state = "active"
        last = (
            account.last_sign_in.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            if account.last_sign_in
            else ""
        )
        table.add_row(account.name, account.role.value, state, str(account.failed_sign_ins), last)
    Console().print(table)


@users_app.command("passwd")
def users_passwd(
    name: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Set an account's password."""
    from stockflow.services.accounts import change_password

    account = _apply(change_password, name, _new_password(name, password_stdin), _whoami())
    console.print(f"password of {account.name} changed")


@users_app.command("disable")
def users_disable(name: str = typer.Argument(...)) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end."""
    from stockflow.services.accounts import disable_account

    account = _apply(disable_account, name, _whoami())
    console.print(f"{account.name} disabled")


@users_app.command("enable")
def users_enable(name: str = typer.Argument(...)) -> None:
    """Enable a disabled account again."""
    from stockflow.services.accounts import enable_account

    account = _apply(enable_account, name, _whoami())
    console.print(f"{account.name} enabled")


@users_app.command("unlock")
def users_unlock(name: str = typer.Argument(...)) -> None:
    """End an account's lockout (and forget its failed sign-ins)."""
    from stockflow.services.accounts import unlock_account

    account = _apply(unlock_account, name, _whoami())
    console.print(f"{account.name} unlocked")


GROUPS = {"users": users_app}
