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


REGISTRY_COLUMNS = (
    "device_id",
    "kind",
    "location",
    "topic",
    "unit",
    "interval_seconds",
    "sku",
    "last_seen",
    "silent",
)


@devices_app.command("register", help=t("cli.devices.register.help"))
def devices_register(
    device_id: str = typer.Argument(..., help=t("cli.devices.register.device_id")),
    kind: str = typer.Option(..., "--kind", "-k", help=t("cli.devices.register.kind")),
    location: str = typer.Option(..., "--location", "-l", help=t("cli.devices.register.location")),
    topic: str = typer.Option(None, "--topic", help=t("cli.devices.register.topic")),
    unit: str = typer.Option("", "--unit", help=t("cli.devices.register.unit")),
    interval: float = typer.Option(300.0, "--interval", min=1, help=t("cli.devices.register.interval")),
    value_field: str = typer.Option("value", "--value-field", help=t("cli.devices.register.value_field")),
    time_field: str = typer.Option("ts", "--time-field", help=t("cli.devices.register.time_field")),
    seq_field: str = typer.Option("seq", "--seq-field", help=t("cli.devices.register.seq_field")),
    tags_field: str = typer.Option("tags", "--tags-field", help=t("cli.devices.register.tags_field")),
    scale: float = typer.Option(1.0, "--scale", help=t("cli.devices.register.scale")),
    sku: str = typer.Option(None, "--sku", help=t("cli.devices.register.sku")),
    unit_weight_g: str = typer.Option(None, "--unit-weight-g", help=t("cli.devices.register.unit_weight")),
    tare_g: str = typer.Option("0", "--tare-g", help=t("cli.devices.register.tare")),
) -> None:
    """Add a device to the MQTT registry, or change one (the bridge takes it within seconds)."""
    from pydantic import ValidationError

    from stockflow.devices import Device, PayloadMapping
    from stockflow.events import validation_problems
    from stockflow.masterdata import Catalog
    from stores.device_registry import DeviceRegistryFile

    settings = get_settings()
    if settings.masterdata_path.exists():
        catalog = Catalog.load(settings.masterdata_path)
        if location not in catalog.locations:
            _error(
                t(
                    "cli.devices.unknown_locations",
                    unknown=location,
                    known=", ".join(sorted(catalog.locations)),
                )
            )
            raise typer.Exit(2)
        if sku is not None and sku not in catalog.skus:
            _error(t("cli.devices.register.unknown_sku", sku=sku))
            raise typer.Exit(2)
    try:
        device = Device(
            device_id=device_id,
            kind=kind,
            location=location,
            topic=topic,
            unit=unit,
            interval_seconds=interval,
            mapping=PayloadMapping(
                value=value_field,
                time=time_field or None,
                seq=seq_field or None,
                tags=tags_field,
                scale=scale,
            ),
            sku=sku,
            unit_weight_g=unit_weight_g,
            tare_g=tare_g,
        )
        registry_file = DeviceRegistryFile(settings.devices_registry_path)
        _audit().append(_whoami(), "device.register", device_id, details=device.model_dump(mode="json"))
        registry_file.register(device)
    except ValidationError as exc:
        _error(t("cli.devices.register.invalid", problems=validation_problems(exc, "device")))
        raise typer.Exit(2) from None
    except ValueError as exc:
        _error(t("cli.devices.register.invalid", problems=str(exc)))
        raise typer.Exit(2) from None
    console.print(t("cli.devices.register.done", device=device_id, topic=device.mqtt_topic), markup=False)


@devices_app.command("unregister", help=t("cli.devices.unregister.help"))
def devices_unregister(
    device_id: str = typer.Argument(..., help=t("cli.devices.register.device_id")),
) -> None:
    """Remove a device from the MQTT registry: its messages become dead letters (unknown_device)."""
    from stores.device_registry import DeviceRegistryFile

    settings = get_settings()
    _audit().append(_whoami(), "device.unregister", device_id)
    if not DeviceRegistryFile(settings.devices_registry_path).remove(device_id):
        _error(t("cli.devices.no_such", name=device_id))
        raise typer.Exit(1)
    console.print(t("cli.devices.unregister.done", device=device_id), markup=False)


def registry_rows(settings: object) -> list[dict[str, object]]:
    """Every registered device with when the bridge last heard it and whether it is silent."""
    from stores.device_registry import DeviceRegistryFile, DevicesSeenFile

    registry = DeviceRegistryFile(settings.devices_registry_path).load()  # type: ignore[attr-defined]
    seen = DevicesSeenFile(settings.devices_seen_path).load()  # type: ignore[attr-defined]
    return [
        {
            "device_id": d.device_id,
            "kind": d.kind.value,
            "location": d.location,
            "topic": d.mqtt_topic,
            "unit": d.unit,
            "interval_seconds": d.interval_seconds,
            "sku": d.sku or "",
            "last_seen": seen.last_seen.get(d.device_id),
            "silent": d.device_id in seen.silent,
        }
        for d in sorted(registry.devices.values(), key=lambda d: d.device_id)
    ]


@devices_app.command("registry", help=t("cli.devices.registry.help"))
def devices_registry(output: Format = format_option()) -> None:
    """The MQTT devices: kind, location, topic, last heard, silent or not."""
    print_table(
        registry_rows(get_settings()),
        REGISTRY_COLUMNS,
        output,
        t("cli.devices.registry.title"),
        shown={
            "kind": lambda v: t(f"value.device_kind.{v}"),
            "last_seen": lambda v: v.isoformat(timespec="seconds") if v else t("cli.devices.registry.never"),
            "silent": lambda v: t("cli.devices.registry.silent") if v else "",
        },
    )


@commands.command("mqtt-bridge", help=t("cli.mqtt_bridge.help"))
def mqtt_bridge(loglevel: str = typer.Option("info", help=t("cli.stack.loglevel"))) -> None:
    """Map the registered devices' MQTT messages onto events, until Ctrl-C or SIGTERM."""
    import asyncio
    import signal

    from cli.common import _logging
    from streams.mqtt_bridge import run_bridge

    _logging(loglevel)
    settings = get_settings()
    console.print(t("cli.mqtt_bridge.started", url=settings.mqtt_broker_url), markup=False)

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(run_bridge(settings))
    except KeyboardInterrupt:
        pass


GROUPS = {"devices": devices_app}
