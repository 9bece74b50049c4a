"""The simulated company as the oracle of the pipeline's tests, and waits on what it sent.

The `Simulation` keeps its own ledger of the stock it holds (it sells only what is on its
shelves): that ledger, not a replay of the lake (the workers' own recovery), is what the
positions a worker serves are checked against (`assert_stock_as_simulated`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from simulator.company import SimMessage, Simulation
from stockflow.masterdata import Catalog
from tests.support.pipeline import Worker, lake_dead_letters, lake_event_ids
from tests.support.waiting import wait_until

Positions = dict[tuple[str, str, str], dict[str, int]]


@dataclass(frozen=True)
class SimulatedRun:
    """The messages a simulated company sent (iterating a run gives them) and what its own
    ledger booked: its positions, and how many events it booked, each event it sent once plus
    the transit leg of every transfer it dispatched (a worker books those legs itself)."""

    messages: tuple[SimMessage, ...]
    booked: int
    positions: Positions
    warehouses: frozenset[str]

    def __iter__(self) -> Iterator[SimMessage]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def bad(self) -> list[SimMessage]:
        """The messages that must end as dead letters."""
        return [m for m in self.messages if m.is_bad]

    @property
    def good_ids(self) -> set[str]:
        """The ids of the valid events sent (duplicates and late ones included)."""
        return {m.event_id for m in self.messages if not m.is_bad}

    @property
    def transit_legs(self) -> int:
        return self.booked - len(self.good_ids)

    @property
    def intake(self) -> int:
        """How many messages the workers take in when each is delivered once: those sent, and
        the transit legs they produce themselves."""
        return len(self.messages) + self.transit_legs


def simulate(catalog: Catalog, seed: int, start: date, days: int, bad_ratio: float = 0.0) -> SimulatedRun:
    """Opening stock and `days` days of the company's events from `start`, as wire messages
    (with bad ones, duplicates and late ones mixed in at `bad_ratio`)."""
    sim = Simulation(catalog, seed=seed)
    messages = tuple(sim.messages(sim.history(start, days), bad_ratio))
    positions = {(k.location, k.sku, k.batch): p.as_dict() for k, p in sim.ledger.positions()}
    warehouses = frozenset(w.location for w in sim.warehouses)
    # The simulation sends every event its ledger books, and that ledger refuses none of the
    # events it makes (it sells only what is on its shelves): what the ledger decided is what
    # was sent and the transit legs of its transfers. A refusal would count here without being
    # sent, and the waits below would time out on it rather than pass.
    return SimulatedRun(messages, sim.ledger.applied_count, positions, warehouses)


def stock_by_sku(positions: Positions) -> dict[tuple[str, str], dict[str, int]]:
    """Each location × SKU's stock summed over its batches (those with none left out)."""
    totals: dict[tuple[str, str], Counter[str]] = {}
    for (location, sku, _batch), position in positions.items():
        totals.setdefault((location, sku), Counter()).update(position)
    return {key: dict(total) for key, total in totals.items() if any(total.values())}


def stock_at(positions: Positions, locations: Iterable[str]) -> Positions:
    wanted = set(locations)
    return {key: position for key, position in positions.items() if key[0] in wanted}


def assert_stock_as_simulated(served: Positions, run: SimulatedRun) -> None:
    """Served positions hold the stock the company's ledger holds: per location × SKU, and per
    batch in the warehouses. A till sale names no batch, so the ledger issues it from the batch
    it finds first; whether a store's sale or its transfer-in (on another topic: nothing orders
    the two) arrives first decides which of the store's batches it comes from, not how much the
    store holds. Every event a warehouse books comes on one topic, in the order it was sent."""
    assert stock_by_sku(served) == stock_by_sku(run.positions)
    assert stock_at(served, run.warehouses) == stock_at(run.positions, run.warehouses)


def wait_landed(lake_dir: Path, run: SimulatedRun, workers: Sequence[Worker], timeout: float = 240) -> None:
    """Until the lake holds as many events as the company booked and a dead letter for each bad
    message, and no worker has rows left to land. Holds across worker restarts; the caller
    checks afterwards that these are the right events, each once."""
    seen: dict[str, int] = {}

    def landed() -> bool:
        seen["pending"] = sum(w.health()["lake_pending_rows"] for w in workers)
        seen["events"] = len(set(lake_event_ids(lake_dir)))
        seen["dead_letters"] = len(lake_dead_letters(lake_dir))
        return seen["events"] >= run.booked and seen["dead_letters"] >= len(run.bad) and not seen["pending"]

    what = f"{run.booked} events and {len(run.bad)} dead letters in the lake"
    try:
        _waiting(landed, timeout, what, seen, workers, interval=1.0)
    except AssertionError as err:
        missing = sorted(run.good_ids - set(lake_event_ids(lake_dir)))
        raise AssertionError(f"events sent but not in the lake: {missing[:20]}; {err}") from None


def wait_decided(workers: Sequence[Worker], run: SimulatedRun, timeout: float = 240) -> None:
    """Until the workers, running since before `run` was produced, have taken in every message
    of it and every transit leg they produced, and decided each one (applied, duplicate, dead
    letter, or forwarded to its partition)."""
    seen: dict[str, int] = {}

    def decided() -> bool:
        counters: Counter[str] = Counter()
        for w in workers:
            counters.update(w.health()["counters"])
        seen.update({k: counters[k] for k in ("in", "applied", "duplicates", "dead_lettered", "rerouted")})
        outcomes = (
            counters["applied"] + counters["duplicates"] + counters["dead_lettered"] + counters["rerouted"]
        )
        return counters["in"] - counters["rerouted"] >= run.intake and counters["in"] == outcomes

    _waiting(decided, timeout, f"{run.intake} messages taken in and decided", seen, workers, interval=0.25)


def wait_processed(stack, worker: Worker | Sequence[Worker], run: SimulatedRun, timeout: float = 240) -> None:
    """Until the worker(s) of `stack`, running since before `run` was produced, have decided
    every message of it (`wait_decided`) and the lake holds the outcome (`wait_landed`)."""
    assert isinstance(run, SimulatedRun), "wait_processed needs the SimulatedRun that was produced"
    workers = [worker] if isinstance(worker, Worker) else list(worker)
    wait_decided(workers, run, timeout)
    wait_landed(stack.lake, run, workers, timeout)


def _waiting(
    check, timeout: float, what: str, seen: dict, workers: Sequence[Worker], interval: float
) -> None:
    try:
        wait_until(check, timeout, what, interval)
    except AssertionError as err:
        logs = "\n".join(w.log_tail() for w in workers)
        raise AssertionError(f"{err}; last seen: {seen}\n{logs}") from None
