"""The `stockflow` command: `up | broker | worker | simulate | schemas | bench ...`.

Commands start the adapters as separate processes or import them lazily, so the core
stays free of any framework import. Every human-facing text comes from the catalogues in the
company's language (`cli.common.t`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import typer.rich_utils

from cli import (
    approvals,
    audit,
    books,
    company,
    devices,
    edge,
    finance,
    keys,
    masterdata,
    messages,
    planning,
    reconcile,
    services,
    stack,
    trace,
    users,
    vision,
)
from cli.common import console, t
from stockflow.events import event_json_schemas

# typer's own headings of the help pages, in the interface's language
typer.rich_utils.ARGUMENTS_PANEL_TITLE = t("cli.help.arguments")
typer.rich_utils.OPTIONS_PANEL_TITLE = t("cli.help.options")
typer.rich_utils.COMMANDS_PANEL_TITLE = t("cli.help.commands")
typer.rich_utils.ERRORS_PANEL_TITLE = t("cli.help.error")
typer.rich_utils.ABORTED_TEXT = t("cli.help.aborted")

app = typer.Typer(no_args_is_help=True, add_completion=False, help=t("cli.help.app"))
schemas_app = typer.Typer(no_args_is_help=True, help=t("cli.schemas.help"))
app.add_typer(schemas_app, name="schemas")
for _group in (
    company,
    approvals,
    audit,
    books,
    devices,
    edge,
    finance,
    keys,
    masterdata,
    messages,
    reconcile,
    services,
    vision,
    planning,
    stack,
    trace,
    users,
):
    for _name, _sub in _group.GROUPS.items():
        app.add_typer(_sub, name=_name)
    app.registered_commands += _group.commands.registered_commands


@schemas_app.command("export", help=t("cli.schemas.export.help"))
def schemas_export(
    out: Path = typer.Option(Path("schemas"), help=t("cli.schemas.export.out")),
) -> None:
    """Write the JSON Schema of every event type."""
    out.mkdir(parents=True, exist_ok=True)
    schemas = event_json_schemas()
    for stale in out.glob("*.json"):
        if stale.stem not in schemas:
            stale.unlink()
    for name, schema in schemas.items():
        (out / f"{name}.json").write_text(
            json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        )
    console.print(t("cli.schemas.export.wrote", count=len(schemas), folder=f"{out}/"), markup=False)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # python -m cli.main
    main()
