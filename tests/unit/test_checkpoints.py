"""Replay from checkpoints: the same state as a replay from the lake's beginning and as the
simulator's own ledger, reading only what landed after the checkpoint; damaged checkpoints
are skipped for older ones."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from lake import CheckpointStore, LedgerOnly, lake_files, partition_for, replay_partitions
from lake.landing import Landing
from simulator.company import Simulation, build_catalog
from stockflow.processing import StockProcessor

PARTITIONS = 4  # every one owns a location of the company below


def positions(ledger) -> dict:
    return {k: p.as_dict() for k, p in ledger.positions() if not p.is_empty()}


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """Six simulated days landed as a worker lands them, checkpoints every 200 events per
    partition, then a tail with no checkpoint after it."""
    root = tmp_path_factory.mktemp("lake")
    catalog = build_catalog(7, n_skus=60, n_stores=4, n_warehouses=1)
    sim = Simulation(catalog, seed=11)
    store = CheckpointStore(root / "_checkpoints" / "stock", PARTITIONS, keep=10)
    landing = Landing(root, PARTITIONS, lambda: StockProcessor(catalog), store, checkpoint_every_events=200)
    landing.apply_all(sim.history(date(2026, 5, 1), 6), flush_every=100)
    return root, catalog, sim, store, landing


def fresh(catalog):
    return lambda: StockProcessor(catalog)


def test_replay_from_checkpoints_equals_full_replay_and_the_simulators_ledger(landed):
    root, catalog, sim, store, landing = landed
    assert all(store.paths(p) for p in range(PARTITIONS)), "every partition has checkpoints"
    full = replay_partitions(root, catalog, range(PARTITIONS), PARTITIONS, fresh(catalog))
    quick = replay_partitions(root, catalog, range(PARTITIONS), PARTITIONS, fresh(catalog), checkpoints=store)
    assert all(quick.started_from[p] > 0 for p in range(PARTITIONS))
    assert quick.events < full.events / 2
    merged_full, merged_quick = {}, {}
    for p in range(PARTITIONS):
        merged_full |= positions(full.processors[p].ledger)
        merged_quick |= positions(quick.processors[p].ledger)
        assert positions(quick.processors[p].ledger) == positions(landing.processors[p].ledger)
    assert merged_quick == merged_full == positions(sim.ledger)


def test_a_redelivered_event_is_still_a_duplicate_after_a_checkpoint_restore(landed):
    root, catalog, sim, store, landing = landed
    quick = replay_partitions(root, catalog, range(PARTITIONS), PARTITIONS, fresh(catalog), checkpoints=store)
    # the same company again: its first events are inside every partition's checkpoints
    events = list(Simulation(catalog, seed=11).history(date(2026, 5, 1), 1))[:200]
    for ev in events:
        proc = quick.processors[partition_for(ev.location_id, PARTITIONS)]
        assert proc.ledger.has_applied(ev.event_id)


def test_a_damaged_checkpoint_is_skipped_for_the_one_before_it(landed, tmp_path, caplog):
    root, catalog, sim, store, landing = landed
    # a copy of the store whose newest checkpoint of partition 0 has a flipped byte
    damaged = CheckpointStore(tmp_path / "ckpt", PARTITIONS, keep=10)
    for p in range(PARTITIONS):
        for _seq, path in store.paths(p):
            target = damaged.folder(p) / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (newest_seq, newest), (older_seq, _) = damaged.paths(0)[:2]
    data = bytearray(newest.read_bytes())
    data[-10] ^= 0xFF
    newest.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="lake.checkpoints"):
        quick = replay_partitions(
            root, catalog, range(PARTITIONS), PARTITIONS, fresh(catalog), checkpoints=damaged
        )
    assert "checksum mismatch" in caplog.text
    assert quick.started_from[0] == older_seq
    assert positions(quick.processors[0].ledger) == positions(landing.processors[0].ledger)


def test_no_usable_checkpoint_means_a_replay_from_the_beginning(landed, tmp_path):
    root, catalog, sim, store, landing = landed
    broken = CheckpointStore(tmp_path / "ckpt", PARTITIONS)
    for _seq, path in store.paths(1)[:2]:
        target = broken.folder(1) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated
    other_layout = CheckpointStore(store.root, PARTITIONS + 1)  # a layout of 5 partitions
    for candidate in (broken, other_layout):
        quick = replay_partitions(root, catalog, [1], PARTITIONS, fresh(catalog), checkpoints=candidate)
        assert quick.started_from[1] == 0
        assert positions(quick.processors[1].ledger) == positions(landing.processors[1].ledger)


def test_until_seq_uses_only_checkpoints_at_or_before_it(landed):
    root, catalog, sim, store, landing = landed
    seqs = [seq for seq, _ in store.paths(2)]
    middle = seqs[len(seqs) // 2]
    upto = replay_partitions(
        root, catalog, [2], PARTITIONS, lambda: LedgerOnly.new(catalog), until_seq={2: middle}
    )
    quick = replay_partitions(
        root,
        catalog,
        [2],
        PARTITIONS,
        lambda: LedgerOnly.new(catalog),
        until_seq={2: middle},
        checkpoints=store,
    )
    assert quick.started_from[2] == middle
    assert positions(quick.processors[2].ledger) == positions(upto.processors[2].ledger)


def test_files_before_a_checkpoint_are_not_read(landed):
    root, catalog, sim, store, landing = landed
    newest = max(seq for seq, _ in store.paths(0))
    every = lake_files(root, "scans")
    after = lake_files(root, "scans", after_seq=newest)
    assert 0 < len(after) < len(every) / 2


def test_a_replay_saves_a_checkpoint_as_of_the_mark_it_is_given(landed, tmp_path):
    """The reconciliation's own checkpoints: written by its replay of the lake at a mark below
    which everything has landed; a later replay from one equals a replay from the beginning."""
    root, catalog, sim, store, landing = landed
    seqs = sorted(seq for seq, _ in store.paths(1))
    mark, end = seqs[len(seqs) // 2] + 1, seqs[-1]
    own = CheckpointStore(tmp_path / "reconciliation", PARTITIONS)
    first = replay_partitions(
        root, catalog, [1], PARTITIONS, lambda: LedgerOnly.new(catalog), {1: end}, own, save_at={1: mark}
    )
    assert [seq for seq, _ in own.paths(1)] == [mark]
    plain = replay_partitions(root, catalog, [1], PARTITIONS, lambda: LedgerOnly.new(catalog), {1: mark})
    saved = own.newest(1)
    assert saved is not None
    restored = LedgerOnly.new(catalog)
    restored.restore(saved.state)
    assert positions(restored.ledger) == positions(plain.processors[1].ledger)
    assert set(saved.state["ledger"]["decided"]) == set(plain.processors[1].ledger.snapshot()["decided"])
    again = replay_partitions(root, catalog, [1], PARTITIONS, lambda: LedgerOnly.new(catalog), {1: end}, own)
    assert again.started_from[1] == mark
    assert positions(again.processors[1].ledger) == positions(first.processors[1].ledger)
