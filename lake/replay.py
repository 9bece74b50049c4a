"""Rebuilding stock state from the lake: the ledger is the record, tables are its fast view.

Accepted events are replayed through core processors in the order they were applied
(``apply_seq``), without the admission rules (``admit=False``): a SKU's lifecycle state or an
exchange rate now may differ from what they were when the event was admitted, and the record
books what was admitted then. Events the ledger refused are remembered as decided, so that a
redelivery stays refused. Dead letters from before the ledger (bad JSON, schema) or from a fault
(``internal_error``) were never decided and are not remembered.

With a checkpoint store, each partition starts from its newest usable checkpoint and replays
only the rows that landed after it, so recovery costs the time since the last checkpoint, not
all of history."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from lake.checkpoints import CheckpointStore
from lake.partitions import partition_for
from lake.reader import iter_rows
from lake.tables import EVENT_TABLES
from stockflow.events import OutputTopic, parse_event
from stockflow.ledger import Ledger
from stockflow.masterdata import Catalog

log = logging.getLogger(__name__)

#: Events that repair the live state only: the record never had the drift they remove.
STATE_ONLY_EVENT_TYPES = frozenset({"stock_correction"})


class Replayable(Protocol):
    """What a replay feeds: a worker's `StockProcessor`, or a `LedgerOnly`."""

    @property
    def ledger(self) -> Ledger: ...

    def process(self, event: object, admit: bool = True) -> object:
        """Apply one event; a replay passes ``admit=False`` (see `Ledger.apply`)."""
        ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: Mapping[str, Any]) -> None: ...


P = TypeVar("P", bound=Replayable)


@dataclass
class LedgerOnly:
    """The ledger without the alert rules: for replays that compare stock and raise nothing."""

    ledger: Ledger

    @classmethod
    def new(cls, catalog: Catalog) -> LedgerOnly:
        return cls(Ledger(catalog))

    def process(self, event: object, admit: bool = True) -> object:
        return self.ledger.apply(event, admit)

    def snapshot(self) -> dict[str, Any]:
        return {"ledger": self.ledger.snapshot()}

    def restore(self, data: Mapping[str, Any]) -> None:
        self.ledger = Ledger.from_snapshot(self.ledger.catalog, data["ledger"])


@dataclass
class Replay(Generic[P]):
    """Replayed processors per partition, and how each one got there."""

    processors: dict[int, P]
    #: Per partition: the apply_seq of the checkpoint it started from (0: the lake's beginning).
    started_from: dict[int, int] = field(default_factory=dict)
    #: Per partition: the highest apply_seq its state includes (its checkpoint's or a row's).
    highest_seq: dict[int, int] = field(default_factory=dict)
    events: int = 0
    checkpoints_skipped: int = 0


def replay_partitions(
    lake: Path,
    catalog: Catalog,
    partitions: Iterable[int],
    partition_count: int,
    new_processor: Callable[[], P],
    until_seq: Mapping[int, int] | None = None,
    checkpoints: CheckpointStore | None = None,
    save_at: Mapping[int, int] | None = None,
) -> Replay[P]:
    """Processors for these partitions rebuilt from the lake (from their newest checkpoints when
    a store is given).

    State corrections are remembered as decided but not applied. `until_seq` stops a
    partition's replay at that apply_seq (the ledger as of a state snapshot); a checkpoint newer
    than that is not used. `save_at` writes a new checkpoint of a partition into the store as of
    that apply_seq (every row at or below it must have landed), when the replay passes it."""
    limit = dict(until_seq or {})
    out: Replay[P] = Replay({})
    pending_saves: dict[int, int] = {}
    for p in partitions:
        proc = new_processor()
        start = 0
        if checkpoints is not None:
            found = checkpoints.newest(p, at_most=limit.get(p))
            if found is not None:
                collecting = gc.isenabled()
                gc.disable()  # restoring builds the whole state at once and frees nothing
                try:
                    proc.restore(found.state)
                finally:
                    if collecting:
                        gc.enable()
                start = found.apply_seq
        out.processors[p] = proc
        out.started_from[p] = start
        out.highest_seq[p] = start
        mark = min(save_at.get(p, 0), limit.get(p, save_at.get(p, 0))) if save_at else 0
        if checkpoints is not None and mark > start:
            pending_saves[p] = mark
    if not out.processors:
        return out

    owner = {loc: partition_for(loc, partition_count) for loc in catalog.locations}
    after = min(out.started_from.values())

    def wanted(partition: int, seq: int) -> bool:
        return partition in out.processors and out.started_from[partition] < seq <= limit.get(partition, seq)

    # events the ledger refused, as decided: a redelivery stays refused
    refusals = [
        (row["partition"], row["apply_seq"], row["event_id"])
        for row in iter_rows(
            lake,
            [OutputTopic.DEAD_LETTERS.value],
            ["event_id", "partition", "refused_by_ledger", "apply_seq"],
            after_seq=after,
        )
        if row["refused_by_ledger"] and wanted(row["partition"], row["apply_seq"])
    ]

    def save(partition: int) -> None:
        assert checkpoints is not None
        mark = pending_saves.pop(partition)
        ledger = out.processors[partition].ledger
        for p, seq, event_id in refusals:  # those at or below the mark belong in the checkpoint
            if p == partition and seq <= mark:
                ledger.mark_refused(event_id)
        checkpoints.write(partition, mark, out.processors[partition].snapshot())

    columns = ["event_id", "event_type", "location", "payload", "apply_seq"]
    for row in iter_rows(lake, EVENT_TABLES, columns, after_seq=after):
        partition = owner.get(row["location"], -1)
        seq = row["apply_seq"]
        if not wanted(partition, seq):
            continue
        if partition in pending_saves and seq > pending_saves[partition]:
            save(partition)  # every row at or below the mark is in, none above it
        proc = out.processors[partition]
        out.highest_seq[partition] = max(out.highest_seq[partition], seq)
        if row["event_type"] in STATE_ONLY_EVENT_TYPES:
            proc.ledger.mark_decided(row["event_id"])
            continue
        proc.process(parse_event(row["payload"]), admit=False)
        out.events += 1
    for partition in list(pending_saves):
        save(partition)
    for partition, _, event_id in refusals:
        out.processors[partition].ledger.mark_refused(event_id)
    return out


def replay_lake(
    lake: Path,
    catalog: Catalog,
    partitions: Iterable[int],
    partition_count: int,
    new_processor: Callable[[], P],
    until_seq: Mapping[int, int] | None = None,
    checkpoints: CheckpointStore | None = None,
) -> tuple[dict[int, P], int]:
    """Processors for these partitions rebuilt from the lake, and the number of events replayed
    (see `replay_partitions`)."""
    done = replay_partitions(
        lake, catalog, partitions, partition_count, new_processor, until_seq, checkpoints
    )
    return done.processors, done.events
