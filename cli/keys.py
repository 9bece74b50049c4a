"""`stockflow keys` (the personal-data key file) and `stockflow retention apply`."""

from __future__ import annotations

from datetime import date

import typer
from rich.text import Text

from cli.common import Format, _prefect_server, console, format_option, print_table, t
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

keys_app = typer.Typer(no_args_is_help=True, help=t("cli.keys.help"))
retention_app = typer.Typer(no_args_is_help=True, help=t("cli.retention.help"))

RETENTION_COLUMNS = ("data_class", "treatment", "cutoff", "due", "values_changed")


@keys_app.command("init", help=t("cli.keys.init.help"))
def keys_init() -> None:
    """Create the key file (mode 0600) outside the data folder; an existing one is kept."""
    from stores.crypto import PersonalDataKeyError, create_key_file

    settings = get_settings()
    try:
        keys = create_key_file(settings.key_path, settings.var_dir)
    except PersonalDataKeyError as exc:
        console.print(Text(t("cli.keys.init.refused", reason=str(exc)), style="red"))
        raise typer.Exit(1) from None
    console.print(t("cli.keys.init.created", path=settings.key_path, key_id=keys.key_id), markup=False)
    console.print(Text(t("cli.keys.backup"), style="yellow"))


@keys_app.command("show", help=t("cli.keys.show.help"))
def keys_show() -> None:
    """Where the key file is, its key id, and whether personal fields are encrypted."""
    from stores.crypto import PersonalDataKeyError, load_key_file

    settings = get_settings()
    encrypting = (
        t("cli.keys.encryption_on") if settings.encrypt_personal_data else t("cli.keys.encryption_off")
    )
    try:
        keys = load_key_file(settings.key_path, settings.var_dir)
    except PersonalDataKeyError as exc:
        console.print(Text(t("cli.keys.unusable", reason=str(exc)), style="red"), Text(encrypting))
        raise typer.Exit(1) from None
    console.print(t("cli.keys.show.found", path=settings.key_path, key_id=keys.key_id), markup=False)
    console.print(encrypting, markup=False)


@retention_app.command("apply", help=t("cli.retention.apply.help"))
def retention_apply(
    today: str = typer.Option("", "--today", help=t("cli.retention.apply.today")),
    fmt: Format = format_option(),
) -> None:
    """Run apply_retention now (as its daily schedule does) and show what each class got."""
    settings = get_settings()
    day = date.fromisoformat(today) if today else None
    server = _prefect_server(settings)
    try:
        from flows.apply_retention import apply_retention

        outcomes = apply_retention(str(settings.var_dir), day)
    finally:
        if server is not None:
            server.stop()
    print_table(outcomes, RETENTION_COLUMNS, fmt, t("cli.retention.apply.title"))


GROUPS = {"keys": keys_app, "retention": retention_app}
