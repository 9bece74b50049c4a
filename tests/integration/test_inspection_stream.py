"""An inspection event through the real broker and worker: a damaged pallet's batch is
quarantined in the stock API until it is released; one inspected before its receipt holds the
receipt when it comes."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from stockflow.events import GoodsReceipt, HoldAction, PalletInspected, QualityHold
from tests.support import get_json, post_json, wait_until

pytestmark = pytest.mark.integration


def send(worker, *events):
    status, body = post_json(f"{worker.url}/events", [e.model_dump(mode="json") for e in events])
    assert status == 202, body


def batch(worker, sku, batch_id):
    found = get_json(f"{worker.url}/stock/WH1/{sku}")["batches"]
    return next((b for b in found if b["batch"] == batch_id), None)


def test_a_damaged_pallet_is_quarantined_until_released(stack):
    worker = stack.worker()
    sku = next(code for code, s in sorted(stack.catalog.skus.items()) if s.batch_managed)
    supplier = stack.catalog.skus[sku].supplier or sorted(stack.catalog.suppliers)[0]
    now = datetime.now(UTC)

    def receipt(event_id, batch_id):
        return GoodsReceipt(
            event_id=event_id, occurred_at=now, source="RF-WH1", location="WH1", purchase_order="PO-INS",
            supplier=supplier, sku=sku, batch=batch_id, expiry_date=date(2027, 6, 30), qty=Decimal(30),
            unit_cost=Decimal("4.20"),
        )  # fmt: skip

    def inspection(event_id, batch_id, verdict, damaged):
        return PalletInspected(
            event_id=event_id, occurred_at=now, source="dock-cam-1", location="WH1", inspection_id=f"INS-{event_id}",
            supplier=supplier, purchase_order="PO-INS", sku=sku, batch=batch_id, cartons=30, layers=5,
            damaged_cartons=damaged, confidence=0.9, verdict=verdict,
        )  # fmt: skip

    send(worker, receipt("rcv-1", "LOT-A"), inspection("ins-1", "LOT-A", "quarantine", 2))
    wait_until(lambda: (batch(worker, sku, "LOT-A") or {}).get("quarantined") == 30, 30, "LOT-A quarantined")
    assert get_json(f"{worker.url}/stock/WH1/{sku}")["available"] == 0

    # inspected before the receipt is applied: the receipt goes straight into quarantine
    send(worker, inspection("ins-2", "LOT-B", "manual_review", 0), receipt("rcv-2", "LOT-B"))
    wait_until(
        lambda: (batch(worker, sku, "LOT-B") or {}).get("quarantined") == 30, 30, "LOT-B held on receipt"
    )

    release = QualityHold(
        event_id="rel-1", occurred_at=now, source="qa", location="WH1", sku=sku, batch="LOT-B",
        action=HoldAction.RELEASE, reason="checked by hand: fine",
    )  # fmt: skip
    send(worker, release)
    wait_until(lambda: batch(worker, sku, "LOT-B")["quarantined"] == 0, 30, "LOT-B released")
    assert batch(worker, sku, "LOT-A")["quarantined"] == 30  # the damaged one stays held
