"""`stockflow vouchers` (the books) and `stockflow flows`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

from cli.common import Format, _audit, _whoami, console, explained, format_option, print_table, t, tr
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

vouchers_app = typer.Typer(no_args_is_help=True, help=t("cli.vouchers.help"))
flows_app = typer.Typer(no_args_is_help=True, help=t("cli.flows.help"))

TRIAL_BALANCE_COLUMNS = ("accounting_unit", "account_code", "account_name", "debit", "credit", "balance")
FLOWS = ("post-vouchers",)


def _books():  # noqa: ANN202
    """The books' use cases (`stockflow.services.books.BooksService`) on this machine's books."""
    from flows.post_vouchers import open_books

    masterdata = get_settings().masterdata_path
    if not masterdata.exists():
        console.print(Text(t("cli.vouchers.no_masterdata", path=masterdata), style="red"))
        raise typer.Exit(2)
    return open_books()


def _refused(exc: Exception, code: int = 2) -> typer.Exit:
    console.print(Text(explained(exc), style="red"))
    return typer.Exit(code)


@vouchers_app.command("post", help=t("cli.vouchers.post.help"))
def vouchers_post() -> None:
    """Post vouchers for every stock movement in the lake not posted yet (one pass, no server);
    in the no-stock edition, the service worker's revenue vouchers."""
    with console.status(t("cli.vouchers.posting")):
        result = _books().post_pass(get_settings().edition)
    fields = {"vouchers": result.vouchers, "movements": result.movements, "files": result.files}
    if result.duplicates:
        console.print(t("cli.vouchers.posted_with_duplicates", duplicates=result.duplicates, **fields))
    else:
        console.print(t("cli.vouchers.posted", **fields))


