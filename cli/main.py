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


def _whoami() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        return "unknown"


def _audit():  # noqa: ANN202
    from stores.audit_log import AuditLog

    return AuditLog(get_settings().var_dir)


audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log: verify, list.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every entry's hash and link; name the first edited, deleted, inserted or moved one."""
    log = _audit()
    verdict = log.verify()
    if verdict.ok:
        console.print(f"[green]{verdict}[/]")
        return
    console.print(f"[red]{verdict}[/] ({log.path})")
    raise typer.Exit(1)


@audit_app.command("list")
def audit_list(last: int = typer.Option(20, help="How many of the newest entries.")) -> None:
    """The newest entries: when, who, what, why."""
    from rich.table import Table

    table = Table("seq", "at (UTC)", "who", "role", "action", "target", "reason")
    for row in _audit().records()[-last:]:
        if row is None:
            table.add_row("?", "", "", "", "[red]unreadable line[/]", "", "")
            continue
        table.add_row(
            str(row.get("seq")), str(row.get("at", ""))[:19], row.get("actor", ""), row.get("role", ""),
            row.get("action", ""), row.get("target", ""), row.get("reason", ""),
        )  # fmt: skip
    Console().print(table)


webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook deliveries that failed: list, replay.")
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("dead-letters")
def webhooks_dead_letters() -> None:
    """Deliveries that failed every attempt and have not been replayed."""
    from rich.table import Table

    from streams.webhook_delivery import DeadLetters

    table = Table("delivery", "subscriber", "attempts", "last error", "failed at (UTC)")
    for r in DeadLetters(get_settings().var_dir).pending():
        table.add_row(r["delivery_id"], r["subscriber"], str(r["attempts"]), r["error"], r["at"][:19])
    Console().print(table)


@webhooks_app.command("replay")
def webhooks_replay(
    delivery_id: str = typer.Argument(None, help="One delivery (default: every pending one)."),
    by: str = typer.Option("", help="Who replays (default: the logged-in user)."),
) -> None:
    """Send dead-lettered deliveries again (signed afresh); the ones delivered leave the list."""
    from streams.webhook_delivery import DeadLetters, load_subscribers

    settings = get_settings()
    outcome = DeadLetters(settings.var_dir).replay(load_subscribers(settings), delivery_id)
    delivered = [d for d, result in outcome.items() if result == "delivered"]
    if delivered:
        _audit().append(
            by or _whoami(),
            "webhooks.replayed",
            f"{len(delivered)} deliveries",
            details={"delivered": delivered},
        )
    for d, result in outcome.items():
        console.print(f"{d}: " + ("[green]delivered[/]" if result == "delivered" else f"[red]{result}[/]"))
    if len(delivered) < len(outcome):
        raise typer.Exit(1)


vouchers_app = typer.Typer(no_args_is_help=True, help="The books: post, export, close periods, reverse.")
app.add_typer(vouchers_app, name="vouchers")
flows_app = typer.Typer(no_args_is_help=True, help="Prefect flows on the local Prefect server.")
app.add_typer(flows_app, name="flows")


def _books():  # noqa: ANN202
    from flows.post_vouchers import open_books

    return open_books()


@vouchers_app.command("post")
def vouchers_post() -> None:
    """Post vouchers for every stock movement in the lake not posted yet (one pass, no server)."""
    result = _books().post_new_movements()
    console.print(
        f"posted {result.vouchers} vouchers for {result.movements} movements from {result.files} lake files"
        + (f" ({result.duplicates} already posted)" if result.duplicates else "")
    )


@vouchers_app.command("export")
def vouchers_export(
    period: str = typer.Argument(..., help="YYYY-MM"),
    fmt: str = typer.Option("csv", "--format", help="csv or json"),
    unit: str = typer.Option(None, help="Only this set of books (accounting unit)."),
    out: Path = typer.Option(None, help="File to write (default: standard output)."),
) -> None:
    """Export a period's vouchers, one row per line (CSV in UTF-8 with BOM, for spreadsheets)."""
    from stockflow.vouchers import PostingRejected

    try:
        text = _books().export(period, fmt, unit)
    except (ValueError, PostingRejected) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    _audit().append(
        _whoami(),
        "vouchers.exported",
        f"vouchers {period}" + (f" of {unit}" if unit else ""),
        details={"format": fmt, "file": str(out) if out else "standard output"},
    )
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        console.print(f"wrote {out}")


