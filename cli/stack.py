"""`stockflow dashboard`, `broker`, `worker`, `simulate`, `up` and `down`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from cli.common import _logging, _show_new_passwords, _whoami, console, t, tr
from stockflow.config import SimulatedCompany, get_settings
from stockflow.editions import has_stock

if TYPE_CHECKING:
    from cli.supervisor import Stack
    from stockflow.config import Settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app


def say(message: str) -> None:
    """One line to the person running the command (no rich markup read from it)."""
    console.print(message, markup=False, highlight=False)


def say_error(message: str) -> None:
    console.print(Text(message, style="red"))


def loglevel_option() -> str:
    return typer.Option("info", help=t("cli.stack.loglevel"))


def _stop_on_signals(handler: Callable[[int, Any], None]) -> None:
    """`handler` for SIGTERM (`stockflow down`, a service manager) and SIGHUP (a closed terminal)."""
    import signal

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


@commands.command("dashboard", help=t("cli.dashboard.help"))
def dashboard() -> None:
    """Serve the dashboards on STOCKFLOW_DASHBOARD_HOST:PORT in the foreground (people sign in
    with named accounts: `stockflow users`)."""
    import os
    import sys

    from dashboards.access import ensure_accounts
    from dashboards.server import dashboard_env, streamlit_args

    settings = get_settings()
    _show_new_passwords(ensure_accounts(settings, _whoami()))
    say(t("cli.dashboard.serving", url=settings.dashboard_url))
    os.execve(sys.executable, [sys.executable, *streamlit_args(settings)], dashboard_env(settings))


@commands.command(help=t("cli.broker.help"))
def broker(
    port: int = typer.Option(None, help=t("cli.broker.port")),
    loglevel: str = loglevel_option(),
) -> None:
    """Run the embedded Tansu broker on 127.0.0.1 until Ctrl-C or SIGTERM, with the pipeline's
    topics; the broker binary stops with it (also when this process is killed)."""
    import time

    from streams.broker import EmbeddedBroker, ensure_topics

    _logging(loglevel)
    settings = get_settings()
    port = port or settings.broker_port
    embedded = EmbeddedBroker(settings.broker_host, port, settings.var_dir / "logs" / "broker.log")

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    _stop_on_signals(_interrupt)
    try:
        embedded.start()
        ensure_topics(embedded.bootstrap, settings.topic_partitions, edition=settings.edition)
        say(t("cli.broker.ready", bootstrap=embedded.bootstrap))
        while embedded.process and embedded.process.poll() is None:
            time.sleep(0.5)
        if embedded.process is not None:
            say_error(t("cli.broker.exited", code=embedded.process.returncode, log=embedded.log_path))
            raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()


@commands.command(help=t("cli.worker.help"))
def worker(
    web_port: int = typer.Option(None, help=t("cli.worker.web_port")),
    loglevel: str = loglevel_option(),
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


@commands.command(help=t("cli.simulate.help"))
def simulate(
    days: int = typer.Option(None, help=t("cli.simulate.days")),
    live: bool = typer.Option(False, help=t("cli.simulate.live")),
    rate: float = typer.Option(None, min=0.0, help=t("cli.simulate.rate")),
    bad_ratio: float = typer.Option(0.0, min=0.0, max=1.0, help=t("cli.simulate.bad_ratio")),
    company: SimulatedCompany = typer.Option(
        None, "--company", case_sensitive=False, help=t("cli.simulate.company")
    ),
    loglevel: str = loglevel_option(),
) -> None:
    """Play the simulated company into the broker: history fast, then (optionally) live."""
    from simulator.run import run_simulation

    _logging(loglevel)
    settings = _simulated_company(get_settings(), company)
    live_rate = settings.live_rate if rate is None else rate
    if live and live_rate <= 0:
        say_error(t("cli.simulate.live_needs_rate"))
        raise typer.Exit(2)
    try:
        sent = run_simulation(
            settings, settings.history_days if days is None else days, live, live_rate, bad_ratio
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    say(t("cli.simulate.produced", count=tr().number(sent), bootstrap=settings.bootstrap_servers))


@commands.command(help=t("cli.up.help"))
def up(
    fresh: bool = typer.Option(False, help=t("cli.up.fresh")),
    workers: int = typer.Option(1, min=1, help=t("cli.up.workers")),
    days: int = typer.Option(None, help=t("cli.up.days")),
    rate: float = typer.Option(None, min=0.0, help=t("cli.up.rate")),
    bad_ratio: float = typer.Option(0.01, min=0.0, max=1.0, help=t("cli.up.bad_ratio")),
    simulated: bool = typer.Option(None, "--simulated/--own-company", help=t("cli.up.simulated")),
    company: SimulatedCompany = typer.Option(
        None, "--company", case_sensitive=False, help=t("cli.up.company")
    ),
    loglevel: str = loglevel_option(),
) -> None:
    """Start everything: broker, workers, Prefect server and flows, and, for the simulated
    company, its history and a live stream (none with `--rate 0`); a company's own data
    (`stockflow init`) runs without the simulator. Ctrl-C, SIGTERM or `stockflow down` stops it; every process
    it starts stops with it, also when it is killed."""
    import os
    import signal
    import threading
    import time

    from cli.supervisor import (
        Stack,
        forget_run,
        held_ports,
        read_run_record,
        record_run,
        report_held_ports,
        stack_ports,
        wipe,
    )
    from dashboards.access import ensure_accounts
    from dashboards.server import start_dashboard, wait_until_serving
    from flows.server import PrefectServer, start_flow_serving
    from infra.processes import STACK_VARIABLE, stop_processes
    from simulator.run import lake_has_events, run_simulation

    _logging(loglevel)
    settings = get_settings()
    simulated = settings.simulated if simulated is None else simulated
    if fresh and not simulated:  # a company's own records are never wiped by a flag
        say_error(t("cli.up.fresh_own_company", var_dir=settings.var_dir.resolve()))
        raise typer.Exit(1)
    if company is not None and not simulated:
        say_error(t("cli.up.company_own_company", var_dir=settings.var_dir.resolve()))
        raise typer.Exit(2)
    # the no-stock edition (a service business) has no stock simulator to play
    stock = has_stock(settings.edition)
    os.environ["STOCKFLOW_EDITION"] = settings.edition.value  # what every process it starts reads
    if simulated and stock:
        settings = _simulated_company(settings, company, fresh)
        # what every process it starts reads (the workers, the flows, the dashboards)
        os.environ["STOCKFLOW_SIMULATED_COMPANY"] = settings.simulated_company.value
    history_days = settings.history_days if days is None else days
    live_rate = settings.live_rate if rate is None else rate
    ports = stack_ports(settings, workers)
    # a previous run still up (or still stopping), or anything else on our ports: refuse
    previous = read_run_record(settings)
    if previous is not None and previous.running():
        say_error(t("cli.up.already_running", pid=previous.pid, var_dir=settings.var_dir.resolve()))
        raise typer.Exit(1)
    held = held_ports(ports)
    if held:
        report_held_ports(held, say_error)
        raise typer.Exit(1)
    if fresh:
        wipe(settings)
    record = record_run(settings, ports)
    # every process started from here on (and all they start) carries the stack's var dir:
    # `stockflow down` finds them by it when this process is gone
    os.environ[STACK_VARIABLE] = str(settings.var_dir.resolve())
    stack = Stack(settings, workers=workers, simulated=simulated and stock)
    prefect = PrefectServer(settings, settings.var_dir / "logs" / "prefect-server.log")
    serving = dashboard = None
    failure: list[BaseException] = []

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    _stop_on_signals(_interrupt)
    try:
        if settings.embedded_broker:
            say(t("cli.up.starting_embedded", workers=workers))
        else:
            say(t("cli.up.starting_external", workers=workers, bootstrap=settings.bootstrap_servers))
        prefect.start(wait=False)
        stack.start(say)
        prefect.wait()
        say(t("cli.up.prefect_ready", url=f"http://{settings.prefect_host}:{settings.prefect_port}"))
        serving = start_flow_serving(settings, settings.var_dir / "logs" / "flows.log")
        new_passwords = ensure_accounts(settings, _whoami())
        dashboard = start_dashboard(settings, settings.var_dir / "logs" / "dashboard.log")
        wait_until_serving(settings, dashboard)
        resume = lake_has_events(settings)
        if stock:
            _banner(settings, stack, workers)
        else:
            _service_banner(settings, stack, workers)
        _show_new_passwords(new_passwords)
        if simulated and stock:
            say(t("cli.up.simulating", company=company_label(settings.simulated_company)))
        if not stock:
            say(t("cli.up.no_stock_simulator"))
        elif not simulated:
            _own_company(settings)
        elif resume:
            say(t("cli.up.history_resuming"))
        else:
            say(t("cli.up.history_writing", days=history_days))
        say(t("cli.up.stop_hint"))
        # The company plays in a thread; the main thread only waits, so Ctrl-C or SIGTERM is
        # handled at once, whatever the producer's event loop is waiting for. The main thread
        # also starts every process (a restarted worker too): each stops when it ends.
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            stop.set()

        started = time.monotonic()

        def _history_done(count: int) -> None:
            if not resume:
                took = tr().duration(time.monotonic() - started)
                say(t("cli.up.history_written", count=tr().number(count), duration=took))
            if live_rate > 0:
                say(t("cli.up.live", rate=tr().number(live_rate, 1)))
            else:
                say(t("cli.up.no_live"))

        def _simulate() -> None:
            try:
                run_simulation(
                    settings,
                    history_days,
                    live=live_rate > 0,
                    rate=live_rate,
                    bad_ratio=bad_ratio,
                    produce_history=not resume,
                    stop=stop,
                    on_history=_history_done,
                    mqtt=stack.settings,  # the live sensors publish over MQTT, through the bridge
                )
            except BaseException as exc:  # noqa: BLE001 — reported by the main thread
                failure.append(exc)

        signal.signal(signal.SIGINT, _stop)
        _stop_on_signals(_stop)
        simulation = threading.Thread(target=_simulate, name="simulation", daemon=True)
        if simulated and stock:
            simulation.start()
        warehouse = settings.var_dir / "warehouse" / "warehouse.duckdb"
        warehouse_built = warehouse.exists()
        # with a live stream the company plays until stopped; without, up serves what there is
        while not failure and not stop.wait(0.5):
            stack.watch(say)  # a worker that died is restarted, with a backoff
            if not warehouse_built and warehouse.exists():
                warehouse_built = True
                say(t("cli.up.warehouse_built", url=settings.dashboard_url))
        say(t("cli.up.stopping_producers"))
        stop.set()
        if simulation.is_alive():
            simulation.join(timeout=15)
        stop_processes([p for p in (dashboard, serving) if p is not None])  # they post events too
        stack.stop_bridge()  # so does the MQTT bridge
        dashboard = serving = None
        # then every partition drained into the lake, before the memory-only broker goes
        if stack.drain(settings.drain_timeout_seconds, say):
            say(t("cli.up.drained"))
        if failure:
            say_error(t("cli.up.simulation_failed", error=repr(failure[0])))
    except KeyboardInterrupt:
        say(t("cli.up.stopping"))
    finally:
        _stop_on_signals(lambda signum, frame: None)  # stopping already: let it finish
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        # the flows, the workers and the Prefect server stop together (each within 20 s), each
        # with whatever it started
        stop_processes(
            [p for p in (dashboard, serving, prefect.process, *stack.worker_procs) if p is not None]
        )
        stack.stop()
        prefect.stop()
        forget_run(settings, record)
        say(t("cli.up.stopped"))
    if failure:
        raise typer.Exit(1)


def _simulated_company(settings: Settings, company: SimulatedCompany | None, fresh: bool = False) -> Settings:
    """The settings with the simulated company to play (`simulator.run.choose_company`); exit 1
    when var/ holds the other one."""
    from simulator.run import CompanyMismatch, choose_company

    try:
        return choose_company(settings, company, fresh=fresh)
    except CompanyMismatch as exc:
        say_error(
            t(
                "cli.up.company_mismatch",
                var_dir=settings.var_dir.resolve(),
                held=exc.held.value,
                wanted=exc.wanted.value,
            )
        )
        raise typer.Exit(1) from exc


def company_label(company: SimulatedCompany) -> str:
    """A simulated company as people read it."""
    if company is SimulatedCompany.RESTAURANT:
        return t("simulator.company.restaurant")
    if company is SimulatedCompany.FACTORY:
        return t("simulator.company.factory")
    return t("simulator.company.retail")


def _own_company(settings: Settings) -> None:
    """What a company's own stack holds, and the next step when it holds nothing yet."""
    from stores.masterdata import MasterDataFiles

    catalog = MasterDataFiles(settings.masterdata_path, settings.lake_dir).load()
    say(
        t(
            "cli.up.own_company",
            name=settings.company_name or settings.var_dir.resolve().parent.name,
            skus=tr().number(len(catalog.skus)),
            locations=tr().number(len(catalog.locations)),
            suppliers=tr().number(len(catalog.suppliers)),
        )
    )
    if not catalog.skus or not catalog.locations:
        say(t("cli.up.own_company_empty"))


