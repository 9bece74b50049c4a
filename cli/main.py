"""The `stockflow` command: `up | broker | worker | simulate | schemas | bench ...`.

Commands start the adapters as separate processes or import them lazily, so the core
stays free of any framework import."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from cli import audit, books, devices, messages, planning, reconcile, stack, users, vision
from stockflow.events import event_json_schemas

app = typer.Typer(no_args_is_help=True, add_completion=False, help="stockflow: real-time stock for SMEs.")
schemas_app = typer.Typer(no_args_is_help=True, help="Event JSON Schemas (the producers' contract).")
app.add_typer(schemas_app, name="schemas")
for _group in (audit, books, devices, messages, reconcile, vision, planning, stack, users):
    for _name, _sub in _group.GROUPS.items():
        app.add_typer(_sub, name=_name)
    app.registered_commands += _group.commands.registered_commands
console = Console(stderr=True)


@schemas_app.command("export")
def schemas_export(
    out: Path = typer.Option(Path("schemas"), help="Folder to write <event_type>.json into."),
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
    console.print(f"wrote {len(schemas)} schemas to {out}/")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # python -m cli.main
    main()
