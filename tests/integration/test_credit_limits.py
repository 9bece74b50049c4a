"""A customer's credit limit in a real worker: the open receivables the books published in the
lake plus the open orders of its partition; an order over the limit goes to the dead letters
with the figures. The test has a broker of its own (`stack`)."""

import os
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake.tables import OPEN_ITEMS
from stockflow.masterdata import Customer, SkuStatus
from tests.support import lake_dead_letters, post_json, wait_until

pytestmark = pytest.mark.integration


def publish_open_items(lake_dir, customer: str, open_amount: str) -> None:
    """One open receivable, as the books publish their open items (the file replaced whole)."""
    row = {
        "item_id": "SI-1:1",
        "accounting_unit": "main",
        "party_kind": "customer",
        "party": customer,
        "document": "SI-1",
        "document_type": "invoice",
        "document_date": date(2026, 3, 1),
        "due_date": date(2026, 3, 31),
        "amount": Decimal(open_amount),
        "open_amount": Decimal(open_amount),
        "source_event_id": "issue-1",
        "sales_order": None,
        "sku": None,
        "net": None,
        "vat": None,
        "updated_at": datetime.now(UTC),
    }
    folder = lake_dir / OPEN_ITEMS.name
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([row], schema=OPEN_ITEMS.schema), folder / ".part-current.tmp")
    os.replace(folder / ".part-current.tmp", folder / "part-current.parquet")


def test_an_order_over_the_credit_limit_is_dead_lettered_with_the_figures(stack):
    catalog = stack.catalog
    sku = next(
        s
        for s in catalog.skus.values()
        if s.status is SkuStatus.ACTIVE and not (s.batch_managed or s.serial_managed or s.is_perishable)
    )
    priced = sku.model_copy(update={"wholesale_price": Decimal("10.00"), "vat_rate": Decimal("0.13")})
    limited = Customer(customer="CREDIT1", name="Canteen", credit_limit=Decimal("500.00"))
    catalog.model_copy(
        update={
            "skus": {**catalog.skus, sku.sku: priced},
            "customers": {**catalog.customers, "CREDIT1": limited},
        }
    ).save(stack.settings.masterdata_path)
    publish_open_items(stack.lake, "CREDIT1", "400.00")
    worker = stack.worker()

    now = datetime.now(UTC).isoformat()
    common = {"occurred_at": now, "source": "erp", "location": "WH1"}
    reservation = {
        **common,
        "event_type": "stock_reservation",
        "customer": "CREDIT1",
        "sku": sku.sku,
        "qty": "5",
    }
    status, answer = post_json(
        f"{worker.url}/events",
        [
            {**common, "event_type": "goods_receipt", "event_id": "credit-receipt", "purchase_order": "PO-CR",
             "supplier": "SUP01", "sku": sku.sku, "qty": "20", "unit": sku.base_unit, "unit_cost": "7.00"},
            {**reservation, "event_id": "credit-res-1", "sales_order": "SO-CR-1"},  # 400 + 56.50
            {**reservation, "event_id": "credit-res-2", "sales_order": "SO-CR-2"},  # 56.50 more: 513.00
        ],
    )  # fmt: skip
    assert status == 202, answer

    def refusal() -> dict | None:
        return next((r for r in lake_dead_letters(stack.lake) if r["event_id"] == "credit-res-2"), None)

    letter = wait_until(refusal, 60, "the reservation over the limit in the dead letters")
    assert letter["reason"] == "credit_limit" and letter["refused_by_ledger"]
    assert letter["detail"] == (
        "customer CREDIT1, sales order SO-CR-2: credit limit 500.00; exposure 456.50 (open receivables "
        "and open orders) + this 56.50 = 513.00; open receivables 400.00, open orders 56.50"
    )
    assert [r["event_id"] for r in lake_dead_letters(stack.lake)] == ["credit-res-2"]
