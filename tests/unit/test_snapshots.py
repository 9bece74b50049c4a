"""A processor restored from a snapshot behaves exactly like the one that never stopped.

The oracle is a processor that applied every event without a snapshot; the restored one gets
the first part of the stream through a snapshot (as JSON text, as a checkpoint stores it) and
the rest applied. Results event by event (movements, follow-ups, alerts, duplicates,
refusals) and the final state must be equal."""

from __future__ import annotations

import json
from datetime import date

import pytest

from simulator.company import Simulation, build_catalog
from stockflow.events import parse_event
from stockflow.ledger import StockRejected
from stockflow.processing import StockProcessor


def outcome(proc: StockProcessor, event: object) -> tuple:
    try:
        r = proc.process(event)
    except StockRejected as err:
        return ("refused", err.reason)
    return (
        "duplicate" if r.duplicate else "applied",
        r.movements,
        tuple(f.model_dump_json() for f in r.follow_ups),
        tuple(a.model_dump_json() for a in r.alerts),
    )


@pytest.fixture(scope="module")
def company():
    catalog = build_catalog(7, n_skus=60, n_stores=3, n_warehouses=1)
    sim = Simulation(catalog, seed=7)
    # wire messages with the simulator's own bad share: duplicates, late and refused events too
    events = []
    for msg in sim.messages(sim.history(date(2026, 3, 1), 4), bad_ratio=0.05):
        try:
            events.append(parse_event(msg.value, msg.topic))
        except Exception:  # malformed on purpose: never reaches a processor
            continue
    return catalog, events


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.77, 1.0])
def test_restored_processor_continues_exactly_like_the_one_that_never_stopped(company, cut):
    catalog, events = company
    split = int(len(events) * cut)
    oracle = StockProcessor(catalog, near_expiry_days=3, excursion_minutes=15)
    expected = [outcome(oracle, ev) for ev in events]

    before = StockProcessor(catalog, near_expiry_days=3, excursion_minutes=15)
    got = [outcome(before, ev) for ev in events[:split]]
    stored = json.dumps(before.snapshot())
    restored = StockProcessor(catalog, near_expiry_days=3, excursion_minutes=15)
    restored.restore(json.loads(stored))
    got += [outcome(restored, ev) for ev in events[split:]]

    assert got == expected
    assert sorted(restored.ledger.positions()) == sorted(oracle.ledger.positions())
    assert _same_state(restored, oracle)


def _same_state(a: StockProcessor, b: StockProcessor) -> bool:
    """Snapshots list sets in their iteration order: compare them as sets."""
    sa, sb = a.snapshot(), b.snapshot()
    for part in ("below_reorder", "expiry_alerted"):
        if sorted(map(json.dumps, sa[part])) != sorted(map(json.dumps, sb[part])):
            return False
    la, lb = sa["ledger"], sb["ledger"]
    for part in la:
        x, y = la[part], lb[part]
        if isinstance(x, list):
            if sorted(map(json.dumps, x)) != sorted(map(json.dumps, y)):
                return False
        elif x != y:
            return False
    return True


def test_the_stream_exercises_what_a_snapshot_must_carry(company):
    """The cut points above only prove something if the state they cut through is rich."""
    catalog, events = company
    proc = StockProcessor(catalog, near_expiry_days=3, excursion_minutes=15)
    kinds = {outcome(proc, ev)[0] for ev in events}
    state = proc.snapshot()["ledger"]
    assert {"applied", "duplicate", "refused"} <= kinds
    assert state["expiry"] and state["counts"] and state["recent"] and state["reservations"] is not None
