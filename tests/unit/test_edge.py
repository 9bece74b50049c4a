"""The edge agent's rules (stockflow.edge) and its outbox (stores.outbox, a real SQLite file)."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from simulator.company import build_catalog
from stockflow.edge import (
    OutboxState,
    Outcome,
    Settlement,
    SnapshotRow,
    backoff_seconds,
    forward_order,
    local_stock,
    offline_plan,
    settle,
    snapshot_rows,
    units_sold,
)
from stockflow.events import PosLine, PosSale, fingerprint
from stores.outbox import Outbox, Taken

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog():
    return build_catalog(7)


def _plain_sku(catalog):
    return next(
        s
        for s in catalog.skus.values()
        if not (s.batch_managed or s.serial_managed or s.cold_chain_min_c is not None) and s.supplier
    )


def _sale(event_id: str, sku: str, qty: int, at: datetime = T0, till: str = "till-1", seq: int | None = None):
    return PosSale(
        event_id=event_id,
        occurred_at=at,
        source=till,
        source_seq=seq,
        store="ST01",
        ticket=f"T-{event_id}",
        channel="retail",
        lines=[PosLine(sku=sku, qty=Decimal(qty), unit_price=Decimal("5.00"))],
    )


def _taken(event: PosSale) -> Taken:
    return Taken(
        event.event_id,
        event.store,
        event.source,
        event.source_seq,
        fingerprint(event),
        event.model_dump_json().encode(),
    )


# ---------------------------------------------------------------- rules
def test_settle_deletes_landed_keeps_refused_waits_and_resends_what_was_lost():
    sent = T0
    after = timedelta(seconds=30)
    assert settle({"status": "landed"}, sent, T0, after) == Settlement(Outcome.DELETE)
    refused = settle({"status": "dead_lettered", "reason": "unknown_sku", "detail": "x"}, sent, T0, after)
    assert refused == Settlement(Outcome.DEAD_LETTER, "unknown_sku", "x")
    assert settle({"status": "pending"}, sent, T0 + timedelta(hours=1), after).outcome is Outcome.KEEP
    assert settle({"status": "unknown"}, sent, T0 + timedelta(seconds=29), after).outcome is Outcome.KEEP
    assert settle({"status": "unknown"}, sent, T0 + timedelta(seconds=30), after).outcome is Outcome.RESEND


def test_backoff_doubles_up_to_its_cap_with_jitter():
    rng = random.Random(1)
    assert backoff_seconds(0, 30) == 0
    waits = [backoff_seconds(n, 30, rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(30.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert backoff_seconds(10_000, 30, rng) <= 30  # days offline: never longer than the cap


def test_forward_order_is_per_source_by_running_number_then_arrival():
    rows = [("b", 2, 1), ("a", 3, 2), ("a", None, 3), ("a", 1, 4), ("b", 1, 5), ("a", 2, 6)]
    ordered = sorted(rows, key=lambda r: forward_order(*r))
    assert [(s, q) for s, q, _ in ordered] == [("a", 1), ("a", 2), ("a", 3), ("a", None), ("b", 1), ("b", 2)]


def test_local_stock_is_the_snapshot_plus_the_outbox(catalog):
    sku = _plain_sku(catalog).sku
    snapshot = [SnapshotRow("ST01", sku, "", 10)]
    local = local_stock(catalog, UTC, snapshot, [_sale("s1", sku, 3), _sale("s2", sku, 4)])
    assert sum(p.on_hand for p in local.ledger.batches_at("ST01", sku).values()) == 3
    # a sale beyond the stock is booked all the same (a till sells what is on the shelf) and
    # the same event twice counts once
    local = local_stock(catalog, UTC, snapshot, [_sale("s1", sku, 12), _sale("s1", sku, 12)])
    assert sum(p.on_hand for p in local.ledger.batches_at("ST01", sku).values()) == -2
    # what the rules refuse changes nothing and is listed
    local = local_stock(catalog, UTC, snapshot, [_sale("s3", "NO-SUCH", 1)])
    assert local.refused == [("s3", "unknown_sku")]


def test_snapshot_rows_read_the_workers_stock_answer():
    answer = {
        "items": [
            {
                "location": "ST01",
                "sku": "A",
                "batches": [
                    {
                        "batch": "B1",
                        "on_hand": 5,
                        "reserved": 1,
                        "quarantined": 0,
                        "in_transit": 0,
                        "expiry_date": "2027-01-02",
                    },
                ],
            }
        ]
    }
    assert snapshot_rows(answer) == [SnapshotRow("ST01", "A", "B1", 5, 1, 0, 0, date(2027, 1, 2))]


def test_offline_plan_orders_what_the_store_sold_down(catalog):
    sku = _plain_sku(catalog)
    today = T0.date()
    snapshot = [SnapshotRow("ST01", sku.sku, "", sku.reorder_point + 40)]
    sales = [_sale(f"s{i}", sku.sku, 4, T0 - timedelta(days=i)) for i in range(10)]
    local = local_stock(catalog, UTC, snapshot, sales)
    daily = {("ST01", sku.sku): {(T0 - timedelta(days=i)).date(): 4 for i in range(10)}}
    plan = offline_plan(catalog, local.ledger, ["ST01"], daily, today)
    (order,) = [o for o in plan.orders if o.sku == sku.sku]
    assert order.supplier == sku.supplier
    assert order.inventory_position == sku.reorder_point
    assert order.quantity > 0 and order.quantity >= sku.moq
    # with stock well above any need, nothing is ordered
    full = local_stock(catalog, UTC, [SnapshotRow("ST01", sku.sku, "", 100_000)], [])
    assert not [
        o for o in offline_plan(catalog, full.ledger, ["ST01"], daily, today).orders if o.sku == sku.sku
    ]


def test_units_sold_in_base_units(catalog):
    sku = _plain_sku(catalog)
    assert units_sold(_sale("s", sku.sku, 3), catalog) == [("ST01", sku.sku, 3)]
    assert units_sold(_sale("s", "NO-SUCH", 3), catalog) == []


# ---------------------------------------------------------------- the outbox
def test_outbox_takes_once_refuses_a_changed_reuse_and_forwards_in_order(tmp_path, catalog):
    sku = _plain_sku(catalog).sku
    box = Outbox(tmp_path / "outbox.sqlite3")
    a2, a1, b1 = (
        _sale("a2", sku, 1, till="a", seq=2),
        _sale("a1", sku, 1, till="a", seq=1),
        _sale("b1", sku, 1, till="b", seq=1),
    )
    assert box.take([_taken(a2), _taken(b1)], T0) == ["taken", "taken"]
    assert box.take([_taken(a1), _taken(a2)], T0) == ["taken", "duplicate"]
    changed = _sale("a1", sku, 9, till="a", seq=1)
    assert box.take([_taken(changed)], T0) == ["conflict"]
    assert [r.event_id for r in box.next_batch(10)] == ["a1", "a2", "b1"]
    box.mark_sent(["a1", "a2"], T0)
    assert [r.event_id for r in box.next_batch(10)] == ["b1"]
    counts = box.settle(
        [("a1", Settlement(Outcome.DELETE)), ("a2", Settlement(Outcome.DEAD_LETTER, "unknown_sku", "no"))], T0
    )
    assert counts[Outcome.DELETE] == 1 and counts[Outcome.DEAD_LETTER] == 1
    assert box.counts() == {"waiting": 1, "sent": 0, "dead_lettered": 1, "landed": 1}
    assert box.status("a1")["status"] == "landed"
    assert box.status("a2") | {} == {
        "event_id": "a2",
        "location": "ST01",
        "status": OutboxState.DEAD_LETTERED.value,
        "reason": "unknown_sku",
        "detail": "no",
    }
    # a device retrying a landed event is told it is a duplicate, not a new one
    assert box.take([_taken(a1)], T0) == ["duplicate"]
    # a forwarded event that was lost goes back to waiting, in its place
    box.mark_sent(["b1"], T0)
    box.settle([("b1", Settlement(Outcome.RESEND))], T0)
    assert [r.event_id for r in box.next_batch(10)] == ["b1"]
    box.close()


def test_what_the_outbox_answered_for_survives_a_sigkill(tmp_path):
    """A process takes events and is killed with SIGKILL right after: a new one finds them all."""
    path = tmp_path / "outbox.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from datetime import UTC, datetime
        from stores.outbox import Outbox, Taken
        box = Outbox(Path({str(path)!r}))
        for i in range(200):
            box.take([Taken(f"e{{i}}", "ST01", "till", i, 7, b"{{}}")], datetime.now(UTC))
        print("taken", flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9 and "taken" in proc.stdout, proc.stderr
    box = Outbox(path)
    assert box.counts()["waiting"] == 200
    assert [r.event_id for r in box.next_batch(3)] == ["e0", "e1", "e2"]
    box.close()
