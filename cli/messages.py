"""`stockflow messages`: the interface's two catalogues (Simplified Chinese and English)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.common import console
from stockflow.i18n import Language, add_messages, catalogue, catalogue_path

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

messages_app = typer.Typer(no_args_is_help=True, help="The interface's message catalogues (zh_CN, en).")


@messages_app.command("add")
def messages_add(
    key: str = typer.Argument(..., help="e.g. overview.title"),
    zh: str = typer.Option(..., "--zh", help="The Simplified Chinese message."),
    en: str = typer.Option(..., "--en", help="The English message."),
) -> None:
    """Add one key to both catalogues."""
    try:
        add_messages({key: {Language.ZH_CN: zh, Language.EN: en}})
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(key)


@messages_app.command("add-file")
def messages_add_file(
    path: Path = typer.Argument(..., help='JSON: {"key": {"zh_CN": "…", "en": "…"}, …}'),
) -> None:
    """Add many keys to both catalogues at once."""
    loaded = json.loads(path.read_text(encoding="utf-8"))
    try:
        added = add_messages({k: {Language(lang): text for lang, text in v.items()} for k, v in loaded.items()})
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"{len(added)} keys added to {', '.join(str(catalogue_path(lang)) for lang in Language)}")


@messages_app.command("show")
def messages_show(key: str) -> None:
    """A key's message in every language."""
    for language in Language:
        console.print(f"{language}: {catalogue(language).get(key, '—')}")


GROUPS = {"messages": messages_app}
