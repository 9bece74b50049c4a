"""The company's rules in a real worker, and the approvals queue around it.

One broker (`module_broker`) and one worker started with a rules file: a POS sale of a blocked
category for delivery is dead-lettered citing its rule; a goods receipt over the amount limit is
held (not applied, not lost), its requester may not approve it, a second person's approval
publishes it again and it is applied exactly once. The tests use distinct event ids. The export
test needs no worker: `stockflow masterdata export` of personal data waits for a second
person's approval, then runs once for the person who asked."""

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from cli.main import app
from infra.worker_client import WorkerClient
from simulator.company import build_catalog
from stockflow.compliance import ApprovalStatus, event_approval_id
from stockflow.config import get_settings
from stockflow.masking import Role
from stockflow.masterdata import Customer, SkuStatus
from stockflow.services.accounts import add_account
from stockflow.services.approvals import ApprovalRefused, approve
from stores.accounts import AccountFile
from stores.approvals import ApprovalFile
from stores.audit_log import AuditLog
from streams.broker import ensure_topics
from tests.support import (
    Worker,
    free_port,
    lake_dead_letters,
    lake_event_ids,
    post_json,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration

RULES = """
rules:
  - id: no-{category}-delivery
    description:
      zh_CN: 该品类不得外卖
      en: This category is not sold for delivery
    kind: sale_restriction
    categories: [{category}]
    channels: [delivery]
    effect: block
  - id: receipts-over-1000
    description: Goods receipts above 1,000 need a manager's approval
    kind: amount_limit
    documents: [goods_receipt]
    above: 1000
    effect: approval
  - id: personal-data-export
    description: 导出个人信息须经另一人审批
    kind: export
    effect: approval
"""


@pytest.fixture(scope="module")
def worker(module_broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("policies")
    settings = settings_for(tmp / "var", module_broker.port, free_port())
    catalog = build_catalog(settings.seed)
    catalog.save(settings.masterdata_path)
    sku = next(
        s
        for s in sorted(catalog.skus.values(), key=lambda s: s.sku)
        if s.status is SkuStatus.ACTIVE and not (s.batch_managed or s.serial_managed or s.is_perishable)
    )
    settings.policies_path.write_text(RULES.format(category=sku.category), encoding="utf-8")
    ensure_topics(module_broker.bootstrap, settings.topic_partitions)
    w = Worker(settings, settings.web_port, tmp).start()
    w.sku = sku
    yield w
    w.stop()


def post(worker, *events: dict) -> None:
    status, answer = post_json(f"{worker.url}/events", list(events))
    assert status == 202, answer


def receipt(worker, event_id: str, qty: int, source: str) -> dict:
    return {
        "event_type": "goods_receipt", "event_id": event_id, "occurred_at": datetime.now(UTC).isoformat(),
        "source": source, "location": "WH1", "purchase_order": f"PO-{event_id}", "supplier": "SUP01",
        "sku": worker.sku.sku, "qty": str(qty), "unit": worker.sku.base_unit, "unit_cost": "7.00",
    }  # fmt: skip


def test_a_blocked_sale_is_dead_lettered_citing_its_rule(worker):
    sale = {
        "event_type": "pos_sale", "event_id": "policy-sale-1", "occurred_at": datetime.now(UTC).isoformat(),
        "source": "till-1", "store": "ST01", "ticket": "T-P1", "channel": "delivery",
        "lines": [{"sku": worker.sku.sku, "qty": "1", "unit_price": "9.90"}],
    }  # fmt: skip
    post(worker, sale)

    def letter() -> dict | None:
        return next(
            (r for r in lake_dead_letters(worker.settings.lake_dir) if r["event_id"] == "policy-sale-1"), None
        )

    found = wait_until(letter, 60, "the blocked sale in the dead letters")
    rule = f"no-{worker.sku.category}-delivery"
    assert found["reason"] == "policy_blocked" and found["refused_by_ledger"]
    assert found["detail"].startswith(f"rule {rule}: {worker.sku.sku} may not be sold here (channel delivery")


def test_an_over_limit_receipt_waits_for_a_second_person_and_is_applied_once(worker):
    var = worker.settings.var_dir
    queue, audit = ApprovalFile(worker.settings.approvals_path), AuditLog(var)
    post(worker, receipt(worker, "policy-big", 200, "alice"), receipt(worker, "policy-small", 10, "alice"))
    wait_until(
        lambda: "policy-small" in lake_event_ids(worker.settings.lake_dir), 60, "the small receipt landed"
    )
    approval_id = event_approval_id("policy-big")
    held = wait_until(lambda: queue.get(approval_id), 60, "the big receipt held")
    assert held.status is ApprovalStatus.PENDING and held.rule_id == "receipts-over-1000"
    assert held.requested_by == "alice" and held.fields["amount"] == "1400.00"
    assert "policy-big" not in lake_event_ids(worker.settings.lake_dir)
    assert not any(r["event_id"] == "policy-big" for r in lake_dead_letters(worker.settings.lake_dir))
    counters = worker.health()["counters"]
    assert counters["held"] == 1

    publisher = WorkerClient(worker.url)
    with pytest.raises(ApprovalRefused) as same:
        approve(queue, publisher, audit, approval_id, "alice", Role.MANAGER)
    assert same.value.reason == "same_person"
    with pytest.raises(ApprovalRefused) as auditor:
        approve(queue, publisher, audit, approval_id, "sun.shen", Role.AUDITOR)
    assert auditor.value.reason == "not_allowed"
    decided = approve(queue, publisher, audit, approval_id, "bob", Role.MANAGER, "checked the delivery note")
    assert decided.status is ApprovalStatus.APPROVED and decided.decided_by == "bob"
    wait_until(
        lambda: "policy-big" in lake_event_ids(worker.settings.lake_dir), 60, "the approved receipt landed"
    )
    approve(queue, publisher, audit, approval_id, "bob", Role.MANAGER)  # published again: a duplicate

    def settled() -> dict | None:
        c = worker.health()["counters"]
        done = c["in"] == c["applied"] + c.get("duplicates", 0) + c.get("dead_lettered", 0) + c["rerouted"]
        return c if done and c.get("duplicates", 0) >= 1 else None

    counters = wait_until(settled, 60, "every message accounted for, the second publication a duplicate")
    assert lake_event_ids(worker.settings.lake_dir).count("policy-big") == 1
    stock = WorkerClient(worker.url).stock("WH1", worker.sku.sku)
    assert stock["on_hand"] == 210
    entries = [e for e in audit.records() if e and e["details"].get("approval_id") == approval_id]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("approval.requested", "alice"),
        ("approval.approved", "bob"),
        ("approval.published", "bob"),
        ("approval.published", "bob"),
    ]
    assert all(e["details"]["rule_id"] == "receipts-over-1000" for e in entries)


def test_an_export_of_personal_data_waits_for_a_second_persons_approval(tmp_path, monkeypatch):
    var = tmp_path / "var"
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", str(free_port()))
    get_settings.cache_clear()
    try:
        settings = get_settings()
        catalog = build_catalog(settings.seed)
        buyer = Customer(customer="C-PRIV", name="张三", phone="13812345678", id_number="110101199003071234")
        catalog.model_copy(update={"customers": {**catalog.customers, "C-PRIV": buyer}}).save(
            settings.masterdata_path
        )
        settings.policies_path.write_text(RULES.format(category="none"), encoding="utf-8")
        for name in ("ops.chen", "zhou.min"):
            add_account(
                AccountFile(settings.accounts_path), AuditLog(var), name, Role.MANAGER, "pw-2026-secret", "t"
            )

        def run(person: str, *args: str):
            monkeypatch.setenv("LOGNAME", person)
            return CliRunner().invoke(app, list(args))

        out = tmp_path / "export"
        asked = run("ops.chen", "masterdata", "export", str(out))
        assert asked.exit_code == 3, asked.output
        assert not out.exists()
        (request,) = ApprovalFile(settings.approvals_path).all()
        assert request.subject == "export" and request.rule_id == "personal-data-export"
        assert "customers" in request.data_classes
        assert (
            run("ops.chen", "masterdata", "export", str(out), "--approval", request.approval_id).exit_code
            == 2
        )
        refused = run("ops.chen", "approvals", "approve", request.approval_id)
        assert refused.exit_code == 2 and "second person" in refused.output
        assert run("zhou.min", "approvals", "approve", request.approval_id).exit_code == 0
        assert (
            run("zhou.min", "masterdata", "export", str(out), "--approval", request.approval_id).exit_code
            == 2
        )
        done = run("ops.chen", "masterdata", "export", str(out), "--approval", request.approval_id)
        assert done.exit_code == 0, done.output
        assert "13812345678" in (out / "customers.csv").read_text(encoding="utf-8")
        again = run(
            "ops.chen", "masterdata", "export", str(tmp_path / "again"), "--approval", request.approval_id
        )
        assert again.exit_code == 2  # one approval, one export
        actions = [
            e["action"]
            for e in AuditLog(var).records()
            if e and e["details"].get("approval_id") == request.approval_id
        ]
        assert actions == ["approval.requested", "approval.approved", "export.approved_run"]
    finally:
        get_settings.cache_clear()


def test_a_rule_added_to_the_file_takes_effect_without_a_restart(worker):
    """The worker reads the rules file again when it changes: a takeout sale, which the rules it
    started with allow, is blocked citing the rule added while it runs; a file that is not
    valid leaves the rules in use."""
    path, lake = worker.settings.policies_path, worker.settings.lake_dir
    category = worker.sku.category
    tries = iter(range(1, 1000))

    def sale() -> dict:
        """A takeout sale, and what became of it: its dead letter, or {} where it landed."""
        event_id = f"policy-takeout-{next(tries)}"
        post(worker, {
            "event_type": "pos_sale", "event_id": event_id, "occurred_at": datetime.now(UTC).isoformat(),
            "source": "till-2", "store": "ST01", "ticket": f"T-{event_id}", "channel": "takeout",
            "lines": [{"sku": worker.sku.sku, "qty": "1", "unit_price": "9.90"}],
        })  # fmt: skip

        def decided() -> dict | None:
            letter = next((r for r in lake_dead_letters(lake) if r["event_id"] == event_id), None)
            return letter if letter is not None else ({} if event_id in lake_event_ids(lake) else None)

        return wait_until(lambda: (found := decided()) is not None and (found or {"landed": event_id}), 60,
                          f"{event_id} landed or dead-lettered")  # fmt: skip

    assert sale().get("reason") != "policy_blocked"  # no rule for takeout yet
    path.write_text(
        RULES.format(category=category)
        + f"""
  - id: no-{category}-takeout
    description: Not for takeout either
    kind: sale_restriction
    categories: [{category}]
    channels: [takeout]
    effect: block
""",
        encoding="utf-8",
    )
    found = wait_until(
        lambda: (d := sale()).get("reason") == "policy_blocked" and d, 60, "the new rule in use"
    )
    assert found["detail"].startswith(f"rule no-{category}-takeout:")
    path.write_text("rules: [this is not a rule", encoding="utf-8")  # not valid: the rules stay
    wait_until(lambda: "cannot be used" in worker.log_path.read_text(), 30, "the worker reading the bad file")
    found = sale()
    assert found.get("reason") == "policy_blocked" and found["detail"].startswith(
        f"rule no-{category}-takeout:"
    )
