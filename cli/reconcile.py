"""`stockflow reconcile`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from cli.common import Format, console, explained, format_option, print_table, t, tr
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

DISCREPANCY_COLUMNS = (
    "classification",
    "location",
    "sku",
    "batch",
    "qty",
    "value",
    "action",
    "event_id",
    "detail",
)


def classification_name(value: str) -> str:
    """A discrepancy's class in the interface's language."""
    return tr().word("classification", value)


def action_name(value: str) -> str:
    """What the reconciliation did about a discrepancy, in the interface's language."""
    return tr().word("action", value)


@commands.command(help=t("cli.reconcile.help"))
def reconcile(
    legacy: Path = typer.Option(
        None, "--legacy", exists=True, dir_okay=False, help=t("cli.reconcile.legacy")
    ),
    as_of: str = typer.Option(None, "--as-of", help=t("cli.reconcile.as_of")),
    report_only: bool = typer.Option(False, "--report-only", help=t("cli.reconcile.report_only")),
    full: bool = typer.Option(False, "--full", help=t("cli.reconcile.full")),
    show: int = typer.Option(40, help=t("cli.reconcile.show")),
    output: Format = format_option(),
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

        console.print(t("cli.reconcile.running", url=settings.prefect_api_url), markup=False)
        summary = reconcile_stock(repair=False if report_only else None, full_replay=True if full else None)
    else:
        when = None
        if as_of:
            try:
                when = datetime.fromisoformat(as_of)
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                console.print(
                    Text(
                        t("cli.reconcile.as_of_needs_zone", example="2026-11-22T18:00:00+08:00"), style="red"
                    )
                )
                raise typer.Exit(2)
        try:
            with console.status(t("cli.reconcile.comparing", file=legacy.name)):
                summary = reconcile_legacy(settings, legacy, when).summary()
        except LegacyFormatError as exc:
            console.print(
                Text(t("cli.reconcile.unreadable_export", file=legacy, problem=explained(exc)), style="red")
            )
            raise typer.Exit(2) from None
    rows = ReconciliationStore(settings.reconciliation_path).discrepancies(summary["run_id"])
    print_discrepancies(rows, show, output)
    console.print(summary_sentence(summary), markup=False)
    if legacy is not None and (summary["drift"] or summary["count_variance"]):
        raise typer.Exit(1)


def summary_sentence(summary: dict[str, Any]) -> str:
    return t(
        "cli.reconcile.summary",
        run=summary["run_id"],
        positions=tr().number(summary["positions_compared"]),
        events=tr().number(summary["events_replayed"]),
        in_flight=summary["in_flight"],
        drift=summary["drift"],
        count_variance=summary["count_variance"],
        corrections=summary["corrections"],
        adjustments=summary["adjustments"],
        unconfirmed=summary["unconfirmed"],
        duration=tr().duration(summary["seconds"]),
    )


def print_discrepancies(rows: list[dict[str, Any]], show: int, output: Format) -> None:
    listed = rows[: max(show, 0)]
    note = (
        t("cli.reconcile.more_not_shown", count=len(rows) - len(listed)) if len(rows) > len(listed) else None
    )
    print_table(
        [{c: r.get(c) for c in DISCREPANCY_COLUMNS} for r in listed],
        DISCREPANCY_COLUMNS,
        output,
        t("cli.reconcile.title"),
        shown={
            "classification": classification_name,
            "action": action_name,
            "qty": lambda q: f"{q:+d}" if q is not None else "",
            "value": lambda v: tr().money(v, signed=True) if v is not None else "",
        },
        note=note,
    )


GROUPS: dict[str, typer.Typer] = {}
