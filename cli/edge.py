"""`stockflow edge`: the edge agent of a store box or PDA gateway, and what its outbox holds."""

from __future__ import annotations

import asyncio

import typer

from cli.common import Format, _logging, console, format_option, print_table, t
from stockflow.config import get_settings

commands = typer.Typer()

edge_app = typer.Typer(no_args_is_help=True, help=t("cli.edge.help"))

OUTBOX_COLUMNS = ("event_id", "location", "source", "source_seq", "reason", "detail", "received_at")


@edge_app.command("run", help=t("cli.edge.run.help"))
def edge_run(
    location: list[str] = typer.Option([], "--location", "-l", help=t("cli.edge.run.location")),
    central: str | None = typer.Option(None, "--central", help=t("cli.edge.run.central")),
    name: str | None = typer.Option(None, "--name", help=t("cli.edge.run.name")),
    port: int | None = typer.Option(None, "--port", help=t("cli.edge.run.port")),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve the devices on a local port and forward their events to the workers."""
    from streams.edge import EdgeAgent

    _logging(log_level)
    updates = {
        "edge_locations": location or None,
        "edge_central_url": central,
        "edge_name": name,
        "edge_port": port,
    }
    settings = get_settings().model_copy(update={k: v for k, v in updates.items() if v is not None})
    if not settings.edge_locations:
        console.print(t("cli.edge.run.no_location"), markup=False)
        raise typer.Exit(2)
    console.print(
        t(
            "cli.edge.run.serving",
            name=settings.edge_name,
            locations=", ".join(settings.edge_locations),
            url=f"http://{settings.edge_host}:{settings.edge_port}",
            central=settings.edge_central_url,
        ),
        markup=False,
    )
    asyncio.run(EdgeAgent(settings).run())


@edge_app.command("status", help=t("cli.edge.status.help"))
def edge_status(output: Format = format_option()) -> None:
    """What the outbox holds: events waiting, forwarded, refused (with the reasons)."""
    from stores.outbox import Outbox

    settings = get_settings()
    if not settings.edge_outbox.exists():
        console.print(t("cli.edge.status.none", path=str(settings.edge_outbox)), markup=False)
        raise typer.Exit(1)
    outbox = Outbox(settings.edge_outbox)
    counts = outbox.counts()
    oldest = outbox.oldest_waiting()
    refused = outbox.dead_lettered()
    outbox.close()
    if output is Format.TABLE:
        console.print(
            t(
                "cli.edge.status.counts",
                waiting=counts["waiting"],
                sent=counts["sent"],
                dead_lettered=counts["dead_lettered"],
                landed=counts["landed"],
                oldest=oldest.astimezone(settings.tz).isoformat(timespec="seconds") if oldest else "-",
            ),
            markup=False,
        )
    print_table(refused, OUTBOX_COLUMNS, output, title=t("cli.edge.status.refused"))


GROUPS = {"edge": edge_app}
