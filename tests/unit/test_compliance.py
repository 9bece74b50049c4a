"""The policy engine (`stockflow.compliance`): a rules file parsed and refused, each kind of rule
on the events and actions it concerns, the decision citing its rule, nothing when none matches;
and the processor checking them before its ledger."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from stockflow.compliance import (
    ApprovalStatus,
    Effect,
    PolicyBook,
    decision_refusal,
    evaluate,
    export_subject,
    held_request,
    parse_policies,
    subject_of,
)
from stockflow.events import (
    GoodsReceipt,
    PosLine,
    PosSale,
    PurchaseOrder,
    SalesIssue,
    StockAdjustment,
    encode_event,
)
from stockflow.masking import Role
from stockflow.masterdata import Catalog, Customer, ExchangeRate, Location, LocationKind, Sku, Supplier
from stockflow.processing import PolicyBlocked, PolicyHeld, StockProcessor

T0 = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
RULES = {
    "customer_groups": {"schools": ["C-SCHOOL-1", "C-SCHOOL-2"]},
    "rules": [
        {
            "id": "no-liquor-delivery",
            "description": {"zh_CN": "酒类不得外卖", "en": "No liquor for delivery"},
            "kind": "sale_restriction",
            "categories": ["liquor"],
            "channels": ["delivery"],
            "effect": "block",
        },
        {
            "id": "no-liquor-schools",
            "description": "No liquor to schools",
            "kind": "sale_restriction",
            "categories": ["liquor"],
            "customer_groups": ["schools"],
            "effect": "block",
        },
        {
            "id": "big-receipts",
            "description": "Receipts and orders above 10,000 need a manager",
            "kind": "amount_limit",
            "documents": ["goods_receipt", "purchase_order"],
            "above": "10000",
            "effect": "approval",
        },
        {
            "id": "big-write-offs",
            "description": "Write-offs above 500",
            "kind": "amount_limit",
            "documents": ["write_off"],
            "above": "500",
            "effect": "approval",
            "approvers": ["manager", "finance"],
        },
        {
            "id": "personal-export",
            "description": "Exports of personal data need a second person",
            "kind": "export",
            "effect": "approval",
        },
    ],
}


def catalog() -> Catalog:
    skus = [
        Sku(sku="BAIJIU", gtin="4006381333931", name="白酒", category="liquor", standard_cost=Decimal("80")),
        Sku(sku="RICE", gtin="4006381333948", name="大米", category="dry_goods", standard_cost=Decimal("4"),
            packs={"case": 10}),
    ]  # fmt: skip
    return Catalog(
        skus={s.sku: s for s in skus},
        locations={
            "S1": Location(location="S1", name="店", kind=LocationKind.STORE, latitude=31.0, longitude=121.0),
            "WH1": Location(
                location="WH1", name="仓", kind=LocationKind.WAREHOUSE, latitude=31.0, longitude=121.0
            ),
        },
        suppliers={"SUP1": Supplier(supplier="SUP1", name="供应商")},
        customers={c: Customer(customer=c, name=c) for c in ("C-SCHOOL-1", "C-SHOP")},
        rates={"USD": ExchangeRate(currency="USD", valid_from=T0.date(), rate=Decimal("7.2"))},
    )


def book() -> PolicyBook:
    return PolicyBook(parse_policies(RULES), UTC)


def sale(event_id: str, sku: str, channel: str, customer: str | None = None) -> PosSale:
    return PosSale(
        event_id=event_id, occurred_at=T0, source="till-1", store="S1", ticket=f"T-{event_id}", channel=channel,
        customer=customer, lines=[PosLine(sku=sku, qty=Decimal(1), unit_price=Decimal("100"))],
    )  # fmt: skip


def receipt(event_id: str, qty: str, unit_cost: str, currency: str = "CNY") -> GoodsReceipt:
    return GoodsReceipt(
        event_id=event_id, occurred_at=T0, source="alice", location="WH1", purchase_order="PO-1",
        supplier="SUP1", sku="RICE", qty=Decimal(qty), unit_cost=Decimal(unit_cost), currency=currency,
    )  # fmt: skip


def test_the_file_is_parsed_and_its_mistakes_are_refused():
    parsed = parse_policies(RULES)
    assert [r.id for r in parsed.rules] == [
        "no-liquor-delivery", "no-liquor-schools", "big-receipts", "big-write-offs", "personal-export",
    ]  # fmt: skip
    assert (
        parsed.rules[0].describe("zh_CN") == "酒类不得外卖"
        and parsed.rules[0].describe("en") == "No liquor for delivery"
    )
    assert parse_policies(None).rules == []
    twice = {"rules": [RULES["rules"][0], RULES["rules"][0]]}
    bad = [
        twice,
        {"rules": [{**RULES["rules"][0], "effect": "warn"}]},
        {"rules": [{**RULES["rules"][0], "channels": ["teleport"]}]},
        {"rules": [{**RULES["rules"][0], "categories": []}]},  # restricts nothing
        {"rules": [{**RULES["rules"][1]}]},  # its group is not in the file
        {"rules": [{**RULES["rules"][2], "approvers": ["auditor"]}]},
        {"rules": [{**RULES["rules"][2], "documents": ["invoice"]}]},
        {"rules": [{**RULES["rules"][2], "surprise": 1}]},
        {"rules": [{**RULES["rules"][2], "description": " "}]},
    ]
    for content in bad:
        with pytest.raises(ValidationError):
            parse_policies(content)


def test_a_sale_restriction_blocks_by_category_and_channel_citing_its_rule():
    decision = book().decide_event(sale("s1", "BAIJIU", "delivery"), catalog())
    assert decision is not None and decision.effect is Effect.BLOCK
    assert decision.rule_id == "no-liquor-delivery" and decision.fields["sku"] == "BAIJIU"
    assert decision.english.startswith("rule no-liquor-delivery: ")
    assert book().decide_event(sale("s2", "BAIJIU", "dine_in"), catalog()) is None
    assert book().decide_event(sale("s3", "RICE", "delivery"), catalog()) is None


def test_a_customer_group_is_matched_on_sales_orders_too():
    issue = SalesIssue(event_id="i1", occurred_at=T0, source="erp", location="WH1", sales_order="SO-1",
                       customer="C-SCHOOL-1", sku="BAIJIU", qty=Decimal(2))  # fmt: skip
    decision = book().decide_event(issue, catalog())
    assert decision is not None and decision.rule_id == "no-liquor-schools"
    assert decision.fields["channel"] == "sales_order"
    other = issue.model_copy(update={"customer": "C-SHOP"})
    assert book().decide_event(other, catalog()) is None
    assert book().decide_event(sale("s4", "BAIJIU", "retail", customer="C-SCHOOL-2"), catalog()).rule_id == (
        "no-liquor-schools"
    )


def test_amounts_above_the_limit_are_held_in_the_books_currency():
    cat = catalog()
    at_limit = book().decide_event(receipt("r1", "2500", "4"), cat)  # 10,000.00: not above
    assert at_limit is None
    over = book().decide_event(receipt("r2", "2501", "4"), cat)
    assert over is not None and over.effect is Effect.APPROVAL and over.rule_id == "big-receipts"
    assert over.fields["amount"] == "10004.00" and over.fields["limit"] == "10000.00"
    in_dollars = book().decide_event(receipt("r3", "1400", "1", currency="USD"), cat)  # 1,400 × 7.2
    assert in_dollars is not None and in_dollars.fields["amount"] == "10080.00"
    order = PurchaseOrder(event_id="p1", occurred_at=T0, source="buyer", location="WH1", purchase_order="PO-2",
                          supplier="SUP1", sku="RICE", qty=Decimal(251), unit="case")  # 2,510 × 4  # fmt: skip
    assert book().decide_event(order, cat).fields["amount"] == "10040.00"


def test_a_write_off_is_a_negative_adjustment_at_standard_cost():
    def adjustment(qty: str, reason: str = "damage") -> StockAdjustment:
        return StockAdjustment(event_id=f"a{qty}", occurred_at=T0, source="clerk", location="S1", sku="BAIJIU",
                               qty=Decimal(qty), reason=reason)  # fmt: skip

    held = book().decide_event(adjustment("-7"), catalog())  # 560.00
    assert (
        held is not None
        and held.rule_id == "big-write-offs"
        and held.approvers == {Role.MANAGER, Role.FINANCE}
    )
    assert book().decide_event(adjustment("-6"), catalog()) is None  # 480.00
    assert book().decide_event(adjustment("7", "found"), catalog()) is None


def test_an_export_of_personal_data_needs_approval_and_others_do_not():
    decision = book().decide(export_subject(["customers", "skus"], "alice"))
    assert (
        decision is not None and decision.effect is Effect.APPROVAL and decision.rule_id == "personal-export"
    )
    assert decision.fields["data_classes"] == "customers"
    assert book().decide(export_subject(["skus", "locations"], "alice")) is None


def test_a_block_wins_over_an_approval_and_no_rule_means_allowed():
    rules = parse_policies(
        {"rules": [
            {**RULES["rules"][2], "id": "first-approval", "documents": ["goods_receipt"]},
            {"id": "no-rice", "description": "x", "kind": "sale_restriction", "skus": ["RICE"], "effect": "block"},
        ]}
    ).resolved()  # fmt: skip
    subject = subject_of(receipt("r9", "5000", "4"), catalog(), UTC)
    assert evaluate(rules, subject).rule_id == "first-approval"
    assert evaluate([], subject) is None
    assert PolicyBook().decide_event(receipt("r9", "5000", "4"), catalog()) is None


def test_a_second_person_decides_in_a_role_the_rule_names():
    decision = book().decide_event(receipt("r2", "2501", "4"), catalog())
    event = receipt("r2", "2501", "4")
    request = held_request(decision, event, encode_event(event), "scans", T0)
    assert request.requested_by == "alice" and request.status is ApprovalStatus.PENDING
    assert decision_refusal(request, "Alice", Role.MANAGER)[0] == "same_person"
    assert decision_refusal(request, "bob", Role.FINANCE)[0] == "not_allowed"
    assert decision_refusal(request, "bob", None)[0] == "not_allowed"
    assert decision_refusal(request, "bob", Role.MANAGER) is None
    done = request.model_copy(update={"status": ApprovalStatus.APPROVED})
    assert decision_refusal(done, "bob", Role.MANAGER)[0] == "not_pending"


class Approved:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    def approved(self, event_id: str, content: int) -> bool:
        return event_id in self.ids


def test_the_processor_blocks_holds_and_applies_once_approved():
    approvals = Approved()
    proc = StockProcessor(catalog(), policies=book(), approvals=approvals)
    with pytest.raises(PolicyBlocked) as blocked:
        proc.process(sale("s1", "BAIJIU", "delivery"))
    assert blocked.value.reason == "policy_blocked" and "no-liquor-delivery" in blocked.value.detail
    assert proc.process(sale("s1", "BAIJIU", "delivery")).duplicate  # a redelivery stays refused
    with pytest.raises(PolicyHeld) as held:
        proc.process(receipt("r2", "2501", "4"))
    assert held.value.decision.rule_id == "big-receipts"
    assert not proc.ledger.has_applied("r2")  # nothing decided
    approvals.ids.add("r2")
    result = proc.process(receipt("r2", "2501", "4"))
    assert not result.duplicate and result.movements[0].on_hand_delta == 2501
    assert proc.process(receipt("r2", "2501", "4")).duplicate
    replayed = StockProcessor(catalog(), policies=book())  # the record replays whatever the rules say
    assert not replayed.process(receipt("r2", "2501", "4"), admit=False).duplicate


def test_a_counts_variance_the_system_books_is_never_held():
    """A write-off limit holds a person's write-off, not the variance a count's reconciliation
    books (it would be remembered as posted while it waited, and never booked)."""
    proc = StockProcessor(catalog(), policies=book(), approvals=Approved())
    proc.process(receipt("r9", "100", "4"), admit=False)  # stock to count
    variance = StockAdjustment(event_id="count-var-1", occurred_at=T0, source="reconcile", location="S1",
                               sku="BAIJIU", qty=Decimal("-7"), reason="count_variance", count_id="C-1")  # fmt: skip
    with pytest.raises(PolicyHeld):  # the same write-off by a person is held (560.00)
        proc.process(
            StockAdjustment(
                **{**variance.model_dump(), "event_id": "w-1", "reason": "damage", "count_id": None}
            )
        )
    assert proc.process(variance).movements[0].on_hand_delta == -7


def test_a_changed_rules_file_is_read_again_and_a_bad_one_leaves_the_rules_in_use(tmp_path):
    """`PolicyFileWatch` reports a change once (a new file, an edit, a removal); the book takes
    the new rules in place, so whoever holds it decides by them."""
    import os

    from stockflow.compliance import PolicyBook
    from stores.policies import PolicyFileError, PolicyFileWatch, read_policies

    path = tmp_path / "policies.yaml"
    watch = PolicyFileWatch(path)
    assert watch.changed() is None  # no file, no change
    path.write_text(
        "rules:\n  - id: r1\n    description: x\n    kind: amount_limit\n    documents: [goods_receipt]\n"
        "    above: 10\n    effect: block\n",
        encoding="utf-8",
    )
    book = PolicyBook(read_policies(path))
    first = watch.changed()
    assert first is not None and watch.changed() is None
    book.replace(first)
    assert [r.id for r in book.rules] == ["r1"] and book.concerns("goods_receipt")
    path.write_text(path.read_text().replace("r1", "r2").replace("goods_receipt", "purchase_order"))
    os.utime(path, ns=(1, 10**18))  # a different time even on a coarse clock
    book.replace(watch.changed())
    assert [r.id for r in book.rules] == ["r2"] and not book.concerns("goods_receipt")
    assert book.concerns("purchase_order")
    path.write_text("rules: [not a rule")
    os.utime(path, ns=(1, 2 * 10**18))
    with pytest.raises(PolicyFileError):
        watch.changed()
    assert watch.changed() is None  # read again only after a further change
    path.unlink()
    gone = watch.changed()  # no file: no rules
    assert gone is not None and not PolicyBook(gone)


def test_a_held_event_is_in_the_audit_log_before_its_request_is_saved(tmp_path):
    """The audit entry is written first: a request that cannot be saved leaves the entry and
    the entry saying it did not take effect, never a request the audit log does not know; a
    redelivery finds the saved request and writes nothing more."""
    from stockflow.services.approvals import hold_event
    from stores.approvals import ApprovalFile
    from stores.audit_log import AuditLog

    event = receipt("r9", "2501", "4")
    decision = book().decide_event(event, catalog())
    audit = AuditLog(tmp_path)

    class Full(ApprovalFile):
        def add(self, request):  # noqa: ANN001, ANN202
            raise OSError("no space left on device")

    with pytest.raises(OSError):
        hold_event(Full(tmp_path / "approvals.jsonl"), audit, decision, event, b"{}", "scans")
    assert [r["action"] for r in audit.records()] == ["approval.requested", "approval.requested.failed"]
    store = ApprovalFile(tmp_path / "approvals.jsonl")
    request = hold_event(store, audit, decision, event, b"{}", "scans")
    assert store.get(request.approval_id) is not None
    assert hold_event(store, audit, decision, event, b"{}", "scans") == request  # redelivered
    assert [r["action"] for r in audit.records()][2:] == ["approval.requested"]
