"""`stockflow init DIR`: a company of one's own, empty, ready for its master data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from cli.common import console, t
from stockflow.config import Edition, Settings
from stockflow.masterdata import Catalog

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

#: The company's settings file: read by every stockflow command run in its folder.
ENV_FILE = ".env"


def company_env(name: str, timezone: str, locale: str, edition: Edition = Edition.STANDARD) -> str:
    """The .env of a company's own folder (settings: `stockflow.config.Settings`)."""
    return "\n".join(
        [
            "# stockflow settings of this company (every STOCKFLOW_* setting may go here)",
            "STOCKFLOW_SIMULATED=false",
            f"STOCKFLOW_COMPANY_NAME={name}",
            "STOCKFLOW_VAR_DIR=var",
            f"STOCKFLOW_TIMEZONE={timezone}",
            f"STOCKFLOW_LOCALE={locale}",
            f"STOCKFLOW_EDITION={edition.value}",
            "",
        ]
    )


@commands.command("init", help=t("cli.init.help"))
def init(
    folder: Path = typer.Argument(..., help=t("cli.init.folder")),
    name: str = typer.Option("", help=t("cli.init.name")),
    timezone: str = typer.Option(Settings.model_fields["timezone"].default, help=t("cli.init.timezone")),
    currency: str = typer.Option("CNY", help=t("cli.init.currency")),
    locale: str = typer.Option("zh-CN", help=t("cli.init.locale")),
    edition: Edition = typer.Option(
        Edition.STANDARD, "--edition", case_sensitive=False, help=t("cli.init.edition")
    ),
) -> None:
    """Create an empty company in FOLDER: its settings, an empty catalogue in the books'
    currency; `stockflow up` run there starts the stack over it without the simulator."""
    from pydantic import ValidationError

    from stores.masterdata import MasterDataFiles

    folder = folder.resolve()
    if (folder / ENV_FILE).exists() or (folder / "var").exists():
        console.print(Text(t("cli.init.exists", folder=str(folder)), style="red"))
        raise typer.Exit(1)
    name = name or folder.name
    try:
        settings = Settings(_env_file=None, var_dir=folder / "var", timezone=timezone, locale=locale)
        catalog = Catalog(currency=currency.upper())
    except ValidationError as exc:
        console.print(Text(t("cli.init.invalid", error=str(exc.errors()[0]["msg"])), style="red"))
        raise typer.Exit(2) from exc
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENV_FILE).write_text(company_env(name, settings.timezone, locale, edition), encoding="utf-8")
    store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
    with store.lock():
        store.record([], catalog)
    console.print(Text(t("cli.init.created", name=name, folder=str(folder)), style="green"))
    console.print(t("cli.init.next", folder=str(folder)), markup=False)


GROUPS: dict[str, typer.Typer] = {}
