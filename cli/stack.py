"""`stockflow dashboard`, `broker`, `worker`, `simulate` and `up`."""

from __future__ import annotations

import typer

from cli.common import _logging, _show_new_passwords, _whoami, console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app


@commands.command("dashboard")
def dashboard() -> None:
    """Serve the dashboards on STOCKFLOW_DASHBOARD_HOST:PORT in the foreground (people sign in
    with named accounts: `stockflow users`)."""
    import os
    import sys

    from dashboards.access import ensure_accounts
    from dashboards.server import dashboard_env, streamlit_args

    settings = get_settings()
    _show_new_passwords(ensure_accounts(settings, _whoami()))
    console.print(f"dashboard at {settings.dashboard_url}")
    os.execve(sys.executable, [sys.executable, *streamlit_args(settings)], dashboard_env(settings))


@commands.command()
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


@commands.command()
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


@commands.command()
def simulate(
    days: int = typer.Option(None, help="Days of history to write first (default: STOCKFLOW_HISTORY_DAYS)."),
    live: bool = typer.Option(False, help="Keep producing a live stream after the history."),
    rate: float = typer.Option(None, help="Live events per second (default: STOCKFLOW_LIVE_RATE)."),
    bad_ratio: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of bad messages to mix in."),
    loglevel: str = "info",
) -> None:
    """Play the simulated company into the broker: history fast, then (optionally) live."""
    from simulator.run import run_simulation

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


@commands.command()
def up(
    fresh: bool = typer.Option(False, help="Delete var/ (lake, master data) and start from nothing."),
    workers: int = typer.Option(1, min=1, help="Faust worker processes."),
    days: int = typer.Option(None, help="Days of history on first start (default: STOCKFLOW_HISTORY_DAYS)."),
    rate: float = typer.Option(None, help="Live events per second (default: STOCKFLOW_LIVE_RATE)."),
    bad_ratio: float = typer.Option(0.01, min=0.0, max=1.0, help="Share of bad messages in the live stream."),
    loglevel: str = "info",
) -> None:
    """Start everything: broker, workers, Prefect server and flows, simulated history and a live
    company. Ctrl-C stops it."""
    import signal
    import threading

    from cli.supervisor import Stack, wipe
    from dashboards.access import ensure_accounts
    from dashboards.server import start_dashboard, wait_until_serving
    from flows.server import PrefectServer, start_flow_serving
    from infra.processes import stop_processes
    from simulator.run import lake_has_events, run_simulation

    _logging(loglevel)
    settings = get_settings()
    if fresh:
        wipe(settings)
    stack = Stack(settings, workers=workers)
    prefect = PrefectServer(settings, settings.var_dir / "logs" / "prefect-server.log")
    serving = dashboard = None
    failure: list[BaseException] = []

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        console.print(
            "starting "
            + ("the embedded broker, " if settings.embedded_broker else "")
            + f"{workers} worker(s)…"
        )
        prefect.start(wait=False)
        stack.start()
        prefect.wait()
        serving = start_flow_serving(settings, settings.var_dir / "logs" / "flows.log")
        new_passwords = ensure_accounts(settings, _whoami())
        dashboard = start_dashboard(settings, settings.var_dir / "logs" / "dashboard.log")
        wait_until_serving(settings, dashboard)
        resume = lake_has_events(settings)
        console.print("[bold green]stockflow is up[/]")
        console.print(
            f"  broker          {settings.bootstrap_servers}"
            + (" (embedded Tansu)" if settings.embedded_broker else "")
        )
        for i in range(workers):
            url = stack.worker_url(i)
            console.print(f"  stock API       {url}/stock/ST01   {url}/stock/ST01/<sku>   {url}/health")
        console.print(
            f"  flows           http://{settings.prefect_host}:{settings.prefect_port}   "
            f"(Prefect UI; post_vouchers every {settings.voucher_interval_seconds}s)"
        )
        console.print(f"  dashboard       {settings.dashboard_url}   (sign in with a named account)")
        console.print(f"  lake            {settings.lake_dir.resolve()}")
        console.print(f"  books           {(settings.var_dir / 'books.duckdb').resolve()}")
        console.print(
            f"  warehouse       {(settings.var_dir / 'warehouse' / 'warehouse.duckdb').resolve()}"
            f"   (dbt every {settings.warehouse_interval_seconds}s, full nightly)"
        )
        console.print(
            f"  forecasts       {(settings.var_dir / 'planning.duckdb').resolve()}"
            "   (nightly at 03:00 and once at start; reviews under 85% confidence)"
        )
        console.print(
            f"  data quality    {(settings.var_dir / 'quality' / 'gx' / 'uncommitted' / 'data_docs' / 'local_site' / 'index.html').resolve()}"
        )
        console.print(
            f"  reconciliation  {settings.reconciliation_path.resolve()}"
            f"   (every {settings.reconcile_interval_seconds}s: drift corrected, count variances booked)"
        )
        console.print(f"  logs            {(settings.var_dir / 'logs').resolve()}")
        console.print(
            "  " + ("resuming: history is already in the lake" if resume else "writing simulated history…")
        )
        _show_new_passwords(new_passwords)
        console.print("  Ctrl-C stops everything")
        # The company plays in a thread; the main thread only waits, so Ctrl-C or SIGTERM is
        # handled at once, whatever the producer's event loop is waiting for.
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            stop.set()

        def _simulate() -> None:
            try:
                run_simulation(
                    settings,
                    settings.history_days if days is None else days,
                    live=True,
                    rate=settings.live_rate if rate is None else rate,
                    bad_ratio=bad_ratio,
                    produce_history=not resume,
                    stop=stop,
                )
            except BaseException as exc:  # noqa: BLE001 — reported by the main thread
                failure.append(exc)

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        simulation = threading.Thread(target=_simulate, name="simulation", daemon=True)
        simulation.start()
        while simulation.is_alive() and not stop.wait(0.5):
            stack.watch(console.print)  # a worker that died is restarted, with a backoff
        console.print("stopping: the producers first…")
        stop.set()
        simulation.join(timeout=15)
        stop_processes([p for p in (dashboard, serving) if p is not None])  # they post events too
        dashboard = serving = None
        # then every partition drained into the lake, before the memory-only broker goes
        if stack.drain(settings.drain_timeout_seconds, console.print):
            console.print("drained: every event taken is in the lake")
        if failure:
            console.print(f"[red]the simulated company stopped: {failure[0]!r}[/]")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        # the flows, the workers and the Prefect server stop together (each within 20 s)
        stop_processes(
            [p for p in (dashboard, serving, prefect.process, *stack.worker_procs) if p is not None]
        )
        stack.stop()
        prefect.stop()
        console.print("stopped")
    if failure:
        raise typer.Exit(1)


GROUPS: dict[str, typer.Typer] = {}
