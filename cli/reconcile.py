"""`stockflow reconcile`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cli.common import console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app


@commands.command()
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
    full: bool = typer.Option(
        False,
        "--full",
        help="Replay the ledger from the lake's beginning, not from the last run's checkpoints.",
    ),
    show: int = typer.Option(40, help="How many discrepancies to list."),
) -> None:
    """Reconcile stock now: live state vs ledger vs counts (on the local Prefect server), or a
    legacy export vs the ledger (exit status 1 when they differ)."""
    from datetime import datetime

    from flows.reconcile_stock import reconcile_legacy
    from stockflow.reconciliation import LegacyFormatError
    from stores.reconciliation import ReconciliationStore

    settings = get_settings()
    if legacy is None:
        import os

        from flows.server import prefect_env

        os.environ.update(prefect_env(settings))
        from flows.reconcile_stock import reconcile_stock

        summary = reconcile_stock(repair=False if report_only else None, full_replay=True if full else None)
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


GROUPS: dict[str, typer.Typer] = {}
