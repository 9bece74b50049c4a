"""`stockflow approvals list | approve ID | reject ID --reason`: the queue of what the company's
rules hold (`stockflow.services.approvals`).

The person deciding is the operating-system user running the command; their role is that of
their dashboard account of the same name (`stockflow users`), so a rule's four-eyes check and its
roles hold here as on the Approvals page. Every decision is an audit entry before it takes
effect."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from cli.common import Format, _audit, _whoami, console, explained, format_option, print_table, t, tr
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

approvals_app = typer.Typer(no_args_is_help=True, help=t("cli.approvals.help"))

APPROVAL_COLUMNS = (
    "approval_id", "status", "subject", "reference", "rule_id", "message", "requested_by", "requested_at",
    "decided_by", "role", "reason",
)  # fmt: skip


def _store():  # noqa: ANN202
    from stores.approvals import ApprovalFile

    return ApprovalFile(get_settings().approvals_path)


def approval_rows(requests: list[Any]) -> list[dict[str, Any]]:
    """Requests as the table shows them: the rule's reason in the reader's language."""
    translate = tr()
    return [
        {
            "approval_id": r.approval_id,
            "status": r.status.value,
            "subject": r.subject,
            "reference": r.event_id or ", ".join(sorted(r.data_classes)),
            "rule_id": r.rule_id,
            "message": r.message.text(translate),
            "requested_by": r.requested_by,
            "requested_at": r.requested_at,
            "decided_by": r.decided_by,
            "role": r.decided_role,
            "reason": r.decision_reason,
        }
        for r in requests
    ]


@approvals_app.command("list", help=t("cli.approvals.list.help"))
def approvals_list(
    status: str = typer.Option("pending", "--status", help=t("cli.approvals.list.status")),
    output: Format = format_option(),
) -> None:
    from stockflow.services.approvals import list_approvals

    rows = approval_rows(list_approvals(_store(), None if status == "all" else status))
    translate = tr()
    print_table(
        rows,
        APPROVAL_COLUMNS,
        output,
        t("cli.approvals.list.title"),
        shown={
            "status": lambda v: translate.word("status", v),
            "subject": lambda v: translate.word("subject", v),
        },
    )


def _decider() -> tuple[str, str]:
    """The person running the command and their dashboard role (exit 2 without an account)."""
    from stores.accounts import AccountFile

    person = _whoami()
    account = AccountFile(get_settings().accounts_path).get(person.strip().lower())
    if account is None or account.disabled:
        console.print(Text(t("cli.approvals.no_account", person=person), style="red"))
        raise typer.Exit(2)
    return account.name, account.role.value


def _refused(exc: Exception) -> None:
    console.print(Text(explained(exc), style="red"))
    raise typer.Exit(2) from None


@approvals_app.command("approve", help=t("cli.approvals.approve.help"))
def approvals_approve(
    approval_id: str = typer.Argument(..., help=t("cli.approvals.id")),
    reason: str = typer.Option("", "--reason", help=t("cli.approvals.reason")),
) -> None:
    from infra.worker_client import StockApiError, WorkerClient
    from stockflow.services.approvals import ApprovalRefused, approve

    person, role = _decider()
    try:
        decided = approve(
            _store(), WorkerClient(get_settings().web_url), _audit(), approval_id, person, role, reason
        )
    except ApprovalRefused as exc:
        _refused(exc)
    except StockApiError as exc:
        console.print(Text(t("cli.approvals.publish_failed", error=str(exc)[:300]), style="yellow"))
        raise typer.Exit(3) from None
    if decided.subject == "event":
        message = t("cli.approvals.approved_event", approval=decided.approval_id, event=decided.event_id)
    else:
        message = t("cli.approvals.approved", approval=decided.approval_id)
    console.print(message, markup=False)


@approvals_app.command("reject", help=t("cli.approvals.reject.help"))
def approvals_reject(
    approval_id: str = typer.Argument(..., help=t("cli.approvals.id")),
    reason: str = typer.Option(..., "--reason", help=t("cli.approvals.reason")),
) -> None:
    from stockflow.services.approvals import ApprovalRefused, reject

    person, role = _decider()
    try:
        decided = reject(_store(), _audit(), approval_id, person, role, reason)
    except ApprovalRefused as exc:
        _refused(exc)
    console.print(t("cli.approvals.rejected", approval=decided.approval_id), markup=False)


GROUPS = {"approvals": approvals_app}


def export_allowed(catalog: Any, approval_id: str) -> None:
    """Go ahead with an export of `catalog` the rules allow, or with an approval given for it
    (taken now: it is good for one export); else make the request and stop (exit 3)."""
    from stockflow.compliance import personal_data_in
    from stockflow.services.approvals import ApprovalRefused, request_export, use_export_approval
    from stores.policies import load_policy_book

    settings = get_settings()
    classes = personal_data_in(catalog)
    try:
        if approval_id:
            use_export_approval(_store(), _audit(), approval_id, _whoami(), classes)
            return
        request = request_export(
            _store(), _audit(), load_policy_book(settings.policies_path, settings.tz), classes, _whoami()
        )
    except ApprovalRefused as exc:
        _refused(exc)
    if request is not None:
        why = request.message.text(tr())
        console.print(
            Text(t("cli.masterdata.export.held", approval=request.approval_id, why=why), style="yellow")
        )
        raise typer.Exit(3)
