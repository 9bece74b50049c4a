"""Faults injected into the real pipeline (embedded broker, worker processes) under load.

After each fault: every event the lake holds is there exactly once and every event the company
sent is among them; every event whose `GET /events/{id}` said `landed` is in the lake; the served
state equals the simulated company's own ledger; every derived message is on the broker (an
inventory change for every event that moved stock, the transit leg of every transfer out); and
each worker's counters add up (in = applied + duplicates + dead-lettered + forwarded).

The oracle is the simulated company's ledger and the messages it sent, not the workers' own
recovery."""

import json
import random
import shutil
import threading
import time
from collections import Counter
from datetime import date

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from lake import read_table
from tests.support import (
    assert_stock_as_simulated,
    get_json,
    lake_event_ids,
    served_positions,
    simulate,
    wait_landed,
    wait_until,
)

pytestmark = pytest.mark.faults

START = date(2026, 6, 1)
RATE = 1000  # events per second while the fault happens


def produce_at_rate(bootstrap, run, rate=RATE, progress=None):
    """Produce the run's messages at about `rate` per second (keyed by location, acks=all)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "partitioner": "murmur2_random"}
    )
    started = time.monotonic()
    for n, msg in enumerate(run, 1):
        while True:
            try:
                producer.produce(msg.topic, key=msg.key.encode(), value=msg.value)
                break
            except BufferError:
                producer.poll(0.05)
        if progress is not None:
            progress["sent"] = n
        ahead = n / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        if n % 500 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def topic_event_ids(bootstrap, topic, partitions, wanted, timeout=60.0):
    """The event ids of a topic's messages, read from the beginning until every id in `wanted`
    is among them, or for `timeout` seconds (the caller's assertion then says what is missing)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{topic}-{time.time()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seen = set()
    deadline = time.monotonic() + timeout
    try:
        while not wanted <= seen and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.add(json.loads(msg.value())["event_id"])
    finally:
        consumer.close()
    return seen


def assert_derived_messages_present(stack, run):
    """An inventory change for every applied event with movements, a transit leg per transfer."""
    bootstrap, partitions = stack.broker.bootstrap, stack.settings.topic_partitions
    moved = set(read_table(stack.lake, "inventory_changed", ["event_id"]).column("event_id").to_pylist())
    changes = topic_event_ids(bootstrap, "inventory_changed", partitions, moved)
    assert moved <= changes, f"{len(moved - changes)} inventory changes never published"
    transfers = {
        json.loads(m.value)["event_id"] for m in run if not m.is_bad and b'"transfer_out"' in m.value
    }
    landed_legs = set(read_table(stack.lake, "stock_transits", ["event_id"]).column("event_id").to_pylist())
    legs = topic_event_ids(bootstrap, "stock_transits", partitions, landed_legs)
    assert len(landed_legs) >= len(transfers) and landed_legs <= legs, (
        "a transit leg is missing on the broker"
    )


def assert_exact(stack, run, workers, landed_said=()):
    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)), "an event landed twice"
    assert run.good_ids <= set(ids), f"{len(run.good_ids - set(ids))} events lost"
    assert len(ids) == run.booked, "a transit leg was lost or doubled"
    assert set(landed_said) <= set(ids), "an event said landed is not in the lake"
    assert_stock_as_simulated(served_positions(workers[0].url, stack.catalog.locations), run)
    for w in workers:
        c = Counter(w.health()["counters"])
        assert c["in"] == c["applied"] + c["duplicates"] + c["dead_lettered"] + c["rerouted"], c
        assert c["dead_lettered.internal_error"] == 0


def sample_landed(worker, run, k=40):
    """Ask `GET /events/{id}` about some events; the ids it said were landed."""
    said = []
    good = [json.loads(m.value) for m in run if not m.is_bad]
    for event in random.Random(1).sample(good, min(k, len(good))):
        location = event.get("location") or event.get("store")
        if event["event_type"] == "transfer_out":
            location = event["from_location"]
        elif event["event_type"] == "transfer_in":
            location = event["to_location"]
        try:
            answer = get_json(f"{worker.url}/events/{event['event_id']}?location={location}", timeout=10)
        except OSError:
            continue
        if answer.get("status") == "landed":
            said.append(event["event_id"])
    return said


