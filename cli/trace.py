"""`stockflow trace BATCH`: a batch traced backward and forward from the lake (批次追溯)."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from cli.common import Format, console, format_option, print_table, t, tr
from stockflow.config import get_settings
from stockflow.trace import Flow

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

#: csv and json: every fact of the trace in one table, a row per fact (`section` says which)
TRACE_COLUMNS = (
    "sku",
    "batch",
    "depth",
    "section",
    "occurred_at",
    "location",
    "flow",
    "quantity",
    "counterparty",
    "reference",
    "event_id",
    "detail",
)
RECEIPT_COLUMNS = (
    "occurred_at",
    "location",
    "supplier",
    "purchase_order",
    "quantity",
    "quarantined",
    "expiry_date",
    "curve",
    "event_id",
)
INSPECTION_COLUMNS = (
    "occurred_at",
    "location",
    "inspection_id",
    "verdict",
    "cartons",
    "damaged_cartons",
    "event_id",
)
QUALITY_COLUMNS = ("occurred_at", "location", "action", "quantity", "reason", "event_id")
MADE_FROM_COLUMNS = ("occurred_at", "location", "made_from", "via", "reference", "quantity", "event_id")
STEP_COLUMNS = (
    "occurred_at",
    "location",
    "flow",
    "quantity",
    "counterparty",
    "reference",
    "dish",
    "event_id",
)
BALANCE_COLUMNS = (
    "location",
    "received",
    "made",
    "transferred_in",
    "returned",
    "found",
    "sold",
    "delivered",
    "transferred_out",
    "consumed",
    "written_off",
    "on_hand",
    "quarantined",
    "in_transit",
)


@commands.command("trace", help=t("cli.trace.help"))
def trace(
    batch: str = typer.Argument(..., help=t("cli.trace.batch")),
    sku: str = typer.Option(None, "--sku", help=t("cli.trace.sku")),
    output: Format = format_option(),
) -> None:
    """Trace a batch backward (supplier, receipt, inspection, curve) and forward (locations,
    customers, tickets, what was made from it)."""
    from stockflow.services.trace import trace_batch
    from stores.trace import LakeTrace

    batch = batch.strip()
    if not batch:
        console.print(Text(t("cli.trace.no_batch"), style="red"))
        raise typer.Exit(2)
    settings = get_settings()
    with console.status(t("cli.trace.reading", batch=batch)):
        result = trace_batch(LakeTrace(settings.lake_dir), batch, sku or None)
    if not result.found:
        console.print(Text(t("cli.trace.not_found", batch=batch), style="yellow"))
        raise typer.Exit(1)
    if output is not Format.TABLE:
        print_table(trace_rows(result), TRACE_COLUMNS, output)
        return
    for traced in result.batches:
        print_batch(traced)
    if result.not_followed:
        console.print(
            t("cli.trace.not_followed", batches=", ".join(f"{k.sku}/{k.batch}" for k in result.not_followed)),
            markup=False,
        )


def flow_name(value: Any) -> str:
    return tr().word("flow", str(value))


def action_name(value: Any) -> str:
    return tr().word("trace_action", str(value))


def print_batch(traced: Any) -> None:
    key = traced.key
    tz = get_settings().tz
    when = {"occurred_at": lambda v: tr().timestamp(v, tz) if v else ""}
    title = t("cli.trace.made_title", sku=key.sku, batch=key.batch) if traced.depth else None
    if title:
        console.print(Text(title, style="bold"))
    if traced.made_from:
        print_table(
            [
                {
                    "occurred_at": m.occurred_at, "location": m.location,
                    "made_from": f"{m.parent.sku}/{m.parent.batch}", "via": tr().word("via", m.via.value),
                    "reference": m.reference, "quantity": m.qty, "event_id": m.event_id,
                }
                for m in traced.made_from
            ],
            MADE_FROM_COLUMNS, Format.TABLE, t("cli.trace.made_from", sku=key.sku, batch=key.batch), shown=when,
        )  # fmt: skip
    if traced.receipts:
        print_table(
            [
                {
                    "occurred_at": r.occurred_at, "location": r.location, "supplier": r.supplier,
                    "purchase_order": r.purchase_order, "quantity": r.qty, "quarantined": r.quarantined,
                    "expiry_date": r.expiry_date, "curve": r.curve.summary() if r.curve else t("cli.trace.no_curve"),
                    "event_id": r.event_id,
                }
                for r in traced.receipts
            ],
            RECEIPT_COLUMNS, Format.TABLE, t("cli.trace.receipts", sku=key.sku, batch=key.batch), shown=when,
        )  # fmt: skip
    if traced.inspections:
        print_table(
            [
                {
                    "occurred_at": i.occurred_at, "location": i.location, "inspection_id": i.inspection_id,
                    "verdict": tr().word("verdict", i.verdict), "cartons": i.cartons,
                    "damaged_cartons": i.damaged_cartons, "event_id": i.event_id,
                }
                for i in traced.inspections
            ],
            INSPECTION_COLUMNS, Format.TABLE, t("cli.trace.inspections", sku=key.sku, batch=key.batch), shown=when,
        )  # fmt: skip
    print_quality(key, traced.quality, when)
    print_table(
        [
            {
                "occurred_at": s.occurred_at, "location": s.location, "flow": flow_name(s.flow), "quantity": s.qty,
                "counterparty": s.counterparty, "reference": s.reference, "dish": s.dish, "event_id": s.event_id,
            }
            for s in traced.steps
        ],
        STEP_COLUMNS, Format.TABLE, t("cli.trace.steps", sku=key.sku, batch=key.batch), shown=when,
    )  # fmt: skip
    print_table(
        [balance_row(b) for b in traced.balances] + [balance_row(traced.total, t("cli.trace.all_locations"))],
        BALANCE_COLUMNS,
        Format.TABLE,
        t("cli.trace.balances", sku=key.sku, batch=key.batch),
    )
    total = traced.total
    console.print(
        t(
            "cli.trace.summary",
            sku=key.sku,
            batch=key.batch,
            inflow=tr().number(total.inflow),
            locations=len(traced.balances),
            tickets=len(traced.steps_in(Flow.SOLD)),
            customers=len(traced.customers),
            on_hand=tr().number(total.on_hand),
            in_transit=tr().number(total.in_transit),
        ),
        markup=False,
    )


def print_quality(key: Any, quality: Any, when: dict[str, Any]) -> None:
    """The holds, releases and scraps of a batch's quarantine (the trace's and the GSP report's)."""
    if quality:
        print_table(
            [
                {
                    "occurred_at": q.occurred_at, "location": q.location, "action": action_name(q.action),
                    "quantity": q.qty, "reason": q.reason, "event_id": q.event_id,
                }
                for q in quality
            ],
            QUALITY_COLUMNS, Format.TABLE, t("cli.trace.quality", sku=key.sku, batch=key.batch), shown=when,
        )  # fmt: skip


