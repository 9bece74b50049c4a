"""`stockflow replenish`."""

from __future__ import annotations

import json

import typer
from rich.text import Text

from cli.common import Format, console, explained, format_option, print_table, t, tr
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

replenish_app = typer.Typer(no_args_is_help=True, help=t("cli.replenish.help"))

SUGGESTION_COLUMNS = ("suggestion_id", "kind", "location", "source", "sku", "quantity", "order_by", "status")
STATUSES = ("proposed", "approved", "rejected", "expired", "all")


def _planning():  # noqa: ANN202
    from stores.planning import Planning

    return Planning(get_settings().var_dir)


def _audit():  # noqa: ANN202
    from stores.audit_log import AuditLog

    return AuditLog(get_settings().var_dir)


def suggestion_kind(kind: str) -> str:
    """A suggestion's kind in the interface's language."""
    return tr().word("kind", kind)


def suggestion_status(status: str) -> str:
    """A suggestion's status in the interface's language."""
    return tr().word("status", status)


@replenish_app.command("run", help=t("cli.replenish.run.help"))
def replenish_run() -> None:
    """Plan now (live stock from the workers), recorded on the local Prefect server."""
    import os

    from flows.server import prefect_env

    settings = get_settings()
    os.environ.update(prefect_env(settings))
    from flows.replenish import replenish

    console.print(t("cli.flows.running", name="replenish", url=settings.prefect_api_url), markup=False)
    result = replenish()
    console.print(t("cli.flows.finished", name="replenish"))
    console.print_json(json.dumps(result, default=str))


@replenish_app.command("list", help=t("cli.replenish.list.help"))
def replenish_list(
    status: str = typer.Option("proposed", help=t("cli.replenish.list.status")),
    output: Format = format_option(),
) -> None:
    """Suggestions, transfers first, then purchase orders by order-by date."""
    from stockflow.services.planning import list_suggestions

    if status not in STATUSES:
        console.print(
            Text(t("cli.replenish.unknown_status", status=status, known=", ".join(STATUSES)), style="red")
        )
        raise typer.Exit(2)
    rows = [
        {
            "suggestion_id": r["suggestion_id"],
            "kind": r["kind"],
            "location": r["location"],
            "source": r["from_location"] or r["supplier"] or None,
            "sku": r["sku"],
            "quantity": r["quantity"],
            "order_by": r["order_by"],
            "status": r["status"],
        }
        for r in list_suggestions(_planning(), None if status == "all" else status)
    ]
    print_table(
        rows,
        SUGGESTION_COLUMNS,
        output,
        t("cli.replenish.list.title"),
        shown={"kind": suggestion_kind, "status": suggestion_status},
    )


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
        console.print(Text(explained(exc), style="yellow"))
        raise typer.Exit(3) from None
    except (SuggestionError, StockApiError) as exc:
        console.print(Text(explained(exc), style="red"))
        raise typer.Exit(2) from None
    status = suggestion_status(row["status"])
    if row["event_id"]:
        message = t(
            "cli.replenish.decided_as", suggestion=row["suggestion_id"], status=status, event=row["event_id"]
        )
    else:
        message = t("cli.replenish.decided", suggestion=row["suggestion_id"], status=status)
    console.print(message, markup=False)


@replenish_app.command("approve", help=t("cli.replenish.approve.help"))
def replenish_approve(
    suggestion_id: str = typer.Argument(..., help=t("cli.replenish.suggestion_id")),
    reviewer: str = typer.Option(..., help=t("cli.replenish.approve.reviewer")),
    reason: str = typer.Option("", help=t("cli.replenish.approve.reason")),
    role: str = typer.Option("", help=t("cli.replenish.role")),
) -> None:
    """Approve a proposed suggestion: its purchase order or transfer goes into the stream."""
    _decide(suggestion_id, "approved", reviewer, reason, role)


@replenish_app.command("reject", help=t("cli.replenish.reject.help"))
def replenish_reject(
    suggestion_id: str = typer.Argument(..., help=t("cli.replenish.suggestion_id")),
    reviewer: str = typer.Option(..., help=t("cli.replenish.reject.reviewer")),
    reason: str = typer.Option(..., help=t("cli.replenish.reject.reason")),
    role: str = typer.Option("", help=t("cli.replenish.role")),
) -> None:
    """Reject a proposed suggestion, with a reason."""
    _decide(suggestion_id, "rejected", reviewer, reason, role)


GROUPS = {"replenish": replenish_app}
