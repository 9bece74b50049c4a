"""The spine against the real embedded broker and real Faust worker processes.

Each test has a broker of its own (`stack`, about 0.2 s to start): a broker keeps the input
topics, the workers' consumer group with its committed offsets and the positions table's
changelog, all of which a worker of the next test would resume from. What the workers serve is
checked against the simulated company's own ledger (`assert_stock_as_simulated`), never
against a replay of the lake (that replay is the workers' own recovery)."""

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from simulator.company import MessageKind
from tests.support import (
    SimulatedRun,
    assert_stock_as_simulated,
    free_port,
    get_json,
    lake_dead_letters,
    lake_event_ids,
    post_json,
    produce_with_confluent,
    served_positions,
    simulate,
    wait_landed,
    wait_processed,
    wait_until,
)
from tests.support.network import auth_headers

pytestmark = pytest.mark.integration
START = date(2026, 5, 4)


def simulated(stack, days=3, bad_ratio=0.0) -> SimulatedRun:
    """The stack's company from `START` for `days` days, with its own ledger's record."""
    return simulate(stack.catalog, stack.settings.seed, START, days, bad_ratio)


def test_served_positions_equal_the_simulated_company_s_stock(stack):
    worker = stack.worker()
    run = simulated(stack, days=3)
    assert len(run) > 5000 and run.transit_legs > 100
    produce_with_confluent(stack.broker.bootstrap, run)
    wait_processed(stack, worker, run)

    assert worker.health()["counters"]["applied"] == run.booked
    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)) == run.booked, "an event landed twice, or one is missing"
    assert run.good_ids <= set(ids)
    served = served_positions(worker.url, stack.catalog.locations)
    assert_stock_as_simulated(served, run)
    assert sum(p["on_hand"] for p in served.values()) > 0
    single = get_json(f"{worker.url}/stock/ST01/{next(k[1] for k in served if k[0] == 'ST01')}")
    assert single["location"] == "ST01" and single["batches"]


def test_bad_events_are_dead_lettered_and_counts_add_up(stack):
    worker = stack.worker()
    run = simulated(stack, days=2, bad_ratio=0.05)
    kinds = Counter(m.kind for m in run)
    assert (
        kinds[MessageKind.MALFORMED_JSON]
        and kinds[MessageKind.INVALID_GTIN]
        and kinds[MessageKind.UNKNOWN_SKU]
        and kinds[MessageKind.DUPLICATE]
    )
    produce_with_confluent(stack.broker.bootstrap, run)
    wait_processed(stack, worker, run)

    # every message was decided once: each event and transit leg applied, each repeat of an
    # event recognised, each bad message dead-lettered
    counters = worker.health()["counters"]
    assert counters["applied"] == run.booked
    assert counters.get("duplicates", 0) == kinds[MessageKind.DUPLICATE]
    assert counters["dead_lettered"] == len(run.bad)
    dead = lake_dead_letters(stack.lake)
    reasons = Counter(d["reason"] for d in dead)
    assert len(dead) == len(run.bad), reasons
    assert reasons["malformed_json"] == kinds[MessageKind.MALFORMED_JSON]
    assert reasons["invalid_gtin"] == kinds[MessageKind.INVALID_GTIN]
    assert reasons["unknown_sku"] + reasons["unknown_location"] == kinds[MessageKind.UNKNOWN_SKU]
    # the original payload is kept byte for byte
    assert {d["payload"] for d in dead} == {m.value for m in run.bad}
    # every good event exactly once (duplicates and late events included)
    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)) == run.booked
    assert run.good_ids <= set(ids)
    # the dead_letters topic carries the reason for other consumers
    consumer = Consumer({"bootstrap.servers": stack.broker.bootstrap, "group.id": "t"})
    consumer.assign(
        [TopicPartition("dead_letters", p, OFFSET_BEGINNING) for p in range(stack.settings.topic_partitions)]
    )
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < len(run.bad) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seen.append(json.loads(msg.value()))
    consumer.close()
    assert len(seen) == len(run.bad)
    assert all(r["reason"] and r["detail"] and r["payload"] is not None for r in seen)


def test_kill9_mid_burst_loses_and_doubles_nothing(stack):
    worker = stack.worker()
    run = simulated(stack, days=4)
    producer = threading.Thread(target=produce_with_confluent, args=(stack.broker.bootstrap, run))
    producer.start()
    wait_until(
        lambda: worker.health()["counters"].get("applied", 0) > 2000, 120, "the burst to be under way", 0.1
    )
    worker.kill9()
    producer.join()
    restarted = stack.worker()
    # the restarted worker's counters start at zero: wait on the lake
    wait_landed(stack.lake, run, [restarted])

    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)), "an event was counted twice"
    assert run.good_ids <= set(ids), "an event was lost"
    assert len(ids) == run.booked, "a transit leg was lost"
    assert_stock_as_simulated(served_positions(restarted.url, stack.catalog.locations), run)


def test_broker_restart_rebuilds_the_same_state_from_the_lake(stack):
    worker = stack.worker()
    run = simulated(stack, days=2)
    produce_with_confluent(stack.broker.bootstrap, run)
    wait_processed(stack, worker, run)
    before = served_positions(worker.url, stack.catalog.locations)
    assert_stock_as_simulated(before, run)

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
    for path in ("/events", "/alerts"):  # a body that is not JSON: 400 with the reason, both ways
        request = urllib.request.Request(
            f"{worker.url}{path}",
            data=b"{not json",
            method="POST",
            headers={"Content-Type": "application/json", **auth_headers()},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400 and json.loads(refused.value.read())["error"] == "malformed_json"


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
    run = simulated(stack, days=1)
    produce_with_confluent(stack.broker.bootstrap, run)
    wait_processed(stack, [first, second], run)
    locations = list(stack.catalog.locations)
    served = served_positions(first.url, locations)
    assert served_positions(second.url, locations) == served
    assert_stock_as_simulated(served, run)