def balance_row(balance: Any, location: str | None = None) -> dict[str, Any]:
    return {
        "location": location if location is not None else balance.location,
        **{f.value: balance.qty(f) for f in Flow},
        "on_hand": balance.on_hand,
        "quarantined": balance.quarantined,
        "in_transit": balance.in_transit,
    }


def trace_rows(result: Any) -> list[dict[str, Any]]:
    """Every fact of a trace as rows of `TRACE_COLUMNS` (csv, json)."""
    rows: list[dict[str, Any]] = []
    for b in result.batches:
        base = {"sku": b.key.sku, "batch": b.key.batch, "depth": b.depth}
        for m in b.made_from:
            rows.append({**base, "section": "made_from", "occurred_at": m.occurred_at, "location": m.location,
                         "flow": "made", "quantity": m.qty, "counterparty": f"{m.parent.sku}/{m.parent.batch}",
                         "reference": m.reference, "event_id": m.event_id, "detail": m.via.value})  # fmt: skip
        for r in b.receipts:
            rows.append({**base, "section": "receipt", "occurred_at": r.occurred_at, "location": r.location,
                         "flow": "received", "quantity": r.qty, "counterparty": r.supplier,
                         "reference": r.purchase_order, "event_id": r.event_id,
                         "detail": r.curve.summary() if r.curve else ""})  # fmt: skip
        for i in b.inspections:
            rows.append({**base, "section": "inspection", "occurred_at": i.occurred_at, "location": i.location,
                         "flow": None, "quantity": i.damaged_cartons, "counterparty": i.supplier,
                         "reference": i.inspection_id, "event_id": i.event_id, "detail": i.verdict})  # fmt: skip
        for q in b.quality:
            rows.append({**base, "section": "quality", "occurred_at": q.occurred_at, "location": q.location,
                         "flow": q.action, "quantity": q.qty, "counterparty": "", "reference": "",
                         "event_id": q.event_id, "detail": q.reason})  # fmt: skip
        for s in b.steps:
            rows.append({**base, "section": "step", "occurred_at": s.occurred_at, "location": s.location,
                         "flow": s.flow.value, "quantity": s.qty, "counterparty": s.counterparty,
                         "reference": s.reference, "event_id": s.event_id, "detail": s.dish})  # fmt: skip
        for bal in (*b.balances, b.total):
            for name, value in balance_row(bal).items():
                if name != "location" and value:
                    rows.append({**base, "section": "balance", "occurred_at": None, "location": bal.location,
                                 "flow": name, "quantity": value, "counterparty": "", "reference": "",
                                 "event_id": "", "detail": ""})  # fmt: skip
    return rows


