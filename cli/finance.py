"""`stockflow finance`: supplier invoices, payments, sales invoices, credit notes and customer
receipts into the books; the match exceptions queue; write-offs; ageing and the subledger check."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from cli.common import Format, _whoami, console, explained, format_option, print_table, t
from stockflow.config import get_settings

commands = typer.Typer()
finance_app = typer.Typer(no_args_is_help=True, help=t("cli.finance.help"))
write_off_app = typer.Typer(no_args_is_help=True, help=t("cli.finance.write_off.help"))
finance_app.add_typer(write_off_app, name="write-off")

EXCEPTION_COLUMNS = ("event_id", "document_no", "party", "status", "problems")
AGEING_COLUMNS = (
    "accounting_unit",
    "party_kind",
    "party",
    "bucket_0_30",
    "bucket_31_60",
    "bucket_61_90",
    "bucket_over_90",
    "total",
)
SUBLEDGER_COLUMNS = (
    "accounting_unit",
    "party_kind",
    "control_account",
    "control_balance",
    "subledger",
    "difference",
)
WRITE_OFF_COLUMNS = ("voucher_id", "cause", "status", "requested_by", "decided_by", "write_off_voucher_id")


def _finance() -> Any:
    """The finance use cases (`stockflow.services.finance.FinanceService`) on this machine's books."""
    from flows.post_vouchers import open_finance

    settings = get_settings()
    if not settings.masterdata_path.exists():
        console.print(Text(t("cli.vouchers.no_masterdata", path=settings.masterdata_path), style="red"))
        raise typer.Exit(2)
    return open_finance()


def _refused(exc: Exception) -> typer.Exit:
    reason = getattr(exc, "reason", "")
    console.print(
        Text(
            f"{reason}: {explained(exc)}" if reason and reason not in str(exc) else explained(exc),
            style="red",
        )
    )
    return typer.Exit(2)


def _by_option(key: str) -> Any:
    return typer.Option("", "--by", help=t(key))


@finance_app.command("record", help=t("cli.finance.record.help"))
def finance_record(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help=t("cli.finance.record.file")),
    by: str = _by_option("cli.finance.option.by"),
) -> None:
    """Record the documents in a JSON file (one document or a list of them)."""
    from stockflow.finance import DocumentRefused, parse_document

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(Text(t("cli.finance.record.unreadable", file=file, why=str(exc)), style="red"))
        raise typer.Exit(2) from None
    raw = data if isinstance(data, list) else [data]
    parsed, failed = [], 0
    for item in raw:
        try:
            parsed.append(parse_document(item))
        except DocumentRefused as exc:
            failed += 1
            event_id = item.get("event_id", "?") if isinstance(item, dict) else "?"
            console.print(
                Text(t("cli.finance.record.refused", event_id=event_id, why=explained(exc)), style="red")
            )
    for doc, result in zip(parsed, _finance().record_many(parsed, by=by or _whoami()), strict=True):
        if isinstance(result, DocumentRefused):
            failed += 1
            console.print(
                Text(
                    t("cli.finance.record.refused", event_id=doc.event_id, why=explained(result)), style="red"
                )
            )
        elif result.status == "exception":
            problems = "; ".join(f"{p.reason}: {p.detail}" for p in result.problems)
            console.print(
                Text(
                    t("cli.finance.record.exception", event_id=result.event_id, problems=problems),
                    style="yellow",
                )
            )
        elif result.status == "duplicate":
            console.print(t("cli.finance.record.duplicate", event_id=result.event_id))
        else:
            console.print(
                t(
                    "cli.finance.record.posted",
                    event_id=result.event_id,
                    vouchers=", ".join(result.vouchers) or "-",
                )
            )
    if failed:
        raise typer.Exit(1)


@finance_app.command("exceptions", help=t("cli.finance.exceptions.help"))
def finance_exceptions(output: Format = format_option()) -> None:
    rows = [
        {**d, "problems": "; ".join(f"{p['line']}: {p['reason']}: {p['detail']}" for p in d["problems"])}
        for d in _finance().exceptions()
    ]
    print_table(rows, EXCEPTION_COLUMNS, output, t("cli.finance.exceptions.title"))


def _decide(event_id: str, accept: bool, by: str, note: str) -> None:
    from stockflow.finance import DocumentRefused

    try:
        result = _finance().decide_exception(event_id, accept, by or _whoami(), note)
    except DocumentRefused as exc:
        raise _refused(exc) from None
    key = "cli.finance.accepted" if accept else "cli.finance.rejected"
    console.print(t(key, event_id=event_id, vouchers=", ".join(result.vouchers) or "-"))


@finance_app.command("accept", help=t("cli.finance.accept.help"))
def finance_accept(
    event_id: str = typer.Argument(..., help=t("cli.finance.option.event_id")),
    note: str = typer.Option(..., "--note", help=t("cli.finance.option.note")),
    by: str = _by_option("cli.finance.option.by"),
) -> None:
    _decide(event_id, True, by, note)