@vouchers_app.command("close")
def vouchers_close(
    period: str = typer.Argument(..., help="YYYY-MM"),
    by: str = typer.Option("", help="Who closes it (default: the logged-in user)."),
) -> None:
    """Close a period: later postings dated in it are booked into the first open period."""
    from stockflow.vouchers import PostingRejected

    try:
        _books().close_period(period, by or _whoami())
    except PostingRejected as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"period {period} closed")


@vouchers_app.command("reverse")
def vouchers_reverse(
    voucher_id: str,
    reason: str = typer.Option(..., help="Why (kept on the reversal)."),
    by: str = typer.Option("", help="Who reverses it (default: the logged-in user)."),
) -> None:
    """Post the red-letter reversal (红字冲销) of a voucher; posted vouchers are never edited."""
    from stockflow.vouchers import PostingRejected

    try:
        reversal = _books().reverse(voucher_id, reason, by=by or _whoami())
    except PostingRejected as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"posted {reversal.voucher_id} on {reversal.voucher_date}")


@vouchers_app.command("trial-balance")
def vouchers_trial_balance(period: str = typer.Option(None, help="Up to the end of YYYY-MM.")) -> None:
    """Totals per set of books and account, and the check against the stock ledger's value."""
    from rich.table import Table

    books = _books()
    table = Table("books", "account", "name", "debit", "credit", "balance")
    for row in books.trial_balance(period):
        table.add_row(
            row.accounting_unit,
            row.account_code,
            row.account_name,
            f"{row.debit:,}",
            f"{row.credit:,}",
            f"{row.balance:,}",
        )
    Console().print(table)
    if period is None:
        inventory, stock = books.inventory_balance_by_location(), books.stock_value_by_location()
        status = "[green]equal[/]" if inventory == stock else "[red]DIFFERENT[/]"
        console.print(f"inventory accounts vs stock ledger value: {status} ({sum(stock.values()):,})")


@flows_app.command("serve")
def flows_serve() -> None:
    """Serve the flows' deployments (schedules) against the local Prefect server."""
    import os
    import sys

    from flows.server import prefect_env

    os.environ.update(prefect_env(get_settings()))
    os.execv(sys.executable, [sys.executable, "-m", "flows", "serve"])


@flows_app.command("run")
def flows_run(name: str = typer.Argument(..., help="post-vouchers")) -> None:
    """Run one flow now, recorded on the local Prefect server."""
    import os

    from flows.server import prefect_env

    os.environ.update(prefect_env(get_settings()))
    if name != "post-vouchers":
        console.print(f"[red]unknown flow {name!r}[/]: post-vouchers")
        raise typer.Exit(2)
    from flows.post_vouchers import post_vouchers

    console.print(post_vouchers())


@app.command()
def reconcile(
    legacy: Path = typer.Option(
        None,
        "--legacy",
        exists=True,
        dir_okay=False,
        help="A legacy system's stock export (CSV: location,sku,batch,on_hand[,unit,reserved,"
        "quarantined,in_transit]) to compare with the ledger instead of the live state.",
    ),
    as_of: str = typer.Option(
        None,
        "--as-of",
        help="When the legacy export was taken (ISO time with zone): positions moved since are in flight.",
    ),
    report_only: bool = typer.Option(False, "--report-only", help="Find and report; send no repairs."),
    show: int = typer.Option(40, help="How many discrepancies to list."),
) -> None:
    """Reconcile stock now: live state vs ledger vs counts (on the local Prefect server), or a
    legacy export vs the ledger (exit status 1 when they differ)."""
    from datetime import datetime

    from flows.reconcile_stock import ReconciliationStore, reconcile_legacy
    from stockflow.reconciliation import LegacyFormatError

    settings = get_settings()
    if legacy is None:
        import os

        from flows.server import prefect_env

        os.environ.update(prefect_env(settings))
        from flows.reconcile_stock import reconcile_stock

        summary = reconcile_stock(repair=False if report_only else None)
    else:
        when = None
        if as_of:
            when = datetime.fromisoformat(as_of)
            if when.tzinfo is None:
                console.print("[red]--as-of needs a time zone[/], e.g. 2026-11-22T18:00:00+08:00")
                raise typer.Exit(2)
        try:
            summary = reconcile_legacy(settings, legacy, when).summary()
        except LegacyFormatError as exc:
            console.print(f"[red]{legacy}: {exc}[/]")
            raise typer.Exit(2) from None
    _print_discrepancies(
        ReconciliationStore(settings.reconciliation_path).discrepancies(summary["run_id"]), show
    )
    console.print(summary)
    if legacy is not None and (summary["drift"] or summary["count_variance"]):
        raise typer.Exit(1)


