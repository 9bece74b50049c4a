"""Landing a stream of events as a worker does, without a broker: for tools that write a lake
(the benchmarks, the tests' fixtures) through the same writer, rows and checkpoints as a worker.

Events have their codes resolved (other systems' aliases made ours, `stockflow.intake`) before
their partition is chosen, and are applied, as they enter (the admission rules hold), to one
core processor per partition; accepted events land with their movements, refusals as dead letters; a flush writes the buffered rows, then the checkpoints of
the partitions that are due, each taken when the flush took the rows it includes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lake.checkpoints import CheckpointStore
from lake.partitions import partition_for
from lake.writer import LakeWriter, now_utc
from stockflow.delivery import Delivery
from stockflow.events import EventRejected, OutputTopic, encode_event
from stockflow.intake import resolve_codes
from stockflow.ledger import StockRejected
from stockflow.masterdata import Catalog
from stockflow.processing import StockProcessor


class Landing:
    def __init__(
        self,
        lake_dir: Path,
        partition_count: int,
        new_processor: Callable[[], StockProcessor],
        checkpoints: CheckpointStore | None = None,
        checkpoint_every_events: int = 20_000,
        writer_id: str = "landing",
        catalog: Catalog | None = None,
    ) -> None:
        self.writer = LakeWriter(lake_dir, writer_id)
        #: The catalogue codes are resolved against (None: the processors').
        self.catalog = catalog
        self.partition_count = partition_count
        self.new_processor = new_processor
        self.processors: dict[int, StockProcessor] = {}
        self.checkpoints = checkpoints
        self.checkpoint_every_events = checkpoint_every_events
        self.since_checkpoint: Counter[int] = Counter()
        self.counts: Counter[str] = Counter()

    def processor(self, partition: int) -> StockProcessor:
        proc = self.processors.get(partition)
        if proc is None:
            proc = self.processors[partition] = self.new_processor()
        return proc

    def apply(self, event: Any, offset: int = 0, delivery: Delivery = Delivery.LIVE) -> None:
        """Apply one parsed event and buffer what it lands (its follow-ups too, as the stream
        applies them when they come back from their topic, with the event's `delivery`)."""
        try:
            event = resolve_codes(event, self._catalog())
        except EventRejected as err:  # before the ledger: never decided, a resend may pass
            self._dead_letter(
                event, partition_for(event.location_id, self.partition_count), offset, err, False
            )
            return
        pending = [event]
        while pending:
            current = pending.pop(0)
            partition = partition_for(current.location_id, self.partition_count)
            raw = encode_event(current)
            try:
                result = self.processor(partition).process(current, admit=True)
            except StockRejected as err:
                self._dead_letter(current, partition, offset, err, err.decided)
                continue
            if result.duplicate:
                self.counts["duplicates"] += 1
                continue
            self.writer.land_applied(
                current, raw, current.topic.value, partition, offset, result.movements, now_utc(), delivery
            )
            self.since_checkpoint[partition] += 1
            self.counts["applied"] += 1
            pending.extend(result.follow_ups)

    def _catalog(self) -> Catalog:
        if self.catalog is None:
            self.catalog = self.new_processor().catalog
        return self.catalog

    def _dead_letter(
        self, event: Any, partition: int, offset: int, err: EventRejected, by_ledger: bool
    ) -> None:
        self.writer.append(
            OutputTopic.DEAD_LETTERS,
            {
                "topic": event.topic.value,
                "partition": partition,
                "offset": offset,
                "key": event.location_id,
                "event_id": event.event_id,
                "reason": err.reason,
                "detail": err.detail,
                "payload": encode_event(event),
                "rejected_at": now_utc(),
                "refused_by_ledger": by_ledger,
                "apply_seq": self.writer.next_seq(),
            },
        )
        self.counts["dead_lettered"] += 1

    def apply_all(
        self, events: Iterable[Any], flush_every: int = 5_000, delivery: Delivery = Delivery.LIVE
    ) -> None:
        for n, event in enumerate(events, 1):
            self.apply(event, n, delivery)
            if n % flush_every == 0:
                self.flush()
        self.flush()

    def flush(self, checkpoint_all: bool = False) -> None:
        """Write what is buffered, then the checkpoints due (all partitions with `checkpoint_all`)."""
        rows = self.writer.take()
        due = []
        if self.checkpoints is not None:
            chosen = [
                p
                for p in self.processors
                if (checkpoint_all and self.since_checkpoint[p])
                or self.since_checkpoint[p] >= self.checkpoint_every_events
            ]
            if chosen:
                seq = self.writer.next_seq()
                due = [(p, seq, self.processors[p].snapshot()) for p in chosen]
                for p in chosen:
                    self.since_checkpoint[p] = 0
        self.writer.write(rows)
        for partition, seq, snapshot in due:
            assert self.checkpoints is not None
            self.checkpoints.write(partition, seq, snapshot)
