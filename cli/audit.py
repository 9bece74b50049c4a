"""`stockflow audit` and `stockflow webhooks`."""

from __future__ import annotations

import typer
from rich.console import Console

from cli.common import _audit, _whoami, console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log: verify, head, list.")


@audit_app.command("verify")
def audit_verify(
    anchor: list[str] = typer.Option(
        [], "--anchor", help="A head hash written down elsewhere: the chain must contain it (repeatable)."
    ),
) -> None:
    """Check every entry's hash and link (name the first edited, deleted, inserted or moved one),
    that the log still holds every anchored head (a log cut below an anchor or rewritten fails),
    and every --anchor given; then anchor the head. Exit 1 on any failure."""
    log = _audit()
    verdict, head = log.verify_and_anchor(anchor)
    if verdict.ok:
        console.print(f"[green]{verdict}[/]")
        if head is not None:
            console.print(f"anchored entry {head.entries} in {log.anchor_path}")
        return
    console.print(f"[red]{verdict}[/] (log {log.path}, anchors {log.anchor_path})")
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head() -> None:
    """Print the chain's head (entry count, last hash, time) to write down somewhere else; check it
    later with `stockflow audit verify --anchor HASH`. Exit 1 if the log does not verify."""
    from datetime import UTC, datetime

    log = _audit()
    verdict = log.verify()
    if not verdict.ok:
        console.print(f"[red]{verdict}[/] (log {log.path}, anchors {log.anchor_path})")
        raise typer.Exit(1)
    typer.echo(f"{verdict.entries} {verdict.last_hash} {datetime.now(UTC).isoformat(timespec='seconds')}")


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
    """Send dead-lettered deliveries again, signed afresh (a robot gets at most
    STOCKFLOW_WEBHOOK_PER_MINUTE a minute); the ones delivered leave the list."""
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
        console.print(f"{d}: " + ("[green]delivered[/]" if result == "delivered" else f"[red]{result}[/]"))
    if len(delivered) < len(outcome):
        raise typer.Exit(1)


GROUPS = {"audit": audit_app, "webhooks": webhooks_app}