def _print_discrepancies(rows: list[dict], show: int) -> None:
    from rich.table import Table

    table = Table(
        "class", "location", "SKU", "batch", "qty", "value", "action", "detail", title="discrepancies"
    )
    for r in rows[:show]:
        table.add_row(
            r["classification"], r["location"], r["sku"], r["batch"] or "-", f"{r['qty']:+d}", f"{r['value']:,}",
            r["action"] + (f" {r['event_id']}" if r["event_id"] else ""), r["detail"],
        )  # fmt: skip
    if len(rows) > show:
        table.caption = f"{len(rows) - show} more not shown"
    Console().print(table)


vision_app = typer.Typer(no_args_is_help=True, help="The pallet detector: train it.")
app.add_typer(vision_app, name="vision")


def _prefect_server(settings):  # noqa: ANN001, ANN202
    """The local Prefect server's environment; a server of our own when none answers (stop it)."""
    import os
    import urllib.request

    from flows.server import PrefectServer, prefect_env

    os.environ.update(prefect_env(settings))
    try:
        with urllib.request.urlopen(settings.prefect_api_url + "/health", timeout=2):
            return None
    except OSError:
        server = PrefectServer(settings, settings.var_dir / "logs" / "prefect-server.log")
        server.log_path.parent.mkdir(parents=True, exist_ok=True)
        console.print("starting a Prefect server for this run")
        server.start()
        return server


@vision_app.command("train")
def vision_train(
    epochs: int = typer.Option(50, min=1),
    imgsz: int = typer.Option(320, help="Square input size of the model."),
    batch: int = typer.Option(16, min=1),
    train_photos: int = typer.Option(500, min=1, help="Generated pallet photos to train on."),
    val_photos: int = typer.Option(100, min=1, help="Generated pallet photos to validate on (another seed)."),
    model_yaml: str = typer.Option("yolo11n.yaml", help="The architecture (no pretrained weights)."),
    held_out: int = typer.Option(300, min=0, help="Held-out pallet photos to measure the result on."),
    model_dir: Path = typer.Option(Path("vision/models"), help="Where the ONNX model and its report go."),
    work_dir: Path = typer.Option(None, help="Dataset and training runs (default: var/vision)."),
    threads: int = typer.Option(None, min=1, help="CPU threads (default: all)."),
) -> None:
    """Train the pallet detector from its model YAML on generated photos (CPU, offline), export
    ONNX and write the metrics report beside it (a flow on the local Prefect server)."""
    import shlex
    import sys

    from vision.train import TrainConfig

    settings = get_settings()
    cfg = TrainConfig(
        model_yaml=model_yaml,
        imgsz=imgsz,
        epochs=epochs,
        batch=batch,
        train_photos=train_photos,
        val_photos=val_photos,
        **({"threads": threads} if threads else {}),
    )
    command = shlex.join(["stockflow", *sys.argv[1:]])
    server = _prefect_server(settings)
    try:
        from flows.train_detector import train_detector

        result = train_detector(
            model_dir, work_dir or settings.var_dir / "vision", cfg, held_out, held_out // 3, command
        )
    finally:
        if server is not None:
            server.stop()
    console.print_json(json.dumps(result))


