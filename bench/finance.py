"""Finance benchmark: posting with supplier invoices, payments, sales invoices and customer
receipts in the mix, against posting the same stock movements alone.

Figures (all measured in this run, on the same simulated lake):

* posting alone: every movement of a simulated lake valued and posted as vouchers (one pass),
  vouchers per second — the baseline.
* with finance documents: the same pass, then one supplier invoice per receipt (at the receipt's
  cost, matched three ways), one payment per invoice, one sales invoice and one customer receipt
  per sales order, recorded in batches of `BATCH` documents as `stockflow finance record` does;
  vouchers per second over both, and documents per second on their own.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from rich.console import Console

from bench.pipeline import Figure
from bench.vouchers import START
from lake import LakeWriter, event_row, movement_row
from simulator.company import Simulation, build_catalog
from stockflow.finance import CustomerReceipt, SalesInvoice, SupplierInvoice, SupplierPayment
from stockflow.ledger import Ledger
from stockflow.services.books import BooksService
from stockflow.services.finance import FinanceService
from stores.audit_log import AuditLog
from stores.books import Books
from stores.finance import FinanceBooks

console = Console()
BATCH = 200


def _lake(root: Path, movements: int) -> None:
    """A simulated company's events (purchase orders among them) and their movements, landed as
    the stream lands them."""
    catalog = build_catalog(7)
    catalog.save(root / "masterdata.json")
    ledger = Ledger(catalog)
    writer = LakeWriter(root / "lake", "bench")
    for ev in Simulation(catalog, 7).history(START, 365):
        result = ledger.apply(ev)
        for event, r in [(ev, result), *((f, ledger.apply(f)) for f in result.follow_ups)]:
            topic = event.topic.value
            writer.append(topic, event_row(event, b"", topic, 0, 0, writer.next_seq()))
            for mv in r.movements:
                writer.append("inventory_changed", movement_row(mv, 0, writer.next_seq(), datetime.now(UTC)))
        if writer.pending >= 4000:
            writer.flush()
        if writer.rows_written >= movements:
            break
    writer.flush()


def _documents(root: Path) -> list:
    """Supplier invoices and payments for every receipt, sales invoices and receipts for every
    sales order the books posted (read from the stock ledger, as a clerk would from the GRNs)."""
    con = duckdb.connect(str(root / "books.duckdb"), read_only=True)
    try:
        receipts = con.execute(
            "SELECT location, reference, counterparty, sku, sum(qty_change), sum(value_change + cost_variance),"
            " max(occurred_at) FROM stock_ledger WHERE event_type = 'goods_receipt' AND reference NOT LIKE 'OPEN-%'"
            " GROUP BY ALL ORDER BY 7, 2, 4"
        ).fetchall()
        issues = con.execute(
            "SELECT location, reference, counterparty, sku, -sum(qty_change), max(occurred_at) FROM stock_ledger"
            " WHERE event_type = 'sales_issue' GROUP BY ALL ORDER BY 6, 2, 4"
        ).fetchall()
    finally:
        con.close()
    docs: list = []
    for n, (location, po, supplier, sku, qty, value, at) in enumerate(receipts):
        when = at + timedelta(days=1)
        price = (Decimal(value) / qty).quantize(Decimal("0.000001"))
        docs.append(SupplierInvoice(
            event_id=f"inv-{n}", occurred_at=when, location=location, invoice_no=f"F{n}", supplier=supplier,
            invoice_date=when.date(), lines=[{"purchase_order": po, "sku": sku, "qty": qty, "unit_price": price}],
        ))  # fmt: skip
        gross = (Decimal(value) + (Decimal(value) * Decimal("0.13")).quantize(Decimal("0.01"))).quantize(
            Decimal("0.01")
        )
        if gross > 0:
            docs.append(SupplierPayment(
                event_id=f"pay-{n}", occurred_at=when + timedelta(days=20), location=location, payment_no=f"P{n}",
                supplier=supplier, paid_on=(when + timedelta(days=20)).date(), amount=gross,
            ))  # fmt: skip
    by_order: dict[tuple[str, str, str], list] = defaultdict(list)
    for location, so, customer, sku, qty, at in issues:
        by_order[(location, so, customer)].append((sku, qty, at))
    for n, ((location, so, customer), lines) in enumerate(by_order.items()):
        when = max(at for _, _, at in lines) + timedelta(days=1)
        docs.append(SalesInvoice(
            event_id=f"si-{n}", occurred_at=when, location=location, invoice_no=f"S{n}", customer=customer,
            invoice_date=when.date(), lines=[{"sales_order": so, "sku": sku, "qty": qty} for sku, qty, _ in lines],
        ))  # fmt: skip
        docs.append(CustomerReceipt(
            event_id=f"rc-{n}", occurred_at=when + timedelta(days=30), location=location, receipt_no=f"R{n}",
            customer=customer, received_on=(when + timedelta(days=30)).date(), amount=Decimal("100.00"),
        ))  # fmt: skip
    return docs


def run(movements: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        console.print(f"finance: a lake of {movements:,} movements …")
        _lake(root, movements)
        catalog = build_catalog(7)
        books = Books(root, catalog)
        service = BooksService(books, AuditLog(root), books.rules)
        t0 = time.perf_counter()
        posted = service.post_vouchers()
        post_seconds = time.perf_counter() - t0
        store = FinanceBooks(root, catalog)
        finance = FinanceService(store, AuditLog(root), store.rules)
        t0 = time.perf_counter()
        finance.sync()  # the receivables the issues and delivery sales raised
        sync_seconds = time.perf_counter() - t0
        docs = _documents(root)
        outcomes = []
        t0 = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            outcomes += finance.record_many(docs[i : i + BATCH], by="bench")
        record_seconds = time.perf_counter() - t0
        finance_seconds = sync_seconds + record_seconds
        finance_vouchers = sum(len(o.vouchers) for o in outcomes if hasattr(o, "vouchers"))
        refused = sum(1 for o in outcomes if not hasattr(o, "vouchers"))
        waiting = sum(1 for o in outcomes if getattr(o, "status", "") == "exception")
        console.print(
            f"  {posted.vouchers:,} stock vouchers in {post_seconds:.1f} s; {len(docs):,} documents "
            f"({waiting} waiting, {refused} refused) → {finance_vouchers:,} vouchers in {record_seconds:.1f} s;"
            f" open items of {posted.vouchers:,} vouchers taken in in {sync_seconds:.1f} s"
        )
        alone = posted.vouchers / post_seconds
        mixed = (posted.vouchers + finance_vouchers) / (post_seconds + finance_seconds)
        return [
            Figure("posting alone, vouchers/s", alone, "v/s"),
            Figure("posting with invoices and payments, vouchers/s", mixed, "v/s", alone),
            Figure("finance documents recorded, documents/s", len(docs) / record_seconds, "doc/s"),
        ]


def main() -> None:
    import os

    from bench.pipeline import report_and_save

    figures = run(movements=int(os.environ.get("BENCH_FINANCE_MOVEMENTS", 60_000)))
    report_and_save(figures, "stockflow finance benchmark (same machine, same run)", "finance")
