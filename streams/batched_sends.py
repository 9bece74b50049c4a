"""Derived messages handed to the producer a batch at a time.

Producing one message at a time costs a future, a metadata record and a callback per message
(more than applying the event that made it). The stock agent adds each derived message here as
it decides an event, and hands them over together once its batch is decided (in the background:
the agent goes on meanwhile) and before every lake write: one record batch per topic partition
(aiokafka's batch API), in the order they were added, partitioned by key exactly as the
producer would (murmur2, as the Java client does).

A message the producer would refuse for its size is refused when it is added, so the event that
made it can be dead-lettered then, as before. When the hand-over fails (the producer is closed,
or cannot get the topic's metadata) the messages not handed over are kept, in order, for the
next hand-over, and the error propagates: the caller then writes nothing to the lake and
acknowledges nothing, as for a failed flush."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

log = logging.getLogger(__name__)

#: (topic, key, value, partition or None, headers)
Pending = tuple[str, bytes, bytes, int | None, list[tuple[str, bytes]]]
#: A record batch's own header and a record's framing, beyond its key, value and headers.
RECORD_OVERHEAD = 128


class BatchedSends:
    def __init__(self, producer: Callable[[], Any], max_message_bytes: int) -> None:
        """`producer`: returns the started aiokafka producer; `max_message_bytes`: its
        max_request_size."""
        self._producer = producer
        self.max_message_bytes = max_message_bytes
        self._pending: list[Pending] = []
        self._lock = asyncio.Lock()
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()
        self.handed_over = 0
        self.batches_sent = 0
        self.failures = 0
        self._background: asyncio.Future | None = None

    def add(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Keep a message for the next hand-over; `MessageSizeTooLargeError` when the producer
        could never send it, `TypeError` for a key, value or header that is not bytes (refused
        now, so no hand-over can fail on it later)."""
        headers = headers or []
        if not (
            isinstance(key, bytes)
            and isinstance(value, bytes)
            and all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers)
        ):
            raise TypeError(f"a message to {topic} needs bytes for its key, value and header values")
        size = len(key) + len(value) + sum(len(k) + len(v) for k, v in headers) + RECORD_OVERHEAD
        if size > self.max_message_bytes:
            raise MessageSizeTooLargeError(
                f"a message of {size} bytes to {topic} is over the producer's limit of {self.max_message_bytes}"
            )
        self._pending.append((topic, key, value, partition, headers))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def hand_over_soon(self) -> None:
        """Hand over in the background what is kept now and whatever is added meanwhile, while
        the caller goes on deciding events: a hand-over waits while the partition's previous
        batch is still with the broker, and what is added in the meantime goes in the next
        batch. A failure is logged and counted; the messages stay for the next hand-over."""
        if self._background is None or self._background.done():
            self._background = asyncio.ensure_future(self._hand_over_while_pending())

    async def _hand_over_while_pending(self) -> None:
        while self._pending:
            try:
                await self.hand_over()
            except Exception:  # kept: the next lake flush hands them over, or writes nothing
                log.exception("derived messages not handed to the producer; retried before the lake write")
                self.failures += 1
                return

    async def hand_over(self) -> int:
        """Give every message added so far to the producer (not yet acknowledged by the broker:
        the producer's `flush()` waits for that); returns how many. Hand-overs run one at a time
        and in the order they were called, so a partition's messages keep their order."""
        async with self._lock:
            taken, self._pending = self._pending, []
            if not taken:
                return 0
            by_partition: dict[tuple[str, int], list[Pending]] = {}
            try:
                for message in taken:
                    topic, key, _value, partition, _headers = message
                    if partition is None:
                        partition = await self._partition_of(topic, key)
                    by_partition.setdefault((topic, partition), []).append(message)
            except BaseException:
                self._pending[:0] = taken
                raise
            unsent = list(by_partition.items())
            while unsent:
                (topic, partition), messages = unsent[0]
                try:
                    sent = await self._send(topic, partition, messages)
                except BaseException:
                    self._pending[:0] = [m for _, rest in unsent for m in rest]
                    raise
                if sent < len(messages):
                    unsent[0] = ((topic, partition), messages[sent:])
                else:
                    unsent.pop(0)
            self.handed_over += len(taken)
            return len(taken)

    async def _partition_of(self, topic: str, key: bytes) -> int:
        every = self._partitions.get(topic)
        if every is None:
            every = self._partitions[topic] = sorted(await self._producer().partitions_for(topic))
        return self._partitioner(key, every, every)

    async def _send(self, topic: str, partition: int, messages: list[Pending]) -> int:
        """Send as many of `messages` as one record batch holds; returns how many."""
        producer = self._producer()
        batch = producer.create_batch()
        taken = 0
        for _topic, key, value, _partition, headers in messages:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                break
            taken += 1
        batch.close()
        if not taken:  # an empty batch takes any one message: this one cannot be sent
            raise MessageSizeTooLargeError(f"a message to {topic} fits in no record batch")
        await producer.send_batch(batch, topic, partition=partition)
        self.batches_sent += 1
        return taken
