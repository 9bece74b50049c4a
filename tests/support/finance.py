"""A company's stock events landed in a lake by the stream's own writer and posted by the books,
for the finance documents' tests: receipts against purchase orders, reservations and issues to
customers, counts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from lake import LakeWriter, event_row, movement_row
from simulator.company import build_catalog
from stockflow.events import GoodsReceipt, PurchaseOrder, SalesIssue, StockAdjustment, StockReservation
from stockflow.processing import StockProcessor
from stockflow.services.books import BooksService
from stockflow.services.finance import FinanceService
from stores.audit_log import AuditLog
from stores.books import Books
from stores.finance import FinanceBooks

#: A SKU kept without batches or expiry (electronics), its supplier and a customer.
SKU = "ELE-0004"
WAREHOUSE = "WH1"


class FinanceCompany:
    """Stock events through the real ledger into a lake, the books posting them, and the finance
    documents' use cases over the same books."""

    def __init__(self, root: Path, catalog: Any = None, start: datetime | None = None) -> None:
        self.root = root
        self.catalog = catalog or build_catalog(7)
        self.catalog.save(root / "masterdata.json")
        self.writer = LakeWriter(root / "lake", "finance-test")
        self.processor = StockProcessor(self.catalog)
        self.clock = start or datetime(2026, 9, 1, 2, tzinfo=UTC)
        self.ids = itertools.count(1)
        self.books = BooksService(Books(root, self.catalog), AuditLog(root), Books(root, self.catalog).rules)
        self.store = FinanceBooks(root, self.catalog)
        self.finance = FinanceService(self.store, AuditLog(root), self.store.rules, clock=lambda: self.clock)

    @property
    def supplier(self) -> str:
        return self.catalog.skus[SKU].supplier

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids):05d}"

    def tick(self, minutes: int = 5) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def apply(self, *events: Any) -> None:
        """Apply events through the ledger and land them with their movements, then post."""
        for ev in events:
            result = self.processor.process(ev)
            topic = ev.topic.value
            self.writer.append(topic, event_row(ev, b"", topic, 0, 0, self.writer.next_seq()))
            for mv in result.movements:
                self.writer.append(
                    "inventory_changed", movement_row(mv, 0, self.writer.next_seq(), datetime.now(UTC))
                )
        self.writer.flush()
        self.books.post_vouchers()
        self.finance.sync()

    def order(self, po: str, qty: int, sku: str = SKU, location: str = WAREHOUSE) -> None:
        self.apply(
            PurchaseOrder(
                event_id=self.next_id("po"), occurred_at=self.tick(), source="erp", location=location,
                purchase_order=po, supplier=self.catalog.skus[sku].supplier, sku=sku, qty=Decimal(qty),
            )
        )  # fmt: skip

    def receive(
        self, po: str, qty: int, unit_cost: Decimal, sku: str = SKU, location: str = WAREHOUSE
    ) -> None:
        self.apply(
            GoodsReceipt(
                event_id=self.next_id("gr"), occurred_at=self.tick(), source="dock", location=location,
                purchase_order=po, supplier=self.catalog.skus[sku].supplier, sku=sku, qty=Decimal(qty),
                unit_cost=unit_cost,
            )
        )  # fmt: skip

    def sell(self, order: str, customer: str, qty: int, sku: str = SKU, location: str = WAREHOUSE) -> None:
        self.apply(
            StockReservation(
                event_id=self.next_id("rs"), occurred_at=self.tick(), source="wms", location=location,
                sales_order=order, sku=sku, qty=Decimal(qty),
            ),
            SalesIssue(
                event_id=self.next_id("si"), occurred_at=self.tick(), source="wms", location=location,
                sales_order=order, customer=customer, sku=sku, qty=Decimal(qty),
            ),
        )  # fmt: skip

    def adjust(self, qty: int, reason: str = "shrinkage", sku: str = SKU, location: str = WAREHOUSE) -> str:
        """A stock adjustment (its value waits on 待处理财产损溢); returns its event id."""
        event_id = self.next_id("adj")
        self.apply(
            StockAdjustment(
                event_id=event_id, occurred_at=self.tick(), source="wms", location=location, sku=sku,
                qty=Decimal(qty), reason=reason,
            )
        )  # fmt: skip
        return event_id