@app.command("inspect")
def inspect_photos(
    images: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Photos of inbound pallets."),
    supplier: str = typer.Option(None, help="Record the inspection for this supplier's delivery..."),
    sku: str = typer.Option(None, help="...of this SKU..."),
    location: str = typer.Option(None, help="...received at this location."),
    batch: str = typer.Option(None, help="The batch received (quarantined when the verdict is not accept)."),
    purchase_order: str = typer.Option(None, "--po", help="The purchase order."),
    annotated: Path = typer.Option(
        None, file_okay=False, help="Write annotated photos here (default: var/inspections when recording)."
    ),
    model: Path = typer.Option(
        None, exists=True, dir_okay=False, help="ONNX model (default: the committed one)."
    ),
) -> None:
    """Inspect pallet photos with the edge detector: cartons, layers, damage, mixed goods and a
    verdict. With --supplier, --sku and --location each result is recorded as a
    pallet_inspected event through the workers (exit status 2 when a file is not a photo)."""
    from datetime import UTC, datetime

    from rich.table import Table

    from infra.worker_client import StockApiError, publisher
    from stockflow.events import encode_event
    from stockflow.inspection import inspection_event
    from vision.detector import DEFAULT_MODEL
    from vision.inspector import Inspector, NotAPhoto, inspection_id

    settings = get_settings()
    delivery = (supplier, sku, location)
    record = all(delivery)
    if any(delivery) and not record:
        console.print("[red]to record inspections give --supplier, --sku and --location together[/]")
        raise typer.Exit(2)
    out_dir = annotated or (settings.var_dir / "inspections" if record else None)
    inspector = Inspector(model or settings.inspection_model or DEFAULT_MODEL)
    publish = publisher(settings.web_url) if record else None
    table = Table(
        "photo", "pallet", "cartons", "layers", "damaged", "mixed", "confidence", "verdict", "event"
    )
    failed = 0
    for path in images:
        try:
            data = path.read_bytes()
            seen = inspector.inspect_bytes(data)
        except NotAPhoto as exc:
            console.print(f"[red]{path}: {exc}[/]")
            failed += 1
            continue
        r = seen.result
        event_id = inspection_id(data, supplier, sku, batch, purchase_order) if record else ""
        image = None
        if out_dir is not None:
            name = f"{event_id or path.stem}.jpg"
            seen.write_annotated(out_dir / name)
            image = str(out_dir / name)
        sent = ""
        if publish is not None and r.pallet_found:
            event = inspection_event(
                r,
                event_id=event_id,
                occurred_at=datetime.now(UTC),
                source="stockflow-inspect",
                location=location,
                supplier=supplier,
                sku=sku,
                batch=batch,
                purchase_order=purchase_order,
                model=seen.model,
                image=image,
            )
            try:
                publish(encode_event(event))
            except StockApiError as exc:
                console.print(f"[red]{path}: not recorded: {exc}[/]")
                raise typer.Exit(1) from None
            sent = event_id
        if not r.pallet_found:
            table.add_row(str(path), "no pallet found", "", "", "", "", "", "", "")
            continue
        table.add_row(
            str(path), "yes", str(r.cartons), str(r.layers), str(r.damaged_cartons),
            "yes" if r.mixed_goods else "no", f"{r.confidence:.2f}", r.verdict.value, sent,
        )  # fmt: skip
    Console().print(table)
    if out_dir is not None:
        console.print(f"annotated photos in {out_dir}")
    if failed:
        raise typer.Exit(2)


replenish_app = typer.Typer(no_args_is_help=True, help="Replenishment suggestions: list, approve, reject.")
app.add_typer(replenish_app, name="replenish")


def _planning():  # noqa: ANN202
    from stores.planning import Planning

    return Planning(get_settings().var_dir)


@replenish_app.command("run")
def replenish_run() -> None:
    """Plan now (live stock from the workers), recorded on the local Prefect server."""
    import os

    from flows.server import prefect_env

    os.environ.update(prefect_env(get_settings()))
    from flows.replenish import replenish

    console.print(replenish())


@replenish_app.command("list")
def replenish_list(
    status: str = typer.Option("proposed", help="proposed, approved, rejected, expired or all"),
) -> None:
    """Suggestions, transfers first, then purchase orders by order-by date."""
    from rich.table import Table

    rows = _planning().suggestions(None if status == "all" else status)
    table = Table("id", "kind", "to", "from / supplier", "SKU", "qty", "order by", "status")
    for r in rows:
        source = r["from_location"] or r["supplier"] or ""
        table.add_row(
            r["suggestion_id"], r["kind"], r["location"], source, r["sku"], str(r["quantity"]),
            str(r["order_by"] or ""), r["status"],
        )  # fmt: skip
    Console().print(table)