GROUPS: dict[str, typer.Typer] = {}


#: `stockflow gsp`: an arrival of the batch and its curve's check; a quality step; an excursion
GSP_ARRIVAL_COLUMNS = (
    "occurred_at",
    "location",
    "event_type",
    "quantity",
    "curve",
    "readings",
    "min_c",
    "max_c",
    "minutes_outside",
    "longest_gap_minutes",
    "verdict",
    "recorded",
    "event_id",
)
GSP_EXCURSION_COLUMNS = ("started_at", "location", "sensor", "minutes", "peak_c", "alert_id")
GSP_READING_COLUMNS = ("event_id", "at", "celsius")
#: csv and json: every fact of the report in one table (`section`: arrival, reading, quality, excursion)
GSP_COLUMNS = (
    "sku",
    "batch",
    "section",
    "occurred_at",
    "location",
    "event_type",
    "quantity",
    "celsius",
    "verdict",
    "reason",
    "event_id",
)


def verdict_name(reason: str) -> str:
    return tr().word("curve_check", reason or "clear")


@commands.command("gsp", help=t("cli.gsp.help"))
def gsp(
    batch: str = typer.Argument(..., help=t("cli.trace.batch")),
    sku: str = typer.Option(None, "--sku", help=t("cli.trace.sku")),
    readings: bool = typer.Option(False, "--readings", help=t("cli.gsp.readings")),
    output: Format = format_option(),
) -> None:
    """The GSP report of a batch: its arrivals' temperature curves checked against the SKU's
    range, the holds, releases and scraps of its quarantine, the excursions that found it."""
    from stockflow.masterdata import Catalog
    from stockflow.services.trace import gsp_reports
    from stores.trace import LakeTrace

    batch = batch.strip()
    if not batch:
        console.print(Text(t("cli.trace.no_batch"), style="red"))
        raise typer.Exit(2)
    settings = get_settings()
    catalog = Catalog.load(settings.masterdata_path)
    with console.status(t("cli.trace.reading", batch=batch)):
        reports = gsp_reports(
            LakeTrace(settings.lake_dir),
            catalog,
            batch,
            sku or None,
            settings.excursion_minutes,
            settings.curve_max_gap_minutes,
        )
    if not reports:
        console.print(Text(t("cli.trace.not_found", batch=batch), style="yellow"))
        raise typer.Exit(1)
    if output is not Format.TABLE:
        print_table(gsp_rows(reports), GSP_COLUMNS, output)
        return
    for report in reports:
        print_gsp(report, readings)