def _example_location(settings: Settings) -> str:
    """A location the banner's stock API example names: the company's first store (ST01 of the
    simulated retail company, R01 of the restaurant brand), else its first location (FG1, the
    simulated factory's warehouse)."""
    from stores.masterdata import MasterDataFiles

    locations = MasterDataFiles(settings.masterdata_path, settings.lake_dir).load().locations
    stores = sorted(code for code, loc in locations.items() if loc.kind == "store")
    return next(iter(stores or sorted(locations)), "<location>")


def _banner(settings: Settings, stack: Stack, workers: int) -> None:
    """Where everything is, once it all answers."""
    var = settings.var_dir
    console.print(Text(t("cli.up.ready"), style="bold green"))
    if settings.embedded_broker:
        say(t("cli.up.banner.broker_embedded", bootstrap=settings.bootstrap_servers))
    else:
        say(t("cli.up.banner.broker", bootstrap=settings.bootstrap_servers))
    example = _example_location(settings)
    for i in range(workers):
        say(t("cli.up.banner.worker", url=stack.worker_url(i), location=example))
    say(t("cli.up.banner.mqtt", url=stack.settings.mqtt_broker_url, topics=settings.mqtt_topic_filter))
    say(
        t(
            "cli.up.banner.flows",
            url=f"http://{settings.prefect_host}:{settings.prefect_port}",
            seconds=settings.voucher_interval_seconds,
        )
    )
    say(t("cli.up.banner.dashboard", url=settings.dashboard_url))
    say(t("cli.up.banner.lake", path=settings.lake_dir.resolve()))
    say(t("cli.up.banner.books", path=(var / "books.duckdb").resolve()))
    say(
        t(
            "cli.up.banner.warehouse",
            path=(var / "warehouse" / "warehouse.duckdb").resolve(),
            seconds=settings.warehouse_interval_seconds,
        )
    )
    say(t("cli.up.banner.forecasts", path=(var / "planning.duckdb").resolve()))
    quality = var / "quality" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    say(t("cli.up.banner.quality", path=quality.resolve()))
    say(
        t(
            "cli.up.banner.reconciliation",
            path=settings.reconciliation_path.resolve(),
            seconds=settings.reconcile_interval_seconds,
        )
    )
    say(t("cli.up.banner.logs", path=(var / "logs").resolve()))