def _decide(suggestion_id: str, decision: str, reviewer: str, reason: str, role: str) -> None:
    from infra.worker_client import StockApiError, publisher
    from stockflow.replenishment import SuggestionError

    try:
        row = _planning().decide_suggestion(
            suggestion_id, decision, reviewer, reason, role, publish=publisher(get_settings().web_url)
        )
    except (SuggestionError, StockApiError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(
        f"{row['suggestion_id']}: {row['status']}" + (f" as {row['event_id']}" if row["event_id"] else "")
    )


@replenish_app.command("approve")
def replenish_approve(
    suggestion_id: str,
    reviewer: str = typer.Option(..., help="Who approves."),
    reason: str = typer.Option("", help="Why (optional)."),
    role: str = typer.Option("", help="The reviewer's role."),
) -> None:
    """Approve a proposed suggestion: its purchase order or transfer goes into the stream."""
    _decide(suggestion_id, "approved", reviewer, reason, role)


@replenish_app.command("reject")
def replenish_reject(
    suggestion_id: str,
    reviewer: str = typer.Option(..., help="Who rejects."),
    reason: str = typer.Option(..., help="Why (required)."),
    role: str = typer.Option("", help="The reviewer's role."),
) -> None:
    """Reject a proposed suggestion, with a reason."""
    _decide(suggestion_id, "rejected", reviewer, reason, role)


dashboard_app = typer.Typer(help="The managers' dashboards (Streamlit), signed in by role.")
app.add_typer(dashboard_app, name="dashboard")


@dashboard_app.callback(invoke_without_command=True)
def dashboard(ctx: typer.Context) -> None:
    """Serve the dashboards on STOCKFLOW_DASHBOARD_HOST:PORT in the foreground."""
    if ctx.invoked_subcommand is not None:
        return
    import os
    import sys

    from dashboards.access import ensure_passwords
    from dashboards.server import dashboard_env, streamlit_args

    settings = get_settings()
    _show_new_passwords(ensure_passwords(settings))
    console.print(f"dashboard at {settings.dashboard_url}")
    os.execve(sys.executable, [sys.executable, *streamlit_args(settings)], dashboard_env(settings))


@dashboard_app.command("password")
def dashboard_password(
    role: str = typer.Argument(..., help="manager, warehouse, finance or auditor"),
) -> None:
    """Set a role's dashboard password (stored as a scrypt hash in var/dashboard_passwords.json)."""
    from dashboards.access import set_password
    from stockflow.masking import Role

    try:
        chosen = Role(role)
    except ValueError:
        console.print(f"[red]unknown role {role!r}[/]: " + ", ".join(r.value for r in Role))
        raise typer.Exit(2) from None
    password = typer.prompt(f"new password for {chosen.value}", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        console.print("[red]a password needs at least 8 characters[/]")
        raise typer.Exit(2)
    set_password(get_settings(), chosen, password)
    console.print(f"password of {chosen.value} changed")


def _show_new_passwords(chosen: dict) -> None:
    if chosen:
        console.print(
            "dashboard passwords chosen for you (shown once; change one with "
            "`stockflow dashboard password ROLE`): "
            + ", ".join(f"{role.value} [bold]{password}[/]" for role, password in chosen.items())
        )


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


@app.command()
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
    from dashboards.access import ensure_passwords
    from dashboards.server import start_dashboard, wait_until_serving
    from flows.server import PrefectServer, start_flow_serving
    from infra.processes import stop_processes
    from simulator.run import lake_has_events, run_simulation
    from stores.dbt_process import stop_standby

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
        new_passwords = ensure_passwords(settings)
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
        console.print(f"  dashboard       {settings.dashboard_url}   (sign in with a role's password)")
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
            pass
        console.print("stopping…")
        stop.set()
        simulation.join(timeout=15)
        if failure:
            console.print(f"[red]the simulated company stopped: {failure[0]!r}[/]")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        # the flows, the workers and the Prefect server stop together (each within 20 s)
        stop_processes(
            [p for p in (dashboard, serving, prefect.process, *stack.worker_procs) if p is not None]
        )
        stop_standby(settings.var_dir / "warehouse")  # the dbt process scheduled builds keep loaded
        stack.stop()
        prefect.stop()
        console.print("stopped")
    if failure:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # python -m cli.main
    main()