def print_gsp(report: Any, readings: bool) -> None:
    key = report.key
    tz = get_settings().tz
    when = {
        name: (lambda v: tr().timestamp(v, tz) if v else "") for name in ("occurred_at", "started_at", "at")
    }
    if report.cold_chain:
        console.print(
            Text(
                t("cli.gsp.title", sku=key.sku, batch=key.batch, low=report.low_c, high=report.high_c),
                style="bold",
            )
        )
    else:
        console.print(Text(t("cli.gsp.not_chilled", sku=key.sku, batch=key.batch), style="bold"))
    print_table(
        [
            {
                "occurred_at": a.occurred_at, "location": a.location, "event_type": tr().word("event_type", a.event_type),
                "quantity": a.qty, "curve": a.curve.summary() if a.curve else t("cli.trace.no_curve"),
                "readings": len(a.points), "min_c": min((c for _, c in a.points), default=None),
                "max_c": max((c for _, c in a.points), default=None),
                "minutes_outside": round(a.check.minutes_outside, 1),
                "longest_gap_minutes": round(a.check.longest_gap_minutes, 1),
                "verdict": verdict_name(a.check.reason), "recorded": verdict_name(a.recorded) if a.recorded else "",
                "event_id": a.event_id,
            }
            for a in report.arrivals
        ],
        GSP_ARRIVAL_COLUMNS, Format.TABLE, t("cli.gsp.arrivals", sku=key.sku, batch=key.batch), shown=when,
    )  # fmt: skip
    if readings:
        for a in report.arrivals:
            if a.points:
                print_table(
                    [{"event_id": a.event_id, "at": at, "celsius": c} for at, c in a.points],
                    GSP_READING_COLUMNS, Format.TABLE, t("cli.gsp.readings_title", event_id=a.event_id), shown=when,
                )  # fmt: skip
    print_quality(key, report.quality, when)
    if report.excursions:
        print_table(
            [
                {
                    "started_at": e.started_at, "location": e.location, "sensor": e.sensor, "minutes": e.minutes,
                    "peak_c": e.peak_c, "alert_id": e.alert_id,
                }
                for e in report.excursions
            ],
            GSP_EXCURSION_COLUMNS, Format.TABLE, t("cli.gsp.excursions", sku=key.sku, batch=key.batch), shown=when,
        )  # fmt: skip
    if report.findings:
        console.print(
            Text(
                t("cli.gsp.findings", count=len(report.findings), items="; ".join(report.findings)),
                style="yellow",
            )
        )
    else:
        console.print(Text(t("cli.gsp.clean", sku=key.sku, batch=key.batch), style="green"))


def gsp_rows(reports: Any) -> list[dict[str, Any]]:
    """Every fact of the reports as rows of `GSP_COLUMNS` (csv, json)."""
    rows: list[dict[str, Any]] = []
    for report in reports:
        base = {"sku": report.key.sku, "batch": report.key.batch}
        for a in report.arrivals:
            rows.append({**base, "section": "arrival", "occurred_at": a.occurred_at, "location": a.location,
                         "event_type": a.event_type, "quantity": a.qty, "celsius": None,
                         "verdict": a.check.reason or "clear", "reason": a.recorded, "event_id": a.event_id})  # fmt: skip
            for at, celsius in a.points:
                rows.append({**base, "section": "reading", "occurred_at": at, "location": a.location,
                             "event_type": a.event_type, "quantity": None, "celsius": celsius, "verdict": None,
                             "reason": "", "event_id": a.event_id})  # fmt: skip
        for q in report.quality:
            rows.append({**base, "section": "quality", "occurred_at": q.occurred_at, "location": q.location,
                         "event_type": q.action, "quantity": q.qty, "celsius": None, "verdict": None,
                         "reason": q.reason, "event_id": q.event_id})  # fmt: skip
        for e in report.excursions:
            rows.append({**base, "section": "excursion", "occurred_at": e.started_at, "location": e.location,
                         "event_type": "temperature_excursion", "quantity": None, "celsius": e.peak_c,
                         "verdict": "temperature_excursion", "reason": f"{e.minutes:g} min, {e.sensor}",
                         "event_id": e.alert_id})  # fmt: skip
    return rows
