"""Finance documents on the real books (DuckDB) over stock the real ledger booked: supplier
invoices against receipts, payments, sales invoices, credit notes, receipts from customers,
write-offs approved by a second person; and, for any sequence of them, the books' invariants.

The oracles are sums of voucher lines taken with SQL straight from the books' file (each
voucher balances, each control account equals its subledger, the 暂估 accrual of receipts
invoiced in full is zero) and figures worked out by hand, not the finance service's own
bookkeeping."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockflow.finance import (
    CreditNote,
    CustomerReceipt,
    DocumentRefused,
    PartyKind,
    SalesInvoice,
    SupplierInvoice,
    SupplierPayment,
    WriteOffCause,
)
from tests.support.finance import SKU, WAREHOUSE, FinanceCompany

pytestmark = pytest.mark.integration
D = Decimal
CUSTOMER = "CUS001"


def sql(company: FinanceCompany, query: str, params=()):
    con = duckdb.connect(str(company.root / "books.duckdb"), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def control_balance(company, code, unit="DIST", credit_side=True):
    (row,) = sql(
        company,
        "SELECT coalesce(sum(l.debit) - sum(l.credit), 0) FROM voucher_lines l JOIN vouchers v USING (voucher_id)"
        " WHERE l.account_code = ? AND v.accounting_unit = ?",
        (code, unit),
    )
    return -row[0] if credit_side else row[0]


def subledger(company, kind):
    return sum((i.open_amount for i in company.store.open_items(kind)), D("0"))


def unbalanced(company):
    return sql(
        company, "SELECT voucher_id FROM voucher_lines GROUP BY voucher_id HAVING sum(debit) <> sum(credit)"
    )


def invoice(company, event_id, po, qty, price, invoice_no=None, day=date(2026, 9, 2)):
    return SupplierInvoice(
        event_id=event_id, occurred_at=company.tick(), location=WAREHOUSE, invoice_no=invoice_no or event_id,
        supplier=company.supplier, invoice_date=day,
        lines=[{"purchase_order": po, "sku": SKU, "qty": str(qty), "unit_price": str(price)}],
    )  # fmt: skip


@pytest.fixture
def company(tmp_path):
    return FinanceCompany(tmp_path)


def test_an_invoice_within_tolerance_closes_the_accrual_and_opens_the_payable(company):
    company.order("PO1", 10)
    company.receive("PO1", 10, D("100.00"))
    company.sell("SO1", CUSTOMER, 4)  # 6 left in stock
    assert control_balance(company, "220201") == D("1000.00")
    done = company.finance.record(invoice(company, "inv-1", "PO1", 10, "101.00"), by="ap")
    assert done.status == "posted"
    # 1,010.00 net + 13% VAT; the 10.00 price difference: 6.00 to the 6 in stock, 4.00 to cost of sales
    assert control_balance(company, "220201") == 0
    assert control_balance(company, "220202") == D("1141.30") == subledger(company, PartyKind.SUPPLIER)
    assert control_balance(company, "22210101", credit_side=False) == D("131.30")
    assert control_balance(company, "540102", credit_side=False) == D("4.00")
    assert company.books.check_stock().equal
    assert company.books.store.stock_value_by_location()[WAREHOUSE] == D("606.00")
    # the same document again is a duplicate; another content under its id is refused
    assert (
        company.finance.record(invoice(company, "inv-1", "PO1", 10, "101.00"), by="ap").status == "duplicate"
    )
    with pytest.raises(DocumentRefused):
        company.finance.record(invoice(company, "inv-1", "PO1", 9, "101.00"), by="ap")


def test_an_invoice_outside_tolerance_waits_for_a_person(company):
    company.order("PO1", 10)
    company.receive("PO1", 10, D("100.00"))
    waiting = company.finance.record(invoice(company, "inv-1", "PO1", 10, "110.00"), by="ap")
    assert waiting.status == "exception" and waiting.problems[0].reason == "price_outside_tolerance"
    over = company.finance.record(invoice(company, "inv-2", "PO1", 12, "100.00"), by="ap")
    assert over.problems[0].reason == "qty_over_received"
    queue = {d["event_id"]: d for d in company.store.documents(status="exception")}
    assert set(queue) == {"inv-1", "inv-2"} and "110.000000" in queue["inv-1"]["problems"][0]["detail"]
    assert control_balance(company, "220202") == 0  # nothing posted while it waits
    company.finance.decide_exception("inv-2", accept=False, by="controller", note="wrong quantity")
    accepted = company.finance.decide_exception(
        "inv-1", accept=True, by="controller", note="price rise agreed"
    )
    assert accepted.status == "posted"
    assert control_balance(company, "220201") == 0
    assert control_balance(company, "220202") == D("1243.00")  # 1,100.00 + 13%
    assert company.books.check_stock().equal  # all 10 in stock: the 100.00 went to their value
    assert company.books.store.stock_value_by_location()[WAREHOUSE] == D("1100.00")


def test_goods_not_yet_received_match_once_they_arrive(company):
    company.order("PO1", 10)
    early = company.finance.record(invoice(company, "inv-1", "PO1", 10, "100.00"), by="ap")
    assert early.problems[0].reason == "not_received"
    company.receive("PO1", 10, D("100.00"))
    assert company.finance.recheck("inv-1", by="ap").status == "posted"
    assert control_balance(company, "220201") == 0


def test_payments_settle_invoices_named_or_oldest_and_keep_the_rest_on_account(company):
    company.order("PO1", 10)
    company.receive("PO1", 10, D("100.00"))
    company.finance.record(invoice(company, "inv-1", "PO1", 4, "100.00", day=date(2026, 9, 1)), by="ap")
    company.finance.record(invoice(company, "inv-2", "PO1", 6, "100.00", day=date(2026, 9, 5)), by="ap")
    pay = SupplierPayment(event_id="pay-1", occurred_at=company.tick(), location=WAREHOUSE, payment_no="P1",
                          supplier=company.supplier, paid_on=date(2026, 9, 10), amount="700.00",
                          allocations=[{"document": "inv-2", "amount": "678.00"}])  # fmt: skip
    company.finance.record(pay, by="treasury")
    open_ = {i.document: i.open_amount for i in company.store.open_items(PartyKind.SUPPLIER)}
    assert open_ == {"inv-1": D("452.00"), "inv-2": D("0.00"), "P1": D("-22.00")}
    assert control_balance(company, "220202") == D("430.00") == subledger(company, PartyKind.SUPPLIER)


def test_sales_invoice_receipt_and_credit_note_keep_receivables_equal_to_their_account(company):
    company.order("PO1", 20)
    company.receive("PO1", 20, D("200.00"))
    company.sell("SO1", CUSTOMER, 5)
    wholesale = company.catalog.skus[SKU].wholesale_price
    booked = (5 * wholesale).quantize(D("0.01")) * D("1.13")
    assert subledger(company, PartyKind.CUSTOMER) == control_balance(company, "1122", credit_side=False)
    # invoiced at 300.00 a unit: the difference to the booking is posted
    sales = SalesInvoice(event_id="si-1", occurred_at=company.tick(), location=WAREHOUSE, invoice_no="S001",
                         customer=CUSTOMER, invoice_date=date(2026, 9, 3),
                         lines=[{"sales_order": "SO1", "sku": SKU, "qty": "5", "unit_price": "300.00"}])  # fmt: skip
    company.finance.record(sales, by="ar")
    assert control_balance(company, "1122", credit_side=False) == D("1695.00")  # 1,500.00 + 13%
    assert abs(booked - D("1695.00")) > 0
    items = company.store.open_items(PartyKind.CUSTOMER)
    assert {i.document for i in items} == {"S001"}
    note = CreditNote(event_id="cn-1", occurred_at=company.tick(), location=WAREHOUSE, note_no="C001",
                      customer=CUSTOMER, issued_on=date(2026, 9, 4), against="S001", reason="one returned",
                      lines=[{"sku": SKU, "qty": "1", "unit_price": "300.00"}])  # fmt: skip
    company.finance.record(note, by="ar")
    receipt = CustomerReceipt(event_id="rc-1", occurred_at=company.tick(), location=WAREHOUSE, receipt_no="R1",
                              customer=CUSTOMER, received_on=date(2026, 9, 20), amount="1000.00")  # fmt: skip
    company.finance.record(receipt, by="ar")
    assert control_balance(company, "1122", credit_side=False) == D("356.00")  # 1,695.00 − 339.00 − 1,000.00
    assert subledger(company, PartyKind.CUSTOMER) == D("356.00")
    (row,) = [r for r in company.finance.ageing(date(2026, 10, 20)) if r.party == CUSTOMER]
    assert row.buckets["31-60"] == D("356.00")
    assert unbalanced(company) == []


def test_a_write_off_needs_a_second_person_and_clears_the_pending_losses(company):
    company.order("PO1", 10)
    company.receive("PO1", 10, D("100.00"))
    event_id = company.adjust(-2, "shrinkage")
    assert control_balance(company, "190101", credit_side=False) == D("200.00")
    (voucher_id,) = [
        r[0] for r in sql(company, "SELECT voucher_id FROM vouchers WHERE source_event_id = ?", (event_id,))
    ]
    company.finance.request_write_off(voucher_id, WriteOffCause.SHRINKAGE, by="keeper", note="monthly count")
    with pytest.raises(DocumentRefused) as same:
        company.finance.approve_write_off(voucher_id, "Keeper")
    assert same.value.reason == "same_person"
    company.finance.approve_write_off(voucher_id, "manager")
    assert control_balance(company, "190101", credit_side=False) == 0
    assert control_balance(company, "5602", credit_side=False) == D("200.00")
    (row,) = company.store.write_offs()
    assert (row["status"], row["requested_by"], row["decided_by"]) == ("approved", "keeper", "manager")
    with pytest.raises(DocumentRefused):
        company.finance.approve_write_off(voucher_id, "someone")
    # a reversed loss has nothing pending: its write-off is refused
    other = company.adjust(-1, "damage")
    company.books.reverse(f"V:DIST:{other}", "keyed twice", by="keeper")
    with pytest.raises(DocumentRefused) as reversed_:
        company.finance.request_write_off(f"V:DIST:{other}", WriteOffCause.DAMAGE, by="keeper")
    assert reversed_.value.reason == "reversed"


# ---------------------------------------------------------------------------- any sequence
_receipt = st.tuples(st.just("receipt"), st.integers(0, 2), st.integers(1, 12), st.integers(50, 150))
_invoice = st.tuples(
    st.just("invoice"), st.integers(0, 2), st.integers(1, 12), st.sampled_from(["1", "1.01", "0.99", "1.2"])
)
_payment = st.tuples(st.just("payment"), st.integers(1, 3000), st.booleans(), st.just(0))
_sale = st.tuples(st.just("sale"), st.integers(1, 3), st.integers(1, 4), st.just(0))
_credit = st.tuples(st.just("credit"), st.integers(1, 3), st.integers(1, 2), st.just(0))
_collect = st.tuples(st.just("collect"), st.integers(1, 2000), st.booleans(), st.just(0))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_receipt, _invoice, _payment, _sale, _credit, _collect), min_size=1, max_size=12))
def test_any_sequence_keeps_the_books_in_balance(steps):
    with tempfile.TemporaryDirectory() as tmp:
        company = FinanceCompany(Path(tmp))
        received: dict[str, int] = defaultdict(int)
        invoiced: dict[str, int] = defaultdict(int)
        issued: dict[str, int] = defaultdict(int)
        n = 0
        for po in ("PO0", "PO1", "PO2"):
            company.order(po, 1000)
        for step in steps:
            n += 1
            kind = step[0]
            if kind == "receipt":
                _, po, qty, cost = step
                company.receive(f"PO{po}", qty, D(cost))
                received[f"PO{po}"] += qty
            elif kind == "invoice" and received:
                _, po, qty, factor = step
                po = sorted(received)[po % len(received)]
                rate = _receipt_rate(company, po)
                done = company.finance.record(
                    invoice(company, f"inv-{n}", po, qty, (rate * D(factor)).quantize(D("0.01")))
                )
                if done.status == "posted":
                    invoiced[po] += qty
            elif kind == "payment":
                _, amount, allocate, _ = step
                open_ = [i for i in company.store.open_items(PartyKind.SUPPLIER) if i.open_amount > 0]
                allocations = (
                    [{"document": open_[0].document, "amount": str(min(D(amount), open_[0].open_amount))}]
                    if allocate and open_
                    else []
                )
                company.finance.record(SupplierPayment(event_id=f"pay-{n}", occurred_at=company.tick(), location=WAREHOUSE,
                                                       payment_no=f"P{n}", supplier=company.supplier, paid_on=date(2026, 9, 5),
                                                       amount=str(amount), allocations=allocations))  # fmt: skip
            elif kind == "sale":
                _, order, qty, _ = step
                if (
                    company.books.store.stock_value_by_location().get(WAREHOUSE, 0)
                    and _on_hand(company) >= qty
                ):
                    company.sell(f"SO{n}", f"CUS00{order}", qty)
                    issued[f"CUS00{order}"] += qty
            elif kind == "credit" and issued:
                _, customer_n, qty, _ = step
                customer = f"CUS00{customer_n}"
                company.finance.record(CreditNote(event_id=f"cn-{n}", occurred_at=company.tick(), location=WAREHOUSE,
                                                  note_no=f"C{n}", customer=customer, issued_on=date(2026, 9, 6),
                                                  reason="returned", lines=[{"sku": SKU, "qty": str(qty), "unit_price": "250"}]))  # fmt: skip
            elif kind == "collect":
                _, amount, _, _ = step
                company.finance.record(CustomerReceipt(event_id=f"rc-{n}", occurred_at=company.tick(), location=WAREHOUSE,
                                                       receipt_no=f"R{n}", customer=CUSTOMER, received_on=date(2026, 9, 7),
                                                       amount=str(amount)))  # fmt: skip
        # invoice whatever is left, at the receipts' own cost (a person accepts any that the
        # tolerance stops): every receipt is then invoiced in full
        for po, qty in sorted(received.items()):
            left = qty - invoiced[po]
            if left > 0:
                event_id = f"final-{po}"
                rate = _receipt_rate(company, po)
                done = company.finance.record(
                    invoice(company, event_id, po, left, rate.quantize(D("0.000001")))
                )
                if done.status == "exception":
                    company.finance.decide_exception(event_id, accept=True, by="controller")
        assert unbalanced(company) == []
        assert control_balance(company, "220201") == 0
        assert control_balance(company, "220202") == subledger(company, PartyKind.SUPPLIER)
        assert control_balance(company, "1122", credit_side=False) == subledger(company, PartyKind.CUSTOMER)
        assert company.books.check_stock().equal


def _receipt_rate(company, po):
    ((qty, value),) = sql(
        company,
        "SELECT sum(qty_change), sum(value_change + cost_variance) FROM stock_ledger"
        " WHERE event_type = 'goods_receipt' AND reference = ?",
        (po,),
    )
    return D(value) / D(qty)


def _on_hand(company):
    ((qty,),) = sql(
        company,
        "SELECT coalesce(sum(qty_change), 0) FROM stock_ledger WHERE location = ? AND sku = ?",
        (WAREHOUSE, SKU),
    )
    return qty
