"""`stockflow devices`: credentials for devices and services that call the workers' API."""

from __future__ import annotations

import typer
from rich.text import Text

from cli.common import Format, _audit, _whoami, console, explained, format_option, print_table, t
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

devices_app = typer.Typer(no_args_is_help=True, help=t("cli.devices.help"))

DEVICE_COLUMNS = ("name", "kind", "locations", "event_types", "created_at", "revoked")


def _split(values: list[str]) -> list[str]:
    return sorted({part.strip() for value in values for part in value.split(",") if part.strip()})


def _error(message: str) -> None:
    console.print(Text(message, style="red"))


def kind_name(kind: str) -> str:
    """A credential's kind in the interface's language."""
    return {"device": t("value.kind.device"), "service": t("value.kind.service")}.get(kind, kind)


@devices_app.command("add", help=t("cli.devices.add.help"))
def devices_add(
    name: str = typer.Argument(..., help=t("cli.devices.add.name")),
    location: list[str] = typer.Option([], "--location", "-l", help=t("cli.devices.add.location")),
    events: list[str] = typer.Option([], "--events", "-e", help=t("cli.devices.add.events")),
    service: bool = typer.Option(False, "--service", help=t("cli.devices.add.service")),
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
                _error(
                    t(
                        "cli.devices.unknown_locations",
                        unknown=", ".join(unknown),
                        known=", ".join(sorted(known)),
                    )
                )
                raise typer.Exit(2)
    store = CredentialStore(settings.credentials_path)
    if any(c.name == name and not c.revoked for c in store.load().values()):
        _error(t("cli.devices.exists", name=name))
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
        _error(explained(exc))
        raise typer.Exit(2) from None
    console.print(t("cli.devices.made", name=cred.name, kind=kind_name(kind.value)), markup=False)
    typer.echo(token)
    console.print(t("cli.devices.send_as"), markup=False)


@devices_app.command("list", help=t("cli.devices.list.help"))
def devices_list(output: Format = format_option()) -> None:
    """Every credential: name, kind, locations, event types, made when, revoked or not."""
    from stores.credentials import CredentialStore

    creds = sorted(CredentialStore(get_settings().credentials_path).load().values(), key=lambda c: c.name)
    rows = [
        {
            "name": c.name,
            "kind": c.kind.value,
            "locations": sorted(c.locations),
            "event_types": sorted(c.event_types),
            "created_at": c.created_at,
            "revoked": c.revoked,
        }
        for c in creds
    ]
    print_table(
        rows,
        DEVICE_COLUMNS,
        output,
        t("cli.devices.list.title"),
        shown={
            "kind": kind_name,
            "locations": lambda v: ", ".join(v) or t("cli.devices.any"),
            "event_types": lambda v: ", ".join(v) or t("cli.devices.any"),
            "revoked": lambda v: t("cli.devices.revoked") if v else "",
        },
    )


@devices_app.command("revoke", help=t("cli.devices.revoke.help"))
def devices_revoke(name: str = typer.Argument(..., help=t("cli.devices.revoke.name"))) -> None:
    """Revoke a credential: the workers refuse it within seconds."""
    from stores.credentials import CredentialStore

    store = CredentialStore(get_settings().credentials_path)
    if not any(c.name == name and not c.revoked for c in store.load().values()):
        _error(t("cli.devices.no_such", name=name))
        raise typer.Exit(1)
    _audit().append(_whoami(), "credential.revoke", name)
    store.revoke(name)
    console.print(t("cli.devices.revoked_now", name=name), markup=False)


GROUPS = {"devices": devices_app}
