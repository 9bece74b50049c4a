"""`stockflow vouchers` (the books) and `stockflow flows`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cli.common import _audit, _whoami, console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

vouchers_app = typer.Typer(no_args_is_help=True, help="The books: post, export, close periods, reverse.")
flows_app = typer.Typer(no_args_is_help=True, help="Prefect flows on the local Prefect server.")


def _books():  # noqa: ANN202
    """The books' use cases (`stockflow.services.books.BooksService`) on this machine's books."""
    from flows.post_vouchers import open_books

    return open_books()


@vouchers_app.command("post")
def vouchers_post() -> None:
    """Post vouchers for every stock movement in the lake not posted yet (one pass, no server)."""
    result = _books().post_vouchers()
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
        text = _books().export_period(period, fmt, unit)
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

    from stockflow.vouchers import PostingRejected

    books = _books()
    try:
        rows = books.trial_balance(period)
    except PostingRejected as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    table = Table("books", "account", "name", "debit", "credit", "balance")
    for row in rows:
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
        check = books.check_stock()
        status = "[green]equal[/]" if check.equal else "[red]DIFFERENT[/]"
        console.print(f"inventory accounts vs stock ledger value: {status} ({check.stock_value:,})")
        for location, difference in check.differences.items():
            console.print(f"  {location}: inventory accounts − stock value = {difference:,}")


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


GROUPS = {"vouchers": vouchers_app, "flows": flows_app}
