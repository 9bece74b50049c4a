"""Rebuilding state from real lake files (no broker needed)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lake import LakeWriter, event_row, replay_lake
from simulator.company import build_catalog
from stockflow.events import GoodsReceipt, encode_event
from stockflow.processing import StockProcessor

pytestmark = pytest.mark.integration


def test_only_ledger_refusals_are_remembered_as_decided(tmp_path):
    catalog = build_catalog(7)
    sku = next(s for s in catalog.skus.values() if not s.batch_managed)
    receipt = GoodsReceipt(
        event_id="r1",
        occurred_at=datetime(2026, 5, 4, 8, tzinfo=UTC),
        source="rf",
        location="WH1",
        purchase_order="PO1",
        supplier="SUP01",
        sku=sku.sku,
        qty=Decimal(3),
        unit_cost=Decimal(10),
    )
    lake = LakeWriter(tmp_path, "test")
    lake.append("scans", event_row(receipt, encode_event(receipt), "scans", 0, 0, lake.next_seq()))
    for event_id, reason, refused in (
        ("x-refused", "negative_stock", True),
        ("x-fault", "internal_error", False),
    ):
        lake.append(
            "dead_letters",
            {
                "topic": "scans",
                "partition": 0,
                "offset": 1,
                "key": "WH1",
                "event_id": event_id,
                "reason": reason,
                "detail": "",
                "payload": b"{}",
                "rejected_at": receipt.occurred_at,
                "refused_by_ledger": refused,
                "apply_seq": lake.next_seq(),
            },
        )
    lake.flush()

    procs, replayed = replay_lake(tmp_path, catalog, [0], 1, lambda: StockProcessor(catalog))
    ledger = procs[0].ledger
    assert replayed == 1
    assert ledger.has_applied("r1") and ledger.has_applied("x-refused")
    assert not ledger.has_applied("x-fault"), "a fault was never decided: a redelivery must be applied"
    assert sum(p.on_hand for _, p in ledger.positions()) == 3
