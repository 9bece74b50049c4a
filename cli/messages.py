"""`stockflow messages`: the interface's two catalogues (Simplified Chinese and English)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

from cli.common import console, t
from stockflow.i18n import Language, add_messages, catalogue, catalogue_path

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

messages_app = typer.Typer(no_args_is_help=True, help=t("cli.messages.help"))


@messages_app.command("add", help=t("cli.messages.add.help"))
def messages_add(
    key: str = typer.Argument(..., help=t("cli.messages.add.key")),
    zh: str = typer.Option(..., "--zh", help=t("cli.messages.add.zh")),
    en: str = typer.Option(..., "--en", help=t("cli.messages.add.en")),
) -> None:
    """Add one key to both catalogues."""
    try:
        add_messages({key: {Language.ZH_CN: zh, Language.EN: en}})
    except ValueError as exc:
        console.print(Text(str(exc), style="red"))
        raise typer.Exit(1) from None
    console.print(key, markup=False)


@messages_app.command("add-file", help=t("cli.messages.add_file.help"))
def messages_add_file(
    path: Path = typer.Argument(..., help=t("cli.messages.add_file.path")),
) -> None:
    """Add many keys to both catalogues at once."""
    loaded = json.loads(path.read_text(encoding="utf-8"))
    try:
        added = add_messages(
            {k: {Language(lang): text for lang, text in v.items()} for k, v in loaded.items()}
        )
    except ValueError as exc:
        console.print(Text(str(exc), style="red"))
        raise typer.Exit(1) from None
    files = ", ".join(str(catalogue_path(lang)) for lang in Language)
    console.print(t("cli.messages.added", count=len(added), files=files), markup=False)


@messages_app.command("show", help=t("cli.messages.show.help"))
def messages_show(key: str = typer.Argument(..., help=t("cli.messages.show.key"))) -> None:
    """A key's message in every language."""
    for language in Language:
        console.print(f"{language}: {catalogue(language).get(key, '—')}", markup=False)


GROUPS = {"messages": messages_app}
