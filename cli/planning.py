"""`stockflow replenish`."""

from __future__ import annotations

import typer
from rich.console import Console

from cli.common import console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

replenish_app = typer.Typer(no_args_is_help=True, help="Replenishment suggestions: list, approve, reject.")


def _planning():  # noqa: ANN202
    from stores.planning import Planning

    return Planning(get_settings().var_dir)


def _audit():  # noqa: ANN202
    from stores.audit_log import AuditLog

    return AuditLog(get_settings().var_dir)


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

    from stockflow.services.planning import list_suggestions

    rows = list_suggestions(_planning(), None if status == "all" else status)
    table = Table("id", "kind", "to", "from / supplier", "SKU", "qty", "order by", "status")
    for r in rows:
        source = r["from_location"] or r["supplier"] or ""
        table.add_row(
            r["suggestion_id"], r["kind"], r["location"], source, r["sku"], str(r["quantity"]),
            str(r["order_by"] or ""), r["status"],
        )  # fmt: skip
    Console().print(table)


def _decide(suggestion_id: str, decision: str, reviewer: str, reason: str, role: str) -> None:
    """Exit 2 when the decision is refused or cannot be sent, 3 when another took it first."""
    from infra.worker_client import StockApiError, WorkerClient
    from stockflow.replenishment import SuggestionAlreadyDecided, SuggestionError
    from stockflow.services.planning import decide_suggestion

    try:
        row = decide_suggestion(
            _planning(),
            _audit(),
            suggestion_id,
            decision,
            reviewer,
            reason,
            role,
            publish=WorkerClient(get_settings().web_url),
        )
    except SuggestionAlreadyDecided as exc:
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(3) from None
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


GROUPS = {"replenish": replenish_app}
