"""Rebuilding stock state from the lake: the ledger is the record, tables are its fast view.

Accepted events are replayed through fresh core processors in the order they were applied
(``apply_seq``); events the ledger refused are remembered as decided, so that a redelivery
stays refused. Dead letters from before the ledger (bad JSON, schema) or from a fault
(``internal_error``) were never decided and are not remembered."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from lake.partitions import partition_for
from lake.reader import iter_rows
from lake.tables import EVENT_TABLES
from stockflow.events import OutputTopic, parse_event
from stockflow.ledger import Ledger
from stockflow.masterdata import Catalog

#: Events that repair the live state only: the record never had the drift they remove.
STATE_ONLY_EVENT_TYPES = frozenset({"stock_correction"})


class Replayable(Protocol):
    """What a replay feeds: a worker's `StockProcessor`, or a `LedgerOnly`."""

    @property
    def ledger(self) -> Ledger: ...

    def process(self, event: object) -> object: ...


P = TypeVar("P", bound=Replayable)


@dataclass
class LedgerOnly:
    """The ledger without the alert rules: for replays that compare stock and raise nothing."""

    ledger: Ledger

    @classmethod
    def new(cls, catalog: Catalog) -> LedgerOnly:
        return cls(Ledger(catalog))

    def process(self, event: object) -> object:
        return self.ledger.apply(event)


def replay_lake(
    lake: Path,
    catalog: Catalog,
    partitions: Iterable[int],
    partition_count: int,
    new_processor: Callable[[], P],
    until_seq: Mapping[int, int] | None = None,
) -> tuple[dict[int, P], int]:
    """Processors for these partitions rebuilt from the lake, and the number of events replayed.

    State corrections are remembered as decided but not applied. `until_seq` stops a
    partition's replay at that apply_seq (the ledger as of a state snapshot)."""
    procs = {p: new_processor() for p in partitions}
    owner = {loc: partition_for(loc, partition_count) for loc in catalog.locations}
    limit = dict(until_seq or {})
    replayed = 0
    columns = ["event_id", "event_type", "location", "payload", "apply_seq"]
    for row in iter_rows(lake, EVENT_TABLES, columns):
        partition = owner.get(row["location"], -1)
        proc = procs.get(partition)
        if proc is None or row["apply_seq"] > limit.get(partition, row["apply_seq"]):
            continue
        if row["event_type"] in STATE_ONLY_EVENT_TYPES:
            proc.ledger.mark_decided(row["event_id"])
            continue
        proc.process(parse_event(row["payload"]))
        replayed += 1
    columns = ["event_id", "partition", "refused_by_ledger", "apply_seq"]
    for row in iter_rows(lake, [OutputTopic.DEAD_LETTERS.value], columns):
        proc = procs.get(row["partition"])
        if proc is not None and row["refused_by_ledger"]:
            proc.ledger.mark_refused(row["event_id"])
    return procs, replayed
