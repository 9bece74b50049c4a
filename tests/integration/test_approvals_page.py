"""The Approvals page under Streamlit's AppTest, over a queue the core's use cases filled: a
receipt a rule held and an export of personal data asked for. The auditor sees both and decides
nothing; a manager's rejection needs a reason and is recorded with the rule in the audit log; the
person who asked for the export cannot approve it."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from stockflow.compliance import PolicyBook, event_approval_id, held_request, parse_policies
from stockflow.events import GoodsReceipt, encode_event
from stockflow.i18n import Language, catalogue
from stockflow.masking import Role
from stockflow.masterdata import Catalog
from stockflow.services.accounts import add_account
from stockflow.services.approvals import request_export
from stores.accounts import AccountFile
from stores.approvals import ApprovalFile
from stores.audit_log import AuditLog

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
PAGE = "pages/approvals.py"
NAMES = {Role.MANAGER: "zhou.min", Role.AUDITOR: "sun.shen"}
PASSWORD = "pw-approvals-2026"
RULES = {
    "rules": [
        {
            "id": "big-receipts",
            "description": "x",
            "kind": "amount_limit",
            "above": "1000",
            "effect": "approval",
        },
        {"id": "personal-export", "description": "y", "kind": "export", "effect": "approval"},
    ]
}


@pytest.fixture
def company(tmp_path, monkeypatch):
    var = tmp_path / "var"
    audit = AuditLog(var)
    for role, name in NAMES.items():
        add_account(AccountFile(var / "accounts.json"), audit, name, role, PASSWORD, "test-admin")
    queue = ApprovalFile(var / "approvals" / "approvals.jsonl")
    book = PolicyBook(parse_policies(RULES), UTC)
    event = GoodsReceipt(
        event_id="big-1", occurred_at=datetime(2026, 5, 4, 2, tzinfo=UTC), source="alice", location="WH1",
        purchase_order="PO-1", supplier="SUP1", sku="RICE", qty=Decimal(300), unit_cost=Decimal("4.00"),
    )  # fmt: skip
    decision = book.decide_event(event, Catalog())  # 300 × 4.00 = 1,200.00, in the books' currency
    assert decision is not None and decision.rule_id == "big-receipts"
    queue.add(
        held_request(decision, event, encode_event(event), "scans", datetime(2026, 5, 4, 2, 1, tzinfo=UTC))
    )
    export = request_export(queue, audit, book, ["customers"], "zhou.min")
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    return var, export.approval_id


def open_page(role: Role) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sign_in_name").input(NAMES[role])
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click().run()
    assert at.session_state["account"] == NAMES[role], [e.value for e in at.error]
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def en(key: str, **fields) -> str:
    message = catalogue(Language.EN)[key]
    return message.format(**fields) if fields else message


def test_the_auditor_sees_the_queue_and_decides_nothing(company):
    at = open_page(Role.AUDITOR)
    (pending,) = [df.value for df in at.dataframe][:1]
    assert sorted(pending[en("column.rule_id")]) == ["big-receipts", "personal-export"]
    assert "big-1" in set(pending[en("column.reference")])
    assert en("approvals.cannot_decide") in [c.value for c in at.caption]
    assert not [b for b in at.button if b.key in ("approval_approve", "approval_reject")]


def test_a_manager_rejects_with_a_reason_and_cannot_approve_their_own_export(company):
    var, export_id = company
    at = open_page(Role.MANAGER)
    held_id = event_approval_id("big-1")
    at.selectbox(key="approval_choice").set_value(held_id).run()
    at.button(key="approval_reject").click().run()
    assert en("approvals.refused.reason_required", approval=held_id) in [e.value for e in at.error]
    at.text_input(key="approval_note").input("no such delivery").run()
    at.button(key="approval_reject").click().run()
    assert not at.exception, at.exception
    assert ApprovalFile(var / "approvals" / "approvals.jsonl").get(held_id).status.value == "rejected"
    entry = [r for r in AuditLog(var).records() if r and r["action"] == "approval.rejected"]
    assert [(e["actor"], e["details"]["rule_id"], e["reason"]) for e in entry] == [
        ("zhou.min", "big-receipts", "no such delivery")
    ]
    at.selectbox(key="approval_choice").set_value(export_id).run()
    at.button(key="approval_approve").click().run()
    assert en("approvals.refused.same_person", approval=export_id, person="zhou.min") in [
        e.value for e in at.error
    ]
    assert ApprovalFile(var / "approvals" / "approvals.jsonl").get(export_id).status.value == "pending"