def test_kill9_of_a_worker_under_load(stack):
    workers = [stack.worker(), stack.worker(web_port=stack.settings.web_port + 1)]
    run = simulate(stack.catalog, stack.settings.seed, START, 5)
    progress = {"sent": 0}
    producer = threading.Thread(
        target=produce_at_rate, args=(stack.broker.bootstrap, run), kwargs={"progress": progress}
    )
    producer.start()
    wait_until(lambda: progress["sent"] > len(run) // 3, 120, "a third of the load sent", 0.1)
    said = sample_landed(workers[0], run)
    workers[1].kill9()
    time.sleep(1.0)  # the load goes on meanwhile
    restarted = stack.worker(web_port=stack.settings.web_port + 1)
    producer.join()
    wait_landed(stack.lake, run, [workers[0], restarted])
    assert_exact(stack, run, [workers[0], restarted], said)
    assert_derived_messages_present(stack, run)


def test_a_worker_joining_and_one_leaving_under_load(stack):
    first = stack.worker()
    second = stack.worker(web_port=stack.settings.web_port + 1)
    run = simulate(stack.catalog, stack.settings.seed, START, 5)
    progress = {"sent": 0}
    producer = threading.Thread(
        target=produce_at_rate, args=(stack.broker.bootstrap, run), kwargs={"progress": progress}
    )
    producer.start()
    wait_until(lambda: progress["sent"] > len(run) // 4, 120, "a quarter of the load sent", 0.1)
    third = stack.worker(web_port=stack.settings.web_port + 2)
    wait_until(lambda: progress["sent"] > len(run) // 2, 120, "half the load sent", 0.1)
    second.stop()  # leaves cleanly: its partitions move to the others
    producer.join()
    wait_landed(stack.lake, run, [first, third])
    wait_until(lambda: first.health()["ready"] and third.health()["ready"], 60, "both ready")
    assert_exact(stack, run, [first, third], sample_landed(third, run))
    assert sorted(first.health()["partitions"] + third.health()["partitions"]) == list(
        range(stack.settings.topic_partitions)
    )
    assert_derived_messages_present(stack, run)


@pytest.mark.parametrize("where", ["before_lake_write", "after_lake_write"])
def test_a_crash_between_producing_and_landing(stack, where, monkeypatch):
    """Killed with its derived messages on the broker and its rows not written (or written and
    not acked): the restarted worker applies the redelivered events again (or finds them in the
    lake), and nothing is missing or doubled."""
    monkeypatch.setenv("STOCKFLOW_FAILPOINTS", f"{where}=4")
    worker = stack.worker()
    run = simulate(stack.catalog, stack.settings.seed, START, 3)
    producer = threading.Thread(target=produce_at_rate, args=(stack.broker.bootstrap, run))
    producer.start()
    wait_until(lambda: worker.proc.poll() is not None, 120, f"the failpoint {where} to kill the worker")
    assert "failpoint" in worker.log_tail(400)
    monkeypatch.delenv("STOCKFLOW_FAILPOINTS")
    restarted = stack.worker()
    producer.join()
    wait_landed(stack.lake, run, [restarted])
    assert_exact(stack, run, [restarted], sample_landed(restarted, run))
    assert_derived_messages_present(stack, run)


def test_an_unreadable_lake_file_is_moved_aside_with_an_alert(stack):
    worker = stack.worker()
    run = simulate(stack.catalog, stack.settings.seed, START, 2, bad_ratio=0.02)
    produce_at_rate(stack.broker.bootstrap, run, rate=5000)
    wait_landed(stack.lake, run, [worker])
    worker.stop()
    victim = sorted((stack.lake / "dead_letters").glob("date=*/part-*.parquet"))[0]
    victim.write_bytes(b"PAR1 this is not a parquet file any more")
    shutil.rmtree(stack.lake / "_checkpoints", ignore_errors=True)  # the rebuild reads every file
    restarted = stack.worker()  # the rebuild reads the dead letters: no crash loop
    assert restarted.health()["ready"]
    moved = stack.lake / "_unreadable" / victim.relative_to(stack.lake)
    assert moved.exists() and not victim.exists()
    wait_until(
        lambda: any(
            a["alert_type"] == "system" and victim.name in a["message"]
            for a in read_table(stack.lake, "alerts").to_pylist()
        ),
        30,
        "an alert naming the file",
    )
    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)) == run.booked
    assert_stock_as_simulated(served_positions(restarted.url, stack.catalog.locations), run)