@vouchers_app.command("export", help=t("cli.vouchers.export.help_layouts"))
def vouchers_export(
    period: str = typer.Argument(..., help=t("cli.option.period")),
    fmt: str = typer.Option("csv", "--format", help=t("cli.vouchers.export.format_layouts")),
    unit: str = typer.Option(None, help=t("cli.vouchers.export.unit")),
    out: Path = typer.Option(None, help=t("cli.vouchers.export.out")),
    preparer: str = typer.Option("", help=t("cli.vouchers.export.preparer")),
) -> None:
    """Export a period's vouchers, one row per line (CSV in UTF-8 with BOM, for spreadsheets), or
    as the voucher import workbook of 用友 U8 / 金蝶 K/3 (.xlsx, written to --out)."""
    from stockflow.voucher_layouts import LAYOUTS, VoucherWorkbook
    from stockflow.vouchers import PostingRejected

    if fmt in LAYOUTS and out is None:
        console.print(Text(t("cli.vouchers.export.workbook_needs_out", format=fmt), style="red"))
        raise typer.Exit(2)
    try:
        with console.status(t("cli.vouchers.exporting", period=period)):
            exported = _books().export_period(period, fmt, unit, preparer or _whoami())
    except (ValueError, PostingRejected) as exc:
        raise _refused(exc) from None
    _audit().append(
        _whoami(),
        "vouchers.exported",
        f"vouchers {period}" + (f" of {unit}" if unit else ""),
        details={"format": fmt, "file": str(out) if out else "standard output"},
    )
    if isinstance(exported, VoucherWorkbook):
        from stores.voucher_workbooks import write_workbook

        write_workbook(exported, out)
        console.print(t("cli.wrote_file", path=out), markup=False)
        return
    if fmt == "csv":  # who took it and when, as its last row (an import skips it)
        from stockflow.watermarks import csv_row
        from stores.spreadsheets import export_watermark, watermark_line

        exported += csv_row([watermark_line(export_watermark(_whoami()))])
    if out is None:
        typer.echo(exported, nl=False)
    else:
        out.write_text(exported, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        console.print(t("cli.wrote_file", path=out), markup=False)


@vouchers_app.command("close", help=t("cli.vouchers.close.help"))
def vouchers_close(
    period: str = typer.Argument(..., help=t("cli.option.period")),
    by: str = typer.Option("", help=t("cli.vouchers.close.by")),
) -> None:
    """Close a period: later postings dated in it are booked into the first open period."""
    from stockflow.vouchers import PostingRejected

    try:
        _books().close_period(period, by or _whoami())
    except PostingRejected as exc:
        raise _refused(exc) from None
    console.print(t("cli.vouchers.closed", period=period))


@vouchers_app.command("reverse", help=t("cli.vouchers.reverse.help"))
def vouchers_reverse(
    voucher_id: str = typer.Argument(..., help=t("cli.vouchers.reverse.voucher_id")),
    reason: str = typer.Option(..., help=t("cli.vouchers.reverse.reason")),
    by: str = typer.Option("", help=t("cli.vouchers.reverse.by")),
) -> None:
    """Post the red-letter reversal (红字冲销) of a voucher; posted vouchers are never edited."""
    from stockflow.vouchers import PostingRejected

    try:
        reversal = _books().reverse(voucher_id, reason, by=by or _whoami())
    except PostingRejected as exc:
        raise _refused(exc) from None
    console.print(
        t("cli.vouchers.reversed", voucher=reversal.voucher_id, date=reversal.voucher_date), markup=False
    )


@vouchers_app.command("trial-balance", help=t("cli.vouchers.trial_balance.help"))
def vouchers_trial_balance(
    period: str = typer.Option(None, help=t("cli.vouchers.trial_balance.period")),
    output: Format = format_option(),
) -> None:
    """Totals per set of books and account, and the check against the stock ledger's value."""
    from stockflow.vouchers import PostingRejected

    books = _books()
    try:
        balance = books.trial_balance(period)
    except PostingRejected as exc:
        raise _refused(exc) from None
    rows = [
        {
            "accounting_unit": r.accounting_unit,
            "account_code": r.account_code,
            "account_name": r.account_name,
            "debit": r.debit,
            "credit": r.credit,
            "balance": r.balance,
        }
        for r in balance
    ]
    money = tr().money
    title = (
        t("cli.vouchers.trial_balance.title_to", period=period)
        if period
        else t("cli.vouchers.trial_balance.title")
    )
    print_table(
        rows,
        TRIAL_BALANCE_COLUMNS,
        output,
        title,
        shown={"debit": money, "credit": money, "balance": money},
    )
    if period is None:
        check = books.check_stock()
        if check.equal:
            console.print(Text(t("cli.vouchers.check_equal", value=money(check.stock_value)), style="green"))
        else:
            console.print(
                Text(t("cli.vouchers.check_different", value=money(check.stock_value)), style="red")
            )
        for location, difference in check.differences.items():
            console.print(t("cli.vouchers.check_difference", location=location, difference=money(difference)))


@flows_app.command("serve", help=t("cli.flows.serve.help"))
def flows_serve() -> None:
    """Serve the flows' deployments (schedules) against the local Prefect server."""
    import os
    import sys

    from flows.server import prefect_env

    os.environ.update(prefect_env(get_settings()))
    os.execv(sys.executable, [sys.executable, "-m", "flows", "serve"])


@flows_app.command("run", help=t("cli.flows.run.help"))
def flows_run(name: str = typer.Argument(..., help=t("cli.flows.run.name"))) -> None:
    """Run one flow now, recorded on the local Prefect server."""
    import os

    from flows.server import prefect_env

    settings = get_settings()
    os.environ.update(prefect_env(settings))
    if name not in FLOWS:
        console.print(Text(t("cli.flows.unknown", name=name, known=", ".join(FLOWS)), style="red"))
        raise typer.Exit(2)
    from flows.post_vouchers import post_vouchers

    console.print(t("cli.flows.running", name=name, url=settings.prefect_api_url), markup=False)
    result = post_vouchers()
    console.print(t("cli.flows.finished", name=name))
    console.print_json(json.dumps(result, default=str))


GROUPS = {"vouchers": vouchers_app, "flows": flows_app}
