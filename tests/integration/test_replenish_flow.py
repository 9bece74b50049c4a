"""`replenish` on a real Prefect server over live stream state: suggestions, and the approval of
one that becomes an event the stream books (the loop closes)."""

from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pytest

from infra.worker_client import WorkerClient
from stockflow.events import StockAdjustment
from stockflow.replenishment import SuggestionError
from stockflow.services.planning import decide_suggestion, list_suggestions
from stores import warehouse
from stores.audit_log import AuditLog
from stores.books import Books
from stores.planning import Planning
from tests.integration.test_pipeline import simulated, wait_processed
from tests.support import get_json, lake_event_ids, post_json, produce_with_confluent, wait_until

pytestmark = pytest.mark.integration


def run_replenish(settings, var_dir, web_url):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.replenish import replenish

    with temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}):
        summary = replenish(var_dir=str(var_dir), web_url=web_url)
        with get_client(sync_client=True) as client:
            # the session's server holds other tests' runs too: this one's name its folder
            runs = [r for r in client.read_flow_runs() if r.parameters.get("var_dir") == str(var_dir)]
            states = [r.state.type.value for r in runs if r.name]
    return summary, states


def stock(worker, location, sku):
    return get_json(f"{worker.url}/stock/{location}/{sku}")


def test_an_approved_transfer_is_booked_in_transit_and_an_approved_order_is_on_order(stack, prefect_server):
    worker = stack.worker()
    messages = simulated(stack, days=3)
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)
    var = stack.settings.var_dir
    Books(var, stack.catalog).post_new_movements()
    assert warehouse.build(var, stack.catalog, full=True).success
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        orders = con.execute(
            "SELECT count(*), count(lead_time_days), sum(open_units) FROM fct_purchase_orders"
        ).fetchall()[0]
    assert orders[0] > 0 and orders[1] > 0  # the simulated company's orders, most of them received

    # ST01 loses all of the SKU that the DC in the same city holds most of
    def candidates():
        for sku in stack.catalog.skus:
            store, dc = stock(worker, "ST01", sku), stock(worker, "WH1", sku)
            if store["available"] > 0 and store["in_transit"] == 0:
                yield dc["available"], sku, store

    _, sku, before = max(candidates())
    lost = StockAdjustment(
        event_id="test-damage-1",
        occurred_at=datetime.now(UTC),
        source="RF-ST01",
        location="ST01",
        sku=sku,
        qty=Decimal(-before["available"]),
        reason="damage",
    )
    assert post_json(f"{worker.url}/events", [lost.model_dump(mode="json")])[0] == 202
    wait_until(lambda: stock(worker, "ST01", sku)["available"] == 0, 30, "the damage booked")

    summary, states = run_replenish(prefect_server, var, worker.url)
    assert states == ["COMPLETED"] and summary["series"] > 0
    planning, audit = Planning(var), AuditLog(var)

    def decide(suggestion_id, decision, reviewer, reason="", role="", publish=None):
        return decide_suggestion(planning, audit, suggestion_id, decision, reviewer, reason, role, publish)

    proposed = list_suggestions(planning)
    assert len(proposed) == summary["orders"] + summary["transfers"] > 0
    transfer = next(
        s for s in proposed if s["kind"] == "transfer" and (s["location"], s["sku"]) == ("ST01", sku)
    )
    assert transfer["distance_km"] <= 50 and transfer["quantity"] > 0
    for order in (s for s in proposed if s["kind"] == "purchase"):
        master = stack.catalog.skus[order["sku"]]
        assert order["supplier"] == master.supplier
        assert order["quantity"] >= master.moq and order["quantity"] % (master.min_pack_units or 1) == 0
    purchase = next(
        s for s in proposed if s["kind"] == "purchase" and (s["location"], s["sku"]) == ("ST01", sku)
    )

    # approving the transfer dispatches it: the stream books it in transit at ST01
    donor_before = stock(worker, transfer["from_location"], sku)["on_hand"]
    publish = WorkerClient(worker.url)
    approved = decide(transfer["suggestion_id"], "approved", "王经理", role="manager", publish=publish)
    assert approved["status"] == "approved" and approved["event_id"].endswith(":transfer")
    wait_until(
        lambda: stock(worker, "ST01", sku)["in_transit"] == transfer["quantity"],
        30,
        "the transfer in transit",
    )
    assert stock(worker, transfer["from_location"], sku)["on_hand"] == donor_before - transfer["quantity"]

    # approving the order places it: a purchase order event in the stream and the lake
    ordered = decide(purchase["suggestion_id"], "approved", "王经理", publish=publish)
    assert ordered["reference"] == f"PO-{purchase['suggestion_id']}"
    wait_until(lambda: ordered["event_id"] in set(lake_event_ids(stack.lake)), 30, "the order landed")
    with pytest.raises(SuggestionError, match="already approved"):
        decide(purchase["suggestion_id"], "rejected", "x", "too late", publish=publish)
    others = [s for s in list_suggestions(planning) if s["suggestion_id"] not in (transfer["suggestion_id"],)]
    rejected = others[0]
    with pytest.raises(SuggestionError, match="reason"):
        decide(rejected["suggestion_id"], "rejected", "王经理", " ")
    assert decide(rejected["suggestion_id"], "rejected", "王经理", "overstocked")["status"] == "rejected"
    # three decisions taken, three audit entries (the refused ones left none), chained
    assert [(e["action"], e["details"]["event_id"]) for e in audit.records()] == [
        ("suggestion.approved", approved["event_id"]),
        ("suggestion.approved", ordered["event_id"]),
        ("suggestion.rejected", None),
    ]
    assert audit.records()[-1]["reason"] == "overstocked" and audit.verify().ok

    # the next run counts both: nothing more for ST01 × SKU, and the old proposals expire
    summary, _ = run_replenish(prefect_server, var, worker.url)
    assert summary["expired"] == len(proposed) - 3
    again = list_suggestions(planning)
    assert not [s for s in again if (s["location"], s["sku"]) == ("ST01", sku)]
    statuses = {s["suggestion_id"]: s["status"] for s in list_suggestions(planning, status=None)}
    assert statuses[transfer["suggestion_id"]] == statuses[purchase["suggestion_id"]] == "approved"
    assert statuses[rejected["suggestion_id"]] == "rejected"
    assert sum(v == "expired" for v in statuses.values()) == summary["expired"]
