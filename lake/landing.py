"""Landing a stream of events as a worker does, without a broker: for tools that write a lake
(the benchmarks, the tests' fixtures) through the same writer, rows and checkpoints as a worker.

Events are applied to one core processor per partition; accepted events land with their
movements, refusals as dead letters; a flush writes the buffered rows, then the checkpoints of
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
from stockflow.events import OutputTopic, encode_event
from stockflow.ledger import StockRejected
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
    ) -> None:
        self.writer = LakeWriter(lake_dir, writer_id)
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
        pending = [event]
        while pending:
            current = pending.pop(0)
            partition = partition_for(current.location_id, self.partition_count)
            raw = encode_event(current)
            try:
                result = self.processor(partition).process(current)
            except StockRejected as err:
                self.writer.append(
                    OutputTopic.DEAD_LETTERS,
                    {
                        "topic": current.topic.value,
                        "partition": partition,
                        "offset": offset,
                        "key": current.location_id,
                        "event_id": current.event_id,
                        "reason": err.reason,
                        "detail": err.detail,
                        "payload": raw,
                        "rejected_at": now_utc(),
                        "refused_by_ledger": True,
                        "apply_seq": self.writer.next_seq(),
                    },
                )
                self.counts["dead_lettered"] += 1
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
