"""`stockflow users`: people's dashboard accounts (add, list, passwd, disable, enable, unlock).

Every change is an audit entry whose actor is the operating-system user running the command."""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from cli.common import Format, _audit, _whoami, console, explained, format_option, print_table, role_name, t
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

users_app = typer.Typer(no_args_is_help=True, help=t("cli.users.help"))

USER_COLUMNS = ("name", "role", "state", "locked_until", "failed_sign_ins", "last_sign_in")


def _book():  # noqa: ANN202
    from stores.accounts import AccountFile

    return AccountFile(get_settings().accounts_path)


def _new_password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(
        t("cli.users.new_password", name=name),
        hide_input=True,
        confirmation_prompt=t("cli.users.repeat_password"),
    )


def _apply(change, *args):  # noqa: ANN001, ANN202
    """Run one of the accounts use cases; its refusal is the command's error (exit 2)."""
    from stockflow.accounts import AccountError

    try:
        return change(_book(), _audit(), *args)
    except AccountError as exc:
        console.print(Text(explained(exc), style="red"))
        raise typer.Exit(2) from None


def state_name(state: str) -> str:
    """An account's state in the interface's language."""
    names = {
        "active": t("value.state.active"),
        "locked": t("value.state.locked"),
        "disabled": t("value.state.disabled"),
    }
    return names.get(state, state)


def _said(message: str) -> None:
    console.print(message, markup=False)


@users_app.command("add", help=t("cli.users.add.help"))
def users_add(
    name: str = typer.Argument(..., help=t("cli.users.add.name")),
    role: str = typer.Option(..., "--role", help=t("cli.users.add.role")),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=t("cli.users.password_stdin")),
) -> None:
    """Add an account (the password is asked twice, or read from stdin; at least 8 characters)."""
    from stockflow.masking import Role
    from stockflow.services.accounts import add_account

    try:
        chosen = Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        console.print(Text(t("cli.users.unknown_role", role=role, known=known), style="red"))
        raise typer.Exit(2) from None
    password = _new_password(name, password_stdin)
    account = _apply(add_account, name, chosen, password, _whoami())
    console.print(t("cli.users.added", name=account.name, role=role_name(account.role.value)), markup=False)


@users_app.command("list", help=t("cli.users.list.help"))
def users_list(output: Format = format_option()) -> None:
    """Every account: name, role, state (active, locked until, disabled), last sign-in."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    rows = []
    for account in _book().all():
        locked = not account.disabled and account.is_locked(now)
        rows.append(
            {
                "name": account.name,
                "role": account.role.value,
                "state": "disabled" if account.disabled else "locked" if locked else "active",
                "locked_until": account.locked_until if locked else None,
                "failed_sign_ins": account.failed_sign_ins,
                "last_sign_in": account.last_sign_in,
            }
        )
    print_table(
        rows, USER_COLUMNS, output, t("cli.users.list.title"), shown={"role": role_name, "state": state_name}
    )


@users_app.command("passwd", help=t("cli.users.passwd.help"))
def users_passwd(
    name: str = typer.Argument(..., help=t("cli.users.name")),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=t("cli.users.password_stdin")),
) -> None:
    """Set an account's password."""
    from stockflow.services.accounts import change_password

    account = _apply(change_password, name, _new_password(name, password_stdin), _whoami())
    _said(t("cli.users.password_changed", name=account.name))


@users_app.command("disable", help=t("cli.users.disable.help"))
def users_disable(name: str = typer.Argument(..., help=t("cli.users.name"))) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end."""
    from stockflow.services.accounts import disable_account

    _said(t("cli.users.disabled", name=_apply(disable_account, name, _whoami()).name))


@users_app.command("enable", help=t("cli.users.enable.help"))
def users_enable(name: str = typer.Argument(..., help=t("cli.users.name"))) -> None:
    """Enable a disabled account again."""
    from stockflow.services.accounts import enable_account

    _said(t("cli.users.enabled", name=_apply(enable_account, name, _whoami()).name))


@users_app.command("unlock", help=t("cli.users.unlock.help"))
def users_unlock(name: str = typer.Argument(..., help=t("cli.users.name"))) -> None:
    """End an account's lockout (and forget its failed sign-ins)."""
    from stockflow.services.accounts import unlock_account

    _said(t("cli.users.unlocked", name=_apply(unlock_account, name, _whoami()).name))


GROUPS = {"users": users_app}
