"""The `stockflow` command: `up | broker | worker | simulate | schemas | bench ...`.

Commands start the adapters as separate processes or import them lazily, so the core
stays free of any framework import."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console

from stockflow.config import get_settings
from stockflow.events import event_json_schemas

app = typer.Typer(no_args_is_help=True, add_completion=False, help="stockflow: real-time stock for SMEs.")
schemas_app = typer.Typer(no_args_is_help=True, help="Event JSON Schemas (the producers' contract).")
app.add_typer(schemas_app, name="schemas")
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


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def broker(
    port: int = typer.Option(None, help="Port (default: STOCKFLOW_BROKER_PORT or 9092)."),
    loglevel: str = "info",
) -> None:
    """Run the embedded Tansu broker on 127.0.0.1 until Ctrl-C, with the pipeline's topics."""
    import time

    from streams.broker import EmbeddedBroker, ensure_topics

    _logging(loglevel)
    settings = get_settings()
    port = port or settings.broker_port
    embedded = EmbeddedBroker(settings.broker_host, port, settings.var_dir / "logs" / "broker.log")
    embedded.start()
    ensure_topics(embedded.bootstrap, settings.topic_partitions)
    console.print(f"[green]broker ready[/] at {embedded.bootstrap} (memory only); Ctrl-C stops it")
    try:
        while embedded.process and embedded.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()


@app.command()
def worker(
    web_port: int = typer.Option(
        None, help="HTTP port of this worker (default: STOCKFLOW_WEB_PORT or 6066)."
    ),
    loglevel: str = "info",
) -> None:
    """Run one Faust stream worker in the foreground (more workers = more partitions in parallel)."""
    import os
    import sys

    settings = get_settings()
    port = web_port or settings.web_port
    os.environ["STOCKFLOW_WEB_PORT"] = str(port)
    os.execv(
        sys.executable, [sys.executable, "-m", "streams", "worker", "-l", loglevel, "--web-port", str(port)]
    )


@app.command()
def simulate(
    days: int = typer.Option(None, help="Days of history to write first (default: STOCKFLOW_HISTORY_DAYS)."),
    live: bool = typer.Option(False, help="Keep producing a live stream after the history."),
    rate: float = typer.Option(None, help="Live events per second (default: STOCKFLOW_LIVE_RATE)."),
    bad_ratio: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of bad messages to mix in."),
    loglevel: str = "info",
) -> None:
    """Play the simulated company into the broker: history fast, then (optionally) live."""
    from streams.runner import run_simulation

    _logging(loglevel)
    settings = get_settings()
    try:
        sent = run_simulation(
            settings,
            settings.history_days if days is None else days,
            live,
            settings.live_rate if rate is None else rate,
            bad_ratio,
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    console.print(f"produced {sent} messages to {settings.bootstrap_servers}")


@app.command()
def up(
    fresh: bool = typer.Option(False, help="Delete var/ (lake, master data) and start from nothing."),
    workers: int = typer.Option(1, min=1, help="Faust worker processes."),
    days: int = typer.Option(None, help="Days of history on first start (default: STOCKFLOW_HISTORY_DAYS)."),
    rate: float = typer.Option(None, help="Live events per second (default: STOCKFLOW_LIVE_RATE)."),
    bad_ratio: float = typer.Option(0.01, min=0.0, max=1.0, help="Share of bad messages in the live stream."),
    loglevel: str = "info",
) -> None:
    """Start everything: broker, workers, simulated history and a live company. Ctrl-C stops it."""
    import signal

    from streams.runner import Stack, lake_has_events, run_simulation, wipe

    _logging(loglevel)
    settings = get_settings()
    if fresh:
        wipe(settings)
    stack = Stack(settings, workers=workers)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        console.print(
            "starting "
            + ("the embedded broker, " if settings.embedded_broker else "")
            + f"{workers} worker(s)…"
        )
        stack.start()
        resume = lake_has_events(settings)
        console.print("[bold green]stockflow is up[/]")
        console.print(
            f"  broker          {settings.bootstrap_servers}"
            + (" (embedded Tansu)" if settings.embedded_broker else "")
        )
        for i in range(workers):
            url = stack.worker_url(i)
            console.print(f"  stock API       {url}/stock/ST01   {url}/stock/ST01/<sku>   {url}/health")
        console.print(f"  lake            {settings.lake_dir.resolve()}")
        console.print(f"  logs            {(settings.var_dir / 'logs').resolve()}")
        console.print(
            "  " + ("resuming: history is already in the lake" if resume else "writing simulated history…")
        )
        console.print("  Ctrl-C stops everything")
        run_simulation(
            settings,
            settings.history_days if days is None else days,
            live=True,
            rate=settings.live_rate if rate is None else rate,
            bad_ratio=bad_ratio,
            produce_history=not resume,
        )
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()
        console.print("stopped")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # python -m stockflow.cli
    main()
