"""Customer credit limits in the stream's core: reservations and sales issues checked against a
customer's open receivables plus open orders, through the real processor and ledger."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lake.landing import Landing
from lake.reader import read_table
from lake.replay import replay_partitions
from stockflow.events import CreditApproved, GoodsReceipt, ReservationAction, SalesIssue, StockReservation
from stockflow.ledger import CreditHeld, PositionKey, StockRejected, receivable_value
from stockflow.masterdata import Catalog, Customer, Location, LocationKind, OverLimit, Sku, Supplier
from stockflow.processing import StockProcessor

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RICE = "RICE-5KG"  # wholesale 10.00 + 13% VAT: 11.30 per sack
OIL = "OIL-5L"  # wholesale 3.333 + 9% VAT: rounding as the issue voucher rounds
SALT = "SALT-1KG"  # no wholesale price: invoiced elsewhere


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.build(
        skus=[
            Sku(sku=RICE, gtin="4006381333931", name="Rice 5 kg", category="dry_goods", packs={"bag": 4},
                wholesale_price=Decimal("10.00")),
            Sku(sku=OIL, gtin="09506000134352", name="Oil 5 L", category="dry_goods",
                wholesale_price=Decimal("3.333"), vat_rate=Decimal("0.09")),
            Sku(sku=SALT, gtin="09506000134369", name="Salt 1 kg", category="dry_goods"),
        ],
        locations=[
            Location(location="WH1", name="Central DC", kind=LocationKind.WAREHOUSE, latitude=31.2, longitude=121.4)
        ],
        suppliers=[Supplier(supplier="SUP1", name="Grain Co")],
        customers=[
            Customer(customer="C1", name="Canteen", credit_limit=Decimal("1000.00")),
            Customer(customer="C2", name="Hotel", credit_limit=Decimal("500.00"),
                     over_credit_limit=OverLimit.APPROVAL),
            Customer(customer="C3", name="School"),
        ],
    )  # fmt: skip


class Receivables(dict):
    """The port as a plain mapping: customer → open receivables (0 for one not in it)."""

    def __call__(self, customer: str) -> Decimal:
        return self.get(customer, Decimal("0.00"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def receipt(event_id: str, sku: str = RICE, qty: int = 100) -> GoodsReceipt:
    return GoodsReceipt(
        event_id=event_id, occurred_at=at(0), source="rf", location="WH1", purchase_order="PO1",
        supplier="SUP1", sku=sku, qty=Decimal(qty), unit_cost=Decimal("7.00"),
    )  # fmt: skip


def reserve(event_id: str, order: str, qty: int, customer: str | None = None, sku: str = RICE, **kw):
    return StockReservation(
        event_id=event_id, occurred_at=at(5), source="erp", location="WH1", sales_order=order,
        customer=customer, sku=sku, qty=Decimal(qty), **kw,
    )  # fmt: skip


def issue(event_id: str, order: str, qty: int, customer: str, sku: str = RICE) -> SalesIssue:
    return SalesIssue(
        event_id=event_id, occurred_at=at(10), source="rf", location="WH1", sales_order=order,
        customer=customer, sku=sku, qty=Decimal(qty),
    )  # fmt: skip


def approve(event_id: str, order: str, amount: str, customer: str = "C2") -> CreditApproved:
    return CreditApproved(
        event_id=event_id, occurred_at=at(20), source="erp", location="WH1", customer=customer,
        sales_order=order, amount=Decimal(amount), approved_by="Manager Li",
    )  # fmt: skip


def stocked(catalog: Catalog, receivables: Receivables | None = None) -> StockProcessor:
    proc = StockProcessor(catalog, receivables=receivables)
    for n, sku in enumerate((RICE, OIL, SALT)):
        proc.process(receipt(f"r{n}", sku))
    return proc


def refusal(proc: StockProcessor, event: object) -> StockRejected:
    with pytest.raises(StockRejected) as refused:
        proc.process(event)
    return refused.value


def reserved(proc: StockProcessor, sku: str = RICE) -> int:
    return proc.ledger.position(PositionKey("WH1", sku)).reserved


def test_an_order_is_valued_as_its_issue_books_it(catalog):
    # 20 × 10.00 = 200.00 net, 26.00 VAT
    assert receivable_value(catalog.skus[RICE], 20) == Decimal("226.00")
    # 7 × 3.333 = 23.331 → 23.33 net; 23.33 × 0.09 = 2.0997 → 2.10 VAT
    assert receivable_value(catalog.skus[OIL], 7) == Decimal("25.43")
    assert receivable_value(catalog.skus[SALT], 1000) == 0


def test_a_reservation_over_the_limit_is_refused_with_the_limit_and_the_exposure(catalog):
    proc = stocked(catalog, Receivables(C1=Decimal("600.00")))
    proc.process(reserve("res-1", "SO1", 20, "C1"))  # 600 + 226 = 826, within 1000
    assert proc.ledger.open_orders("C1") == Decimal("226.00")

    refused = refusal(proc, reserve("res-2", "SO2", 20, "C1"))  # another 226: 1052 > 1000

    assert refused.reason == "credit_limit"
    assert refused.detail == (
        "customer C1, sales order SO2: credit limit 1000.00; exposure 826.00 (open receivables and "
        "open orders) + this 226.00 = 1052.00; open receivables 600.00, open orders 226.00"
    )
    assert reserved(proc) == 20  # nothing of it was booked
    assert proc.ledger.open_orders("C1") == Decimal("226.00")
    # a refusal is decided: the same event again stays refused, a smaller order passes
    assert proc.process(reserve("res-2", "SO2", 20, "C1")).duplicate
    proc.process(reserve("res-3", "SO2", 15, "C1"))  # 826 + 169.50 = 995.50
    assert proc.ledger.open_orders("C1") == Decimal("395.50")


def test_the_order_keeps_its_customer_and_a_reservation_for_another_is_refused(catalog):
    proc = stocked(catalog, Receivables(C1=Decimal("900.00")))
    proc.process(reserve("res-1", "SO1", 5, "C1"))  # 900 + 56.50
    assert proc.ledger.order_customer("SO1") == "C1"
    # a later line of the order need not name the customer: it is checked all the same
    refused = refusal(proc, reserve("res-2", "SO1", 5))
    assert refused.reason == "credit_limit" and "exposure 956.50" in refused.detail
    assert refusal(proc, reserve("res-3", "SO1", 1, "C3")).reason == "customer_mismatch"
    # an order no reservation named a customer for is not checked
    proc.process(reserve("res-4", "SO9", 50))
    assert proc.ledger.open_orders("C1") == Decimal("56.50")


def test_a_sku_without_a_wholesale_price_adds_nothing(catalog):
    proc = stocked(catalog, Receivables(C1=Decimal("1500.00")))  # over the limit already
    proc.process(reserve("res-1", "SO1", 80, "C1", sku=SALT))
    proc.process(issue("iss-1", "SO1", 90, "C1", sku=SALT))
    assert refusal(proc, reserve("res-2", "SO1", 1, "C1")).reason == "credit_limit"


def test_reserved_goods_issued_do_not_count_twice(catalog):
    proc = stocked(catalog, Receivables(C1=Decimal("600.00")))
    proc.process(reserve("res-1", "SO1", 30, "C1"))  # 600 + 339.00 = 939.00

    # 36 issued against 30 reserved: only the 6 not reserved add, 6 × 11.30 = 67.80
    refused = refusal(proc, issue("iss-1", "SO1", 36, "C1"))
    assert refused.reason == "credit_limit"
    assert "exposure 939.00 (open receivables and open orders) + this 67.80 = 1006.80" in refused.detail

    # 35 issued: the 5 not reserved add 56.50, 995.50 in all; counted twice it would be 1334.50
    result = proc.process(issue("iss-2", "SO1", 35, "C1"))
    assert not result.duplicate and reserved(proc) == 0
    assert proc.ledger.open_orders("C1") == 0  # the order is a receivable now (the books' to publish)


def test_a_customer_without_a_limit_or_an_unknown_one_is_not_checked(catalog):
    proc = stocked(catalog, Receivables(C3=Decimal("99999.00"), C9=Decimal("99999.00")))
    proc.process(reserve("res-1", "SO1", 50, "C3"))
    proc.process(issue("iss-1", "SO2", 20, "C9"))
    assert reserved(proc) == 50


def test_releasing_an_order_lowers_the_exposure(catalog):
    proc = stocked(catalog, Receivables(C1=Decimal("700.00")))
    proc.process(reserve("res-1", "SO1", 20, "C1"))  # 926.00
    assert refusal(proc, reserve("res-2", "SO2", 10, "C1")).reason == "credit_limit"
    proc.process(reserve("rel-1", "SO1", 20, action=ReservationAction.RELEASE))
    assert proc.ledger.open_orders("C1") == 0
    proc.process(reserve("res-3", "SO2", 10, "C1"))  # 700 + 113.00


def test_a_replay_of_the_record_is_never_refused_for_credit(catalog):
    live = stocked(catalog, Receivables())
    events = [
        reserve("res-1", "SO1", 40, "C1"),
        reserve("res-2", "SO2", 30, "C2"),
        issue("iss-1", "SO1", 45, "C1"),
    ]
    for event in events:
        live.process(event)
    # since then the customers owe far more than their limits: the record books what was taken
    replayed = stocked(catalog, Receivables(C1=Decimal("50000.00"), C2=Decimal("50000.00")))
    for event in events:
        assert not replayed.process(event, admit=False).duplicate
    assert dict(replayed.ledger.positions()) == dict(live.ledger.positions())
    assert replayed.ledger.open_orders("C2") == live.ledger.open_orders("C2") == Decimal("339.00")
    # entering now, the same kind of event is refused
    assert refusal(replayed, reserve("res-3", "SO3", 1, "C1")).reason == "credit_limit"


def test_a_held_event_passes_when_sent_again_after_approval(catalog):
    proc = stocked(catalog, Receivables())
    proc.process(reserve("res-1", "SO1", 40, "C2"))  # 452.00 of 500.00
    held_event = reserve("res-2", "SO1", 10, "C2")  # 113.00 more: 565.00

    held = refusal(proc, held_event)
    assert isinstance(held, CreditHeld) and not held.decided
    assert held.reason == "credit_hold"
    assert "credit limit 500.00; exposure 452.00" in held.detail and "= 565.00" in held.detail
    assert not proc.ledger.has_applied("res-2")  # not decided: it may come again
    assert refusal(proc, held_event).reason == "credit_hold"  # again: held again, not a duplicate

    proc.process(approve("ok-1", "SO1", "50.00"))  # 565 > 500 + 50: still held
    again = refusal(proc, held_event)
    assert again.reason == "credit_hold" and again.detail.endswith(
        "approved above the limit for this order 50.00"
    )
    proc.process(approve("ok-2", "SO1", "20.00"))  # approvals add up: 565 ≤ 500 + 70

    result = proc.process(held_event)
    assert not result.duplicate and reserved(proc) == 50
    assert proc.process(held_event).duplicate  # decided now
    # the approval is the order's: another order of the customer is held
    assert refusal(proc, reserve("res-3", "SO2", 1, "C2")).reason == "credit_hold"


def test_an_approval_needs_a_customer_whose_setting_asks_for_one(catalog):
    proc = stocked(catalog)
    assert refusal(proc, approve("ok-1", "SO1", "10.00", customer="C1")).reason == "credit_approval_not_taken"
    assert refusal(proc, approve("ok-2", "SO1", "10.00", customer="C9")).reason == "unknown_customer"
    # the record books what was admitted then, whatever the customer's setting is now
    assert not proc.process(approve("ok-3", "SO1", "10.00", customer="C1"), admit=False).duplicate
    assert proc.ledger.credit_approved("C1", "SO1") == Decimal("10.00")


def test_a_snapshot_keeps_the_orders_customers_and_the_approvals(catalog):
    receivables = Receivables(C1=Decimal("600.00"))
    proc = stocked(catalog, receivables)
    proc.process(reserve("res-1", "SO1", 20, "C1"))
    proc.process(reserve("res-2", "SO2", 10, "C2"))
    proc.process(approve("ok-1", "SO2", "80.00"))

    restored = StockProcessor(catalog, receivables=receivables)
    restored.restore(proc.snapshot())

    assert restored.ledger.order_customer("SO1") == "C1"
    assert restored.ledger.open_orders("C1") == Decimal("226.00")
    assert restored.ledger.credit_approved("C2", "SO2") == Decimal("80.00")
    assert refusal(restored, reserve("res-3", "SO1", 20, "C1")).reason == "credit_limit"
    restored.process(reserve("res-4", "SO2", 40, "C2"))  # 113 + 452 = 565 ≤ 500 + 80


def test_the_lake_keeps_a_held_event_undecided_and_a_refusal_decided(catalog, tmp_path):
    receivables = Receivables(C1=Decimal("990.00"))
    landing = Landing(tmp_path, 1, lambda: StockProcessor(catalog, receivables=receivables))
    landing.apply_all(
        [
            *(receipt(f"r{n}", sku) for n, sku in enumerate((RICE, OIL, SALT))),
            reserve("res-1", "SO1", 40, "C2"),
            reserve("held", "SO1", 10, "C2"),
            reserve("refused", "SO2", 1, "C1"),
        ]
    )
    letters = {r["event_id"]: r for r in read_table(tmp_path, "dead_letters").to_pylist()}
    assert (letters["held"]["reason"], letters["held"]["refused_by_ledger"]) == ("credit_hold", False)
    assert (letters["refused"]["reason"], letters["refused"]["refused_by_ledger"]) == ("credit_limit", True)
    assert "open receivables 990.00" in letters["refused"]["detail"]

    rebuilt = replay_partitions(
        tmp_path, catalog, [0], 1, lambda: StockProcessor(catalog, receivables=receivables)
    ).processors[0]
    assert rebuilt.ledger.has_applied("refused") and not rebuilt.ledger.has_applied("held")
    rebuilt.process(approve("ok-1", "SO1", "100.00"))
    assert not rebuilt.process(reserve("held", "SO1", 10, "C2")).duplicate


def test_a_reservation_without_a_customer_keeps_the_content_it_had():
    # a resend of a reservation taken before the field existed is the same event, not a conflict
    event = reserve("res-1", "SO1", 5)
    assert "customer" not in event.model_dump_json()
    assert reserve("res-1", "SO1", 5, "C1").model_dump_json() != event.model_dump_json()
