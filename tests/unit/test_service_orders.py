"""The no-stock edition's rules: a delivery beyond its order line is refused unless agreed (then
flagged); each delivery's revenue voucher at 6% balances to the fen, the amounts worked out by
hand; the edition has none of the stock module's topics or pages."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from stockflow.config import Edition
from stockflow.editions import STOCK_TOPICS, edition_areas, edition_topics
from stockflow.events import (
    ConsumptionRecorded,
    EventRejected,
    ServiceDelivered,
    ServiceOrderPlaced,
    Topic,
    parse_service_event,
)
from stockflow.masking import Area
from stockflow.service_orders import ServiceBook, ServiceItem, ServiceRejected, revenue_voucher
from stockflow.vouchers import AccountingPolicy

AT = datetime(2026, 3, 31, 17, 30, tzinfo=UTC)  # 2026-04-01 01:30 in Shanghai
ITEMS = {
    "CONSULT": ServiceItem(code="CONSULT", name="咨询服务", unit="hour", price=Decimal("333.33")),
    "TRAIN": ServiceItem(code="TRAIN", name="培训课程", unit="session", price=Decimal("1200")),
}


def order(**lines) -> ServiceOrderPlaced:
    return ServiceOrderPlaced(
        event_id="so-1",
        occurred_at=AT,
        source="crm",
        customer="C001",
        service_order="SO-1",
        lines=[{"item": "CONSULT", "qty": "10"}, {"item": "TRAIN", "qty": "2", "unit_price": "999.99"}],
        **lines,
    )


def delivered(
    event_id: str, line: int, qty: str, beyond: bool = False, customer: str = "C001"
) -> ServiceDelivered:
    return ServiceDelivered(
        event_id=event_id,
        occurred_at=AT,
        source="tablet-1",
        customer=customer,
        service_order="SO-1",
        line=line,
        qty=Decimal(qty),
        beyond_order=beyond,
    )


def test_an_order_is_priced_from_its_items_unless_it_agrees_a_price():
    book = ServiceBook(items=ITEMS)
    lines = book.place_order(order())
    assert [(line.item, line.unit_price, line.vat_rate) for line in lines] == [
        ("CONSULT", Decimal("333.33"), Decimal("0.06")),
        ("TRAIN", Decimal("999.99"), Decimal("0.06")),
    ]
    with pytest.raises(ServiceRejected) as again:
        book.place_order(order())
    assert again.value.reason == "duplicate_order"


def test_an_unknown_service_item_refuses_the_whole_order():
    book = ServiceBook(items={"CONSULT": ITEMS["CONSULT"]})
    with pytest.raises(ServiceRejected) as refused:
        book.place_order(order())
    assert refused.value.reason == "unknown_service_item"
    assert not book.lines


def test_delivery_beyond_the_order_is_refused_unless_agreed_and_then_flagged():
    book = ServiceBook(items=ITEMS)
    book.place_order(order())
    assert book.deliver(delivered("d-1", 1, "7.5")).beyond_order is False
    with pytest.raises(ServiceRejected) as refused:
        book.deliver(delivered("d-2", 1, "3"))  # 2.5 hours left
    assert refused.value.reason == "beyond_order"
    assert book.remaining("SO-1", 1) == Decimal("2.5")  # the refusal booked nothing
    done = book.deliver(delivered("d-3", 1, "3", beyond=True))
    assert done.beyond_order is True
    assert book.remaining("SO-1", 1) == Decimal("-0.5")
    assert book.deliver(delivered("d-4", 2, "2")).beyond_order is False  # exactly what was ordered


def test_a_delivery_of_another_customers_order_or_an_unknown_line_is_refused():
    book = ServiceBook(items=ITEMS)
    book.place_order(order())
    for event, reason in ((delivered("d-1", 1, "1", customer="C002"), "wrong_customer"),
                          (delivered("d-2", 3, "1"), "unknown_order_line")):  # fmt: skip
        with pytest.raises(ServiceRejected) as refused:
            book.deliver(event)
        assert refused.value.reason == reason


def test_the_revenue_voucher_at_6_percent_balances_to_the_fen_on_odd_amounts():
    policy = AccountingPolicy.cn_small_enterprise()
    book = ServiceBook(items=ITEMS)
    book.place_order(order())
    # by hand: 2.75 h × 333.33 = 916.6575 → 916.66 net; 916.66 × 6% = 54.9996 → 55.00 VAT;
    # 971.66 receivable
    done = book.deliver(delivered("d-1", 1, "2.75"))
    voucher = revenue_voucher(done, policy.local_date(done.occurred_at), policy)
    lines = {(line.account_code, line.debit, line.credit) for line in voucher.lines}
    assert lines == {
        ("1122", Decimal("971.66"), Decimal("0.00")),
        ("5001", Decimal("0.00"), Decimal("916.66")),
        ("22210102", Decimal("0.00"), Decimal("55.00")),
    }
    assert voucher.total_debit == voucher.total_credit == Decimal("971.66")
    assert voucher.voucher_date == date(2026, 4, 1)  # the company's day, not UTC's
    # 1 session at the agreed 999.99: VAT 59.9994 → 60.00; 1,059.99 receivable
    done = book.deliver(delivered("d-2", 2, "1"))
    voucher = revenue_voucher(done, policy.local_date(done.occurred_at), policy)
    assert [(line.debit, line.credit) for line in voucher.lines] == [
        (Decimal("1059.99"), Decimal("0.00")),
        (Decimal("0.00"), Decimal("999.99")),
        (Decimal("0.00"), Decimal("60.00")),
    ]


def test_consumption_is_cost_of_the_customers_own_order():
    book = ServiceBook(items=ITEMS)
    book.place_order(order())
    used = book.record_consumption(
        ConsumptionRecorded(event_id="c-1", occurred_at=AT, source="tablet-1", customer="C001",
                            service_order="SO-1", material="打印耗材", qty=Decimal(3), cost=Decimal("12.345"))
    )  # fmt: skip
    assert used.cost == Decimal("12.35")
    with pytest.raises(ServiceRejected) as refused:
        book.record_consumption(
            ConsumptionRecorded(event_id="c-2", occurred_at=AT, source="t", customer="C002",
                                service_order="SO-1", material="x", qty=Decimal(1), cost=Decimal(1))
        )  # fmt: skip
    assert refused.value.reason == "wrong_customer"


def test_the_service_topic_takes_service_events_only():
    with pytest.raises(EventRejected) as refused:
        parse_service_event({"event_type": "goods_receipt", "event_id": "x"})
    assert refused.value.reason == "wrong_topic"
    event = parse_service_event(order().model_dump_json())
    assert event.location_id == "C001"  # partitioned by customer


def test_the_no_stock_edition_has_no_stock_topic_and_no_stock_page():
    no_stock = set(edition_topics(Edition.NO_STOCK))
    assert no_stock == {"service_events", "dead_letters"}
    assert not no_stock & set(STOCK_TOPICS)
    assert {t.value for t in Topic} <= set(edition_topics(Edition.STANDARD))
    assert "service_events" not in edition_topics(Edition.STANDARD)
    areas = edition_areas(Edition.NO_STOCK)
    assert Area.SERVICES in areas
    assert not areas & {Area.STOCK, Area.COLD_CHAIN, Area.PLANNING, Area.DEVICES, Area.OVERVIEW}
    assert Area.SERVICES not in edition_areas(Edition.STANDARD)


def test_a_delivery_taken_back_leaves_the_line_as_it_was_and_a_restore_counts_each_delivery_once():
    book = ServiceBook(items=ITEMS)
    (first, _second) = book.place_order(order())
    done = book.deliver(delivered("d-1", 1, "7.5"))
    book.undo(done)  # its voucher could not be made: refused, nothing booked
    assert book.remaining("SO-1", 1) == Decimal("10") and not book.is_duplicate("d-1")
    # a worker restoring from its record twice (two rebalances) counts what was delivered once
    restored = ServiceBook(items=ITEMS)
    restored.restore([first], [("SO-1", 1, Decimal("4"))])
    again = ServiceBook(items=ITEMS)
    again.restore([first], [("SO-1", 1, Decimal("4"))])
    assert restored.remaining("SO-1", 1) == again.remaining("SO-1", 1) == Decimal("6")


def test_revenue_vouchers_landed_by_the_worker_are_posted_in_the_books_once(tmp_path):
    """The posting pass of the no-stock edition: the revenue vouchers' lines, as the service
    worker lands them, are posted into the DuckDB books, numbered, balanced, each once even
    when a redelivered event landed its voucher again."""
    from lake import LakeWriter
    from stockflow.masterdata import Catalog
    from stockflow.services.books import BooksService
    from stores.audit_log import AuditLog
    from stores.books import Books

    policy = AccountingPolicy.cn_small_enterprise()
    book = ServiceBook(items=ITEMS)
    book.place_order(order())
    writer = LakeWriter(tmp_path / "lake", "services-0")

    def land(done) -> None:  # the worker's rows: one file per delivery
        voucher = revenue_voucher(done, policy.local_date(done.occurred_at), policy)
        seq = writer.next_seq()
        for number, vl in enumerate(voucher.lines, start=1):
            writer.append(
                "service_voucher_lines",
                {"voucher_id": voucher.voucher_id, "voucher_date": voucher.voucher_date,
                 "occurred_at": voucher.occurred_at, "source_event_id": voucher.source_event_id,
                 "line_no": number, "account_code": vl.account_code, "account_name": vl.account_name,
                 "debit": vl.debit, "credit": vl.credit, "summary": vl.summary, "customer": vl.customer,
                 "item": vl.sku, "apply_seq": seq},
            )  # fmt: skip
        writer.flush()

    first = book.deliver(delivered("d-1", 1, "2.75"))
    land(first)
    land(book.deliver(delivered("d-2", 2, "1")))
    books = Books(tmp_path, Catalog(), policy)
    service = BooksService(books, AuditLog(tmp_path), books.rules)
    posted = service.post_pass(Edition.NO_STOCK)  # the edition's pass: the service vouchers
    assert (posted.files, posted.vouchers, posted.duplicates) == (2, 2, 0)
    with books.connect(read_only=True) as con:
        vouchers = con.execute(
            "SELECT voucher_id, voucher_no, accounting_unit, period, source_event_type, total"
            " FROM vouchers ORDER BY voucher_no"
        ).fetchall()
        lines = con.execute(
            "SELECT voucher_id, account_code, debit, credit, customer, sku FROM voucher_lines"
        ).fetchall()
    # by hand (as above): 971.66 for 2.75 h of CONSULT, 1,059.99 for a session at 999.99
    assert [(v[0], v[2], v[3], v[4], v[5]) for v in vouchers] == [
        ("V:services:d-1", "main", "2026-04", "service_delivered", Decimal("971.66")),
        ("V:services:d-2", "main", "2026-04", "service_delivered", Decimal("1059.99")),
    ]
    assert len({v[1] for v in vouchers}) == 2  # numbered, each its own number
    for voucher_id in ("V:services:d-1", "V:services:d-2"):
        mine = [line for line in lines if line[0] == voucher_id]
        assert sum(line[2] for line in mine) == sum(line[3] for line in mine)
        assert {line[4] for line in mine} == {"C001"}
    assert {(line[1], line[2], line[3]) for line in lines if line[0] == "V:services:d-1"} == {
        ("1122", Decimal("971.66"), Decimal("0.00")),
        ("5001", Decimal("0.00"), Decimal("916.66")),
        ("22210102", Decimal("0.00"), Decimal("55.00")),
    }
    land(first)  # the delivery redelivered: its voucher landed again, in a new file
    again = service.post_service_vouchers()
    assert (again.files, again.vouchers, again.duplicates) == (1, 0, 1)
    assert service.post_service_vouchers().files == 0
    with books.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM vouchers").fetchone() == (2,)
    # the receivables they raise: one open item per delivery for the customer
    from stockflow.services.finance import FinanceService
    from stores.finance import FinanceBooks

    store = FinanceBooks(tmp_path, Catalog(), policy)
    finance = FinanceService(store, AuditLog(tmp_path), store.rules)
    assert finance.sync() == 2
    items = store.open_items()
    assert sorted((i.party, i.amount) for i in items) == [
        ("C001", Decimal("971.66")),
        ("C001", Decimal("1059.99")),
    ]
