"""`stockflow devices`: credentials for devices and services that call the workers' API."""

from __future__ import annotations

import typer

from cli.common import _audit, _whoami, console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

devices_app = typer.Typer(
    no_args_is_help=True, help="Credentials for devices and services (tills, scanners, integrations)."
)


def _split(values: list[str]) -> list[str]:
    return sorted({part.strip() for value in values for part in value.split(",") if part.strip()})


@devices_app.command("add")
def devices_add(
    name: str = typer.Argument(..., help="A name people recognise, e.g. till-ST01-1."),
    location: list[str] = typer.Option(
        [], "--location", "-l", help="Where it stands (repeatable, or comma-separated)."
    ),
    events: list[str] = typer.Option(
        [], "--events", "-e", help="Event types it may post (repeatable or comma-separated; unset: any)."
    ),
    service: bool = typer.Option(
        False, "--service", help="A service (any location, alerts, reconciliation reads), not a device."
    ),
) -> None:
    """Make a credential and print its token once (only its hash is kept)."""
    from stockflow.identity import Kind
    from stores.credentials import CredentialStore

    settings = get_settings()
    kind = Kind.SERVICE if service else Kind.DEVICE
    locations, event_types = _split(location), _split(events)
    if kind is Kind.DEVICE:
        from stockflow.masterdata import Catalog

        if settings.masterdata_path.exists():
            known = Catalog.load(settings.masterdata_path).locations
            unknown = [loc for loc in locations if loc not in known]
            if unknown:
                console.print(f"[red]unknown locations {unknown}; known: {sorted(known)}[/]")
                raise typer.Exit(2)
    store = CredentialStore(settings.credentials_path)
    if any(c.name == name and not c.revoked for c in store.load().values()):
        console.print(f"[red]a credential named {name!r} exists; revoke it first[/]")
        raise typer.Exit(2)
    # recorded before it exists: at worst the log names a credential a crash kept from being made
    _audit().append(
        _whoami(),
        "credential.add",
        name,
        details={"kind": kind.value, "locations": locations, "event_types": event_types},
    )
    try:
        cred, token = store.add(name, kind, locations, event_types)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"credential {cred.name!r} ({kind.value}) made; its token, shown once:")
    typer.echo(token)
    console.print("send it as: Authorization: Bearer <token>")


@devices_app.command("list")
def devices_list() -> None:
    """Every credential: name, kind, locations, event types, made when, revoked or not."""
    from rich.table import Table

    from stores.credentials import CredentialStore

    table = Table("name", "kind", "locations", "event types", "made", "revoked")
    creds = CredentialStore(get_settings().credentials_path).load().values()
    for c in sorted(creds, key=lambda c: c.name):
        table.add_row(
            c.name,
            c.kind.value,
            ", ".join(sorted(c.locations)) or "any",
            ", ".join(sorted(c.event_types)) or "any",
            c.created_at.isoformat(timespec="seconds") if c.created_at else "",
            "yes" if c.revoked else "",
        )
    from rich.console import Console

    Console().print(table)


@devices_app.command("revoke")
def devices_revoke(name: str = typer.Argument(..., help="The credential's name.")) -> None:
    """Revoke a credential: the workers refuse it within seconds."""
    from stores.credentials import CredentialStore

    store = CredentialStore(get_settings().credentials_path)
    if not any(c.name == name and not c.revoked for c in store.load().values()):
        console.print(f"[red]no active credential named {name!r}[/]")
        raise typer.Exit(1)
    _audit().append(_whoami(), "credential.revoke", name)
    store.revoke(name)
    console.print(f"credential {name!r} revoked")


GROUPS = {"devices": devices_app}
