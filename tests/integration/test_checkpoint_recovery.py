"""A worker killed with SIGKILL mid-stream, with checkpoints written while it ran: its successor
rebuilds from the newest checkpoint and the rows landed after it, and nothing is lost or
counted twice (the oracle: the simulated company's own ledger)."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from lake import CheckpointStore
from tests.support import (
    assert_stock_as_simulated,
    lake_event_ids,
    produce_with_confluent,
    served_positions,
    simulate,
    wait_landed,
    wait_until,
)

pytestmark = pytest.mark.integration
START = date(2026, 5, 4)


def test_a_worker_killed_mid_stream_rebuilds_from_its_checkpoints(stack, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_CHECKPOINT_EVERY_EVENTS", "400")  # the workers inherit it
    worker = stack.worker()
    run = simulate(stack.catalog, stack.settings.seed, START, 4)
    produced: list = []

    def produce() -> None:
        try:
            produced.append(produce_with_confluent(stack.broker.bootstrap, run))
        except Exception as exc:  # shown if the worker waits in vain
            produced.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    seen: dict = {}
    store = CheckpointStore(stack.settings.checkpoints_dir, stack.settings.topic_partitions)

    def checkpointed() -> bool:
        # a checkpoint of every partition (how many a partition gets depends on how many of its
        # events one lake flush takes, so only one each is certain)
        seen.update(worker.health())
        return all(store.paths(p) for p in range(stack.settings.topic_partitions))

    try:
        wait_until(checkpointed, 120, "a checkpoint of every partition", 0.1)
    except AssertionError as err:  # what the worker had done, and its log, say why
        shown = {k: seen.get(k) for k in ("partitions", "counters", "checkpoints_written", "ready")}
        shown["produced"] = produced
        raise AssertionError(f"{err}; worker: {shown}\n{worker.log_tail(80)}") from None
    worker.kill9()
    producer.join()
    assert produced == [len(run.messages)], produced
    written = {p: [seq for seq, _ in store.paths(p)] for p in range(stack.settings.topic_partitions)}
    assert all(written.values()), written

    restarted = stack.worker()
    rebuilt_from = {int(p): seq for p, seq in restarted.health()["rebuilt_from_checkpoint"].items()}
    assert rebuilt_from == {p: max(seqs) for p, seqs in written.items()}, "rebuilt from the newest ones"
    wait_landed(stack.lake, run, [restarted])

    ids = lake_event_ids(stack.lake)
    assert len(ids) == len(set(ids)), "an event was counted twice"
    assert run.good_ids <= set(ids), "an event was lost"
    assert len(ids) == run.booked, "a transit leg was lost"
    assert_stock_as_simulated(served_positions(restarted.url, stack.catalog.locations), run)


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(stack, monkeypatch):
    # a checkpoint at every lake flush that changed a partition, and the events in two halves,
    # the second sent once the first has landed: a partition with events in both has two
    monkeypatch.setenv("STOCKFLOW_CHECKPOINT_EVERY_EVENTS", "1000000")
    monkeypatch.setenv("STOCKFLOW_CHECKPOINT_EVERY_SECONDS", "0.001")
    worker = stack.worker()
    run = simulate(stack.catalog, stack.settings.seed, START, 2)
    half = len(run.messages) // 2
    produce_with_confluent(stack.broker.bootstrap, run.messages[:half])

    def first_half_landed() -> bool:
        health = worker.health()
        return health["counters"].get("in", 0) >= half and not health["lake_pending_rows"]

    wait_until(first_half_landed, 120, "the first half landed", 0.1)
    produce_with_confluent(stack.broker.bootstrap, run.messages[half:])
    wait_landed(stack.lake, run, [worker])
    worker.stop()

    partitions = stack.settings.topic_partitions
    store = CheckpointStore(stack.settings.checkpoints_dir, partitions)
    damaged = next(p for p in range(partitions) if len(store.paths(p)) >= 2)
    (_, newest), (older_seq, _) = store.paths(damaged)[:2]
    newest.write_bytes(newest.read_bytes()[:-7] + b"garbage")

    restarted = stack.worker()
    assert restarted.health()["rebuilt_from_checkpoint"][str(damaged)] == older_seq
    assert_stock_as_simulated(served_positions(restarted.url, stack.catalog.locations), run)
    log = restarted.log_path.read_text(errors="replace")
    assert "checksum mismatch" in log and "trying an older one" in log