def _service_banner(settings: Settings, stack: Stack, workers: int) -> None:
    """Where everything of the no-stock edition is, once it all answers."""
    from stores.services import ServiceItemsFile

    console.print(Text(t("cli.up.ready"), style="bold green"))
    if settings.embedded_broker:
        say(t("cli.up.banner.broker_embedded", bootstrap=settings.bootstrap_servers))
    else:
        say(t("cli.up.banner.broker", bootstrap=settings.bootstrap_servers))
    for i in range(workers):
        say(t("cli.up.banner.service_worker", url=stack.worker_url(i)))
    say(t("cli.up.banner.service_items", count=len(ServiceItemsFile(settings.var_dir).load())))
    say(t("cli.up.banner.dashboard", url=settings.dashboard_url))
    say(t("cli.up.banner.lake", path=settings.lake_dir.resolve()))
    say(t("cli.up.banner.logs", path=(settings.var_dir / "logs").resolve()))


@commands.command(help=t("cli.down.help"))
def down(
    timeout: float = typer.Option(None, min=0.0, help=t("cli.down.timeout")),
) -> None:
    """Stop the `stockflow up` running on this var dir (SIGTERM: it drains, then stops), and any
    process a previous run left behind; exit status 0 when nothing of it is left running."""
    import os
    import signal
    import time

    from cli.supervisor import (
        leftovers,
        read_run_record,
        run_record_path,
        shown_command,
        stack_ports,
        stop_leftovers,
    )

    settings = get_settings()
    record = read_run_record(settings)
    wait = settings.drain_timeout_seconds + 60 if timeout is None else timeout
    stopped_something = False
    if record is not None and record.running():
        say(t("cli.down.stopping", pid=record.pid, seconds=f"{wait:.0f}"))
        began = time.monotonic()
        os.kill(record.pid, signal.SIGTERM)
        while record.running() and time.monotonic() - began < wait:
            time.sleep(0.2)
        if record.running():
            say_error(
                t(
                    "cli.down.still_running",
                    pid=record.pid,
                    seconds=f"{wait:.0f}",
                    logs=(settings.var_dir / "logs").resolve(),
                )
            )
            raise typer.Exit(1)
        say(t("cli.down.stopped", pid=record.pid, duration=tr().duration(time.monotonic() - began)))
        stopped_something = True
    # what a run that did not stop cleanly left behind (its record names its ports)
    found = leftovers(settings, record.ports if record is not None else stack_ports(settings, 1))
    if found:
        say(t("cli.down.leftovers", count=len(found)))
        for info in found:
            say(t("cli.down.leftover", pid=info.pid, command=shown_command(info)))
        killed = stop_leftovers(found)
        if killed:
            say(t("cli.down.leftovers_killed", count=len(killed)))
        say(t("cli.down.leftovers_stopped"))
        stopped_something = True
    if record is not None and not record.running():
        run_record_path(settings).unlink(missing_ok=True)  # a run that ended without removing it
    if not stopped_something:
        say(t("cli.down.not_running", var_dir=settings.var_dir.resolve()))


GROUPS: dict[str, typer.Typer] = {}
