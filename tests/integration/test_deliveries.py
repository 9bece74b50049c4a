"""History sent after the fact lands as backfilled, live events as live: through the real
embedded broker and a real worker, from the simulator `stockflow up` runs and from POST /events.

Each test has a broker of its own (`stack`)."""

import json
from datetime import UTC, datetime

import pytest

from lake import EVENT_TABLES, read_table
from simulator.run import run_simulation, simulation_start
from stockflow.delivery import DELIVERY_HEADER
from tests.support import simulate, wait_processed, wait_until
from tests.support.network import auth_headers, call

pytestmark = pytest.mark.integration


def landed_deliveries(lake_dir) -> dict[str, str]:
    """event id → the delivery its row in the lake records."""
    out: dict[str, str] = {}
    for table in EVENT_TABLES:
        rows = read_table(lake_dir, table, ["event_id", "delivery"]).to_pylist()
        out.update({r["event_id"]: r["delivery"] for r in rows})
    return out


def test_the_history_up_writes_lands_backfilled_with_its_transit_legs_and_live_events_live(stack):
    worker = stack.worker()
    settings = stack.settings
    # the history `stockflow up` writes at start (the same call, no live stream after it)
    sent = run_simulation(settings, days=2, live=False, rate=0.0, bad_ratio=0.0)
    run = simulate(stack.catalog, settings.seed, simulation_start(settings, 2), 2)  # what it sent
    assert sent == len(run) and run.transit_legs > 0
    wait_processed(stack, worker, run)
    history = landed_deliveries(stack.lake)
    assert len(history) == run.booked
    assert set(history.values()) == {"backfill"}  # the transit legs the worker made too
    assert any(":transit:" in event_id for event_id in history)

    # live: a device posts as it goes; an import of old documents says it is history
    sku = next(s for s in stack.catalog.skus.values() if not s.batch_managed)
    receipt = {
        "event_type": "goods_receipt",
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "handheld-7",
        "location": "WH1",
        "purchase_order": "PO-HTTP",
        "supplier": "SUP01",
        "sku": sku.sku,
        "gtin": sku.gtin,
        "qty": "2",
        "unit": "case",
        "unit_cost": "120.00",
    }
    headers = {"Content-Type": "application/json", **auth_headers()}
    for event_id, extra in (("http-live", {}), ("http-import", {DELIVERY_HEADER: "backfill"})):
        body = json.dumps({**receipt, "event_id": event_id}).encode()
        status, answer = call(f"{worker.url}/events", body, {**headers, **extra})
        assert status == 202 and answer == {"accepted": [event_id]}

    def posted_landed() -> dict[str, str] | None:
        found = landed_deliveries(stack.lake)
        return found if {"http-live", "http-import"} <= found.keys() else None

    landed = wait_until(posted_landed, 60, "the posted events in the lake")
    assert (landed["http-live"], landed["http-import"]) == ("live", "backfill")
