"""`stockflow audit` and `stockflow webhooks`."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from cli.common import Format, _audit, _whoami, console, format_option, print_table, role_name, t
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

audit_app = typer.Typer(no_args_is_help=True, help=t("cli.audit.help"))

AUDIT_COLUMNS = ("seq", "at", "actor", "role", "action", "target", "reason")
DEAD_LETTER_COLUMNS = ("delivery_id", "subscriber", "attempts", "error", "failed_at")
UNREADABLE = "unreadable_line"  # the action of an audit line that is not JSON, in csv and json


def _verdict(verdict: Any) -> str:
    """The audit log's verdict as a sentence (the problem itself as the log names it)."""
    if verdict.ok and verdict.anchors:
        return t(
            "cli.audit.intact_anchored",
            entries=verdict.entries,
            last_hash=verdict.last_hash,
            anchors=verdict.anchors,
        )
    if verdict.ok:
        return t("cli.audit.intact", entries=verdict.entries, last_hash=verdict.last_hash)
    if verdict.position is None:
        return t("cli.audit.broken", problem=verdict.problem)
    return t("cli.audit.broken_at", position=verdict.position, seq=verdict.seq, problem=verdict.problem)


def _broken(verdict: Any, log: Any) -> None:
    console.print(Text(_verdict(verdict), style="red"))
    console.print(t("cli.audit.files", log=log.path, anchors=log.anchor_path), markup=False)


@audit_app.command("verify", help=t("cli.audit.verify.help"))
def audit_verify(
    anchor: list[str] = typer.Option([], "--anchor", help=t("cli.audit.verify.anchor")),
) -> None:
    """Check every entry's hash and link, the anchored heads and every --anchor; anchor the head."""
    log = _audit()
    verdict, head = log.verify_and_anchor(anchor)
    if verdict.ok:
        console.print(Text(_verdict(verdict), style="green"))
        if head is not None:
            console.print(t("cli.audit.anchored", entry=head.entries, path=log.anchor_path), markup=False)
        return
    _broken(verdict, log)
    raise typer.Exit(1)


@audit_app.command("head", help=t("cli.audit.head.help"))
def audit_head() -> None:
    """The chain's head on stdout (entries, last hash, time); exit 1 if the log does not verify."""
    from datetime import UTC, datetime

    log = _audit()
    verdict = log.verify()
    if not verdict.ok:
        _broken(verdict, log)
        raise typer.Exit(1)
    typer.echo(f"{verdict.entries} {verdict.last_hash} {datetime.now(UTC).isoformat(timespec='seconds')}")


def _moment(value: Any) -> Any:
    """A stored ISO time as a datetime (shown in the company's time zone); anything else as is."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return value


def audit_rows(records: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The log's lines as table rows (a line that is not JSON: a row that says so)."""
    return [
        {"action": UNREADABLE}
        if record is None
        else {**{c: record.get(c) for c in AUDIT_COLUMNS}, "at": _moment(record.get("at"))}
        for record in records
    ]


@audit_app.command("list", help=t("cli.audit.list.help"))
def audit_list(
    last: int = typer.Option(20, help=t("cli.audit.list.last")),
    output: Format = format_option(),
) -> None:
    """The newest entries: when, who, what, why."""
    rows = audit_rows(_audit().records()[-last:] if last > 0 else [])
    print_table(
        rows,
        AUDIT_COLUMNS,
        output,
        t("cli.audit.list.title"),
        shown={
            "action": lambda a: t("cli.audit.unreadable_line") if a == UNREADABLE else a or "",
            "role": lambda r: role_name(r) if r else "",
        },
    )


webhooks_app = typer.Typer(no_args_is_help=True, help=t("cli.webhooks.help"))


@webhooks_app.command("dead-letters", help=t("cli.webhooks.dead_letters.help"))
def webhooks_dead_letters(output: Format = format_option()) -> None:
    """Deliveries that failed every attempt and have not been replayed."""
    from streams.webhook_delivery import DeadLetters

    rows = [
        {
            "delivery_id": r["delivery_id"],
            "subscriber": r["subscriber"],
            "attempts": r["attempts"],
            "error": r["error"],
            "failed_at": _moment(r["at"]),
        }
        for r in DeadLetters(get_settings().var_dir).pending()
    ]
    print_table(rows, DEAD_LETTER_COLUMNS, output, t("cli.webhooks.dead_letters.title"))


@webhooks_app.command("replay", help=t("cli.webhooks.replay.help"))
def webhooks_replay(
    delivery_id: str = typer.Argument(None, help=t("cli.webhooks.replay.delivery_id")),
    by: str = typer.Option("", help=t("cli.option.by_replays")),
) -> None:
    """Send dead-lettered deliveries again, signed afresh; the ones delivered leave the list."""
    from streams.webhook_delivery import DeadLetters, load_subscribers

    settings = get_settings()
    outcome = DeadLetters(settings.var_dir).replay(
        load_subscribers(settings), delivery_id, settings.webhook_per_minute
    )
    delivered = [d for d, result in outcome.items() if result == "delivered"]
    if delivered:
        _audit().append(
            by or _whoami(),
            "webhooks.replayed",
            f"{len(delivered)} deliveries",
            details={"delivered": delivered},
        )
    for d, result in outcome.items():
        if result == "delivered":
            console.print(Text(t("cli.webhooks.replay.delivered", delivery=d), style="green"))
        else:
            console.print(Text(t("cli.webhooks.replay.failed", delivery=d, error=result), style="red"))
    if len(delivered) < len(outcome):
        raise typer.Exit(1)


GROUPS = {"audit": audit_app, "webhooks": webhooks_app}
