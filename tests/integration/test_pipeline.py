"""The spine against the real embedded broker and real Faust worker processes."""

import json
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from confluent_kafka import Consumer

from simulator.company import MessageKind, Simulation
from tests.support import (
    free_port,
    get_json,
    lake_dead_letters,
    lake_event_ids,
    post_json,
    produce_with_confluent,
    replay_lake,
    served_positions,
    wait_until,
)

pytestmark = pytest.mark.integration
START = date(2026, 5, 4)


def simulated(stack, days=3, bad_ratio=0.0):
    sim = Simulation(stack.catalog, seed=stack.settings.seed)
    return list(sim.messages(sim.history(START, days), bad_ratio))


def wait_processed(stack, worker, messages, timeout=240):
    """Until every good message is in the lake and every bad one dead-lettered, and the worker is idle."""
    good = {m.event_id for m in messages if not m.is_bad}
    bad = sum(m.is_bad for m in messages)

    def done():
        landed = set(lake_event_ids(stack.lake))
        dead = len(lake_dead_letters(stack.lake))
        return good <= landed and dead >= bad and worker.health()["lake_pending_rows"] == 0

    try:
        wait_until(done, timeout, "all messages processed")
    except AssertionError:
        print(worker.log_tail())
        raise
    # transit legs are produced by the worker itself: wait until its counters stand still
    wait_until(lambda: _settled(worker), 30, "the worker to settle")


def _settled(worker):
    before = worker.health()["counters"].get("in", 0)
    time.sleep(2.0)
    after = worker.health()
    return after["counters"].get("in", 0) == before and after["lake_pending_rows"] == 0


def test_served_positions_equal_a_replay_of_the_lake(stack):
    worker = stack.worker()
    messages = simulated(stack, days=3)
    assert len(messages) > 5000
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)

    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)), "an event landed twice"
    expected = replay_lake(stack.lake, stack.catalog)
    served = served_positions(worker.url, stack.catalog.locations)
    assert served == expected
    assert sum(p["on_hand"] for p in served.values()) > 0
    single = get_json(f"{worker.url}/stock/ST01/{next(k[1] for k in served if k[0] == 'ST01')}")
    assert single["location"] == "ST01" and single["batches"]


def test_bad_events_are_dead_lettered_and_counts_add_up(stack):
    worker = stack.worker()
    messages = simulated(stack, days=2, bad_ratio=0.05)
    kinds = Counter(m.kind for m in messages)
    assert (
        kinds[MessageKind.MALFORMED_JSON]
        and kinds[MessageKind.INVALID_GTIN]
        and kinds[MessageKind.UNKNOWN_SKU]
    )
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)

    counters = worker.health()["counters"]
    assert counters["in"] == counters["applied"] + counters.get("duplicates", 0) + counters[
        "dead_lettered"
    ] + counters.get("rerouted", 0)
    dead = lake_dead_letters(stack.lake)
    reasons = Counter(d["reason"] for d in dead)
    bad = [m for m in messages if m.is_bad]
    assert len(dead) == len(bad), reasons
    assert reasons["malformed_json"] == kinds[MessageKind.MALFORMED_JSON]
    assert reasons["invalid_gtin"] == kinds[MessageKind.INVALID_GTIN]
    assert reasons["unknown_sku"] + reasons["unknown_location"] == kinds[MessageKind.UNKNOWN_SKU]
    # the original payload is kept byte for byte
    assert {d["payload"] for d in dead} == {m.value for m in bad}
    # every good event exactly once (duplicates and late events included)
    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids))
    assert {m.event_id for m in messages if not m.is_bad} <= set(ids)
    # the dead_letters topic carries the reason for other consumers
    consumer = Consumer(
        {"bootstrap.servers": stack.broker.bootstrap, "group.id": "t", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["dead_letters"])
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < len(bad) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seen.append(json.loads(msg.value()))
    consumer.close()
    assert len(seen) == len(bad)
    assert all(r["reason"] and r["detail"] and r["payload"] is not None for r in seen)


def test_kill9_mid_burst_loses_and_doubles_nothing(stack):
    worker = stack.worker()
    messages = simulated(stack, days=4)
    producer = threading.Thread(target=produce_with_confluent, args=(stack.broker.bootstrap, messages))
    producer.start()
    wait_until(
        lambda: worker.health()["counters"].get("applied", 0) > 2000, 120, "the burst to be under way", 0.1
    )
    worker.kill9()
    producer.join()
    restarted = stack.worker()
    wait_processed(stack, restarted, messages)

    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)), "an event was counted twice"
    assert {m.event_id for m in messages} <= set(ids), "an event was lost"
    assert served_positions(restarted.url, stack.catalog.locations) == replay_lake(stack.lake, stack.catalog)
    assert restarted.health()["counters"].get("duplicates", 0) >= 0


def test_broker_restart_rebuilds_the_same_state_from_the_lake(stack):
    worker = stack.worker()
    messages = simulated(stack, days=2)
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)
    before = served_positions(worker.url, stack.catalog.locations)

    worker.stop()
    stack.broker.stop()  # memory only: every topic and offset is gone
    stack.broker.start()
    from streams.broker import ensure_topics

    ensure_topics(stack.broker.bootstrap, stack.settings.topic_partitions)
    again = stack.worker()
    assert served_positions(again.url, stack.catalog.locations) == before
    assert again.health()["rebuild_seconds"]


def test_post_events_validates_and_produces(stack):
    worker = stack.worker()
    sku = next(s for s in stack.catalog.skus.values() if not s.batch_managed)
    receipt = {
        "event_type": "goods_receipt",
        "event_id": "http-1",
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
    status, body = post_json(f"{worker.url}/events", receipt)
    assert status == 202 and body == {"accepted": ["http-1"]}
    item = wait_until(
        lambda: (r := get_json(f"{worker.url}/stock/WH1/{sku.sku}"))["on_hand"] and r,
        30,
        "the receipt to apply",
    )
    assert item["on_hand"] == 2 * sku.packs["case"]

    bad = {**receipt, "event_id": "http-2", "occurred_at": "2026-05-04T10:00:00"}
    status, body = post_json(f"{worker.url}/events", bad)
    assert status == 400 and body["errors"][0]["error"] == "schema_violation"
    assert "occurred_at" in body["errors"][0]["detail"]
    status, _ = post_json(f"{worker.url}/events", {"event_type": "transit_dispatched"})
    assert status == 400


def test_any_worker_answers_for_any_location(stack):
    first = stack.worker()
    second = stack.worker(free_port())  # any free port: the next one up may be taken
    wait_until(
        lambda: (
            first.health()["partitions"]
            and second.health()["partitions"]
            and len(first.health()["partitions"]) + len(second.health()["partitions"])
            == stack.settings.topic_partitions
        ),
        60,
        "partitions to spread over both workers",
    )
    messages = simulated(stack, days=1)
    produce_with_confluent(stack.broker.bootstrap, messages)
    good = {m.event_id for m in messages}
    wait_until(lambda: good <= set(lake_event_ids(stack.lake)), 180, "all events in the lake")
    wait_until(lambda: _settled(first) and _settled(second), 30, "workers to settle")
    locations = list(stack.catalog.locations)
    assert served_positions(first.url, locations) == served_positions(second.url, locations)
    assert served_positions(first.url, locations) == replay_lake(stack.lake, stack.catalog)
