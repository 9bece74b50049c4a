"""`stockflow finance ...`: documents from JSON files into the books, the exceptions queue, a
write-off approved by a second person, ageing and the subledger check; and the audit trail of
each decision."""

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from cli.main import app
from stockflow.config import get_settings
from stores.audit_log import AuditLog
from tests.support.finance import SKU, WAREHOUSE, FinanceCompany

pytestmark = pytest.mark.integration


@pytest.fixture
def company(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield FinanceCompany(tmp_path)
    get_settings.cache_clear()


def test_documents_decisions_and_reports_from_the_command_line(company, tmp_path):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["finance", *args])

    company.order("PO1", 10)
    company.receive("PO1", 10, Decimal("100.00"))
    company.sell("SO1", "CUS002", 2)
    adjustment = company.adjust(-1, "damage")
    documents = [
        {"event_type": "supplier_invoice", "event_id": "inv-1", "occurred_at": "2026-09-02T09:00:00+08:00",
         "location": WAREHOUSE, "invoice_no": "F001", "supplier": company.supplier, "invoice_date": "2026-09-02",
         "lines": [{"purchase_order": "PO1", "sku": SKU, "qty": "4", "unit_price": "100.00"}]},
        {"event_type": "supplier_invoice", "event_id": "inv-2", "occurred_at": "2026-09-02T09:00:00+08:00",
         "location": WAREHOUSE, "invoice_no": "F002", "supplier": company.supplier, "invoice_date": "2026-09-02",
         "lines": [{"purchase_order": "PO1", "sku": SKU, "qty": "6", "unit_price": "130.00"}]},
        {"event_type": "supplier_payment", "event_id": "pay-1", "occurred_at": "2026-09-03T09:00:00+08:00",
         "location": WAREHOUSE, "payment_no": "P1", "supplier": company.supplier, "paid_on": "2026-09-03",
         "amount": "452.00", "allocations": [{"document": "F001", "amount": "452.00"}]},
        {"event_type": "supplier_payment", "event_id": "pay-2", "occurred_at": "2026-09-03T09:00:00+08:00",
         "location": WAREHOUSE, "payment_no": "P2", "supplier": "NOBODY", "paid_on": "2026-09-03", "amount": "1.00"},
    ]  # fmt: skip
    file = tmp_path / "documents.json"
    file.write_text(json.dumps(documents), encoding="utf-8")
    recorded = run("record", str(file), "--by", "ap-clerk")
    assert recorded.exit_code == 1, recorded.output  # one refused: its supplier is unknown
    assert "inv-1 posted" in recorded.output and "pay-1 posted" in recorded.output
    assert "price_outside_tolerance" in recorded.output and "unknown_supplier" in recorded.output
    again = run("record", str(file), "--by", "ap-clerk")
    assert "already recorded" in again.output

    queue = json.loads(run("exceptions", "--format", "json").stdout)
    assert [q["event_id"] for q in queue] == ["inv-2"]
    accepted = run("accept", "inv-2", "--note", "price rise agreed", "--by", "controller")
    assert accepted.exit_code == 0 and "V:DIST:inv-2" in accepted.output, accepted.output
    assert json.loads(run("exceptions", "--format", "json").stdout) == []

    checked = run("subledgers", "--format", "json")
    assert checked.exit_code == 0, checked.output
    rows = {r["party_kind"]: r for r in json.loads(checked.stdout)}
    assert Decimal(rows["supplier"]["control_balance"]) == Decimal("881.40")  # 6 × 130.00 × 1.13
    assert Decimal(rows["customer"]["difference"]) == 0

    ageing = json.loads(run("ageing", "--as-of", "2026-11-30", "--format", "json").stdout)
    supplier_row = next(r for r in ageing if r["party_kind"] == "supplier")
    assert Decimal(supplier_row["bucket_61_90"]) == Decimal("881.40")

    voucher_id = f"V:DIST:{adjustment}"
    assert run("write-off", "request", voucher_id, "--cause", "damage", "--by", "keeper").exit_code == 0
    same = run("write-off", "approve", voucher_id, "--by", "keeper")
    assert same.exit_code == 2 and "same_person" in same.output
    approved = run("write-off", "approve", voucher_id, "--by", "manager")
    assert approved.exit_code == 0 and f"{voucher_id}~W" in approved.output
    listed = json.loads(run("write-off", "list", "--format", "json").stdout)
    assert [(w["status"], w["requested_by"], w["decided_by"]) for w in listed] == [
        ("approved", "keeper", "manager")
    ]

    actions = [(r["actor"], r["action"]) for r in AuditLog(tmp_path).records() if r]
    for expected in [("ap-clerk", "finance.supplier_invoice"), ("controller", "finance.exception_accepted"),
                     ("keeper", "write_off.requested"), ("manager", "write_off.approved")]:  # fmt: skip
        assert expected in actions