@finance_app.command("reject", help=t("cli.finance.reject.help"))
def finance_reject(
    event_id: str = typer.Argument(..., help=t("cli.finance.option.event_id")),
    note: str = typer.Option(..., "--note", help=t("cli.finance.option.note")),
    by: str = _by_option("cli.finance.option.by"),
) -> None:
    _decide(event_id, False, by, note)


@finance_app.command("recheck", help=t("cli.finance.recheck.help"))
def finance_recheck(
    event_id: str = typer.Argument(..., help=t("cli.finance.option.event_id")),
    by: str = _by_option("cli.finance.option.by"),
) -> None:
    from stockflow.finance import DocumentRefused

    try:
        result = _finance().recheck(event_id, by or _whoami())
    except DocumentRefused as exc:
        raise _refused(exc) from None
    if result.status == "posted":
        console.print(t("cli.finance.record.posted", event_id=event_id, vouchers=", ".join(result.vouchers)))
    else:
        problems = "; ".join(f"{p.reason}: {p.detail}" for p in result.problems)
        console.print(
            Text(t("cli.finance.record.exception", event_id=event_id, problems=problems), style="yellow")
        )


@finance_app.command("ageing", help=t("cli.finance.ageing.help"))
def finance_ageing(
    as_of: str = typer.Option("", "--as-of", help=t("cli.finance.ageing.as_of")),
    output: Format = format_option(),
) -> None:
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        console.print(Text(t("cli.finance.ageing.bad_date", value=as_of), style="red"))
        raise typer.Exit(2) from None
    rows = [
        {
            "accounting_unit": r.accounting_unit,
            "party_kind": r.party_kind.value,
            "party": r.party,
            "bucket_0_30": r.buckets["0-30"],
            "bucket_31_60": r.buckets["31-60"],
            "bucket_61_90": r.buckets["61-90"],
            "bucket_over_90": r.buckets["90+"],
            "total": r.total,
        }
        for r in _finance().ageing(day)
    ]
    print_table(rows, AGEING_COLUMNS, output, t("cli.finance.ageing.title"))


@finance_app.command("subledgers", help=t("cli.finance.subledgers.help"))
def finance_subledgers(output: Format = format_option()) -> None:
    """Each control account against the sum of its open items, per set of books."""
    rows = [r.__dict__ for r in _finance().check_subledgers()]
    print_table(rows, SUBLEDGER_COLUMNS, output, t("cli.finance.subledgers.title"))
    if any(r["difference"] for r in rows):
        raise typer.Exit(1)


@write_off_app.command("request", help=t("cli.finance.write_off.request.help"))
def write_off_request(
    voucher_id: str = typer.Argument(..., help=t("cli.finance.option.voucher_id")),
    cause: str = typer.Option(..., "--cause", help=t("cli.finance.write_off.cause")),
    note: str = typer.Option("", "--note", help=t("cli.finance.option.note")),
    by: str = _by_option("cli.finance.option.by"),
) -> None:
    from stockflow.finance import DocumentRefused, WriteOffCause

    try:
        _finance().request_write_off(voucher_id, WriteOffCause(cause), by or _whoami(), note)
    except ValueError as exc:
        if not isinstance(exc, DocumentRefused):
            console.print(
                Text(
                    t(
                        "cli.finance.write_off.bad_cause",
                        value=cause,
                        known=", ".join(c.value for c in WriteOffCause),
                    ),
                    style="red",
                )
            )
            raise typer.Exit(2) from None
        raise _refused(exc) from None
    console.print(t("cli.finance.write_off.requested", voucher_id=voucher_id))


@write_off_app.command("approve", help=t("cli.finance.write_off.approve.help"))
def write_off_approve(
    voucher_id: str = typer.Argument(..., help=t("cli.finance.option.voucher_id")),
    by: str = _by_option("cli.finance.option.by"),
) -> None:
    from stockflow.finance import DocumentRefused

    try:
        posted = _finance().approve_write_off(voucher_id, by or _whoami())
    except DocumentRefused as exc:
        raise _refused(exc) from None
    console.print(t("cli.finance.write_off.approved", voucher_id=voucher_id, posted=posted.voucher_id))


@write_off_app.command("reject", help=t("cli.finance.write_off.reject.help"))
def write_off_reject(
    voucher_id: str = typer.Argument(..., help=t("cli.finance.option.voucher_id")),
    reason: str = typer.Option(..., "--reason", help=t("cli.finance.option.note")),
    by: str = _by_option("cli.finance.option.by"),
) -> None:
    from stockflow.finance import DocumentRefused

    try:
        _finance().reject_write_off(voucher_id, by or _whoami(), reason)
    except DocumentRefused as exc:
        raise _refused(exc) from None
    console.print(t("cli.finance.write_off.rejected", voucher_id=voucher_id))


@write_off_app.command("list", help=t("cli.finance.write_off.list.help"))
def write_off_list(output: Format = format_option()) -> None:
    print_table(_finance().write_offs(), WRITE_OFF_COLUMNS, output, t("cli.finance.write_off.title"))


GROUPS = {"finance": finance_app}
