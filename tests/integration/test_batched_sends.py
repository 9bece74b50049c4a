"""Derived messages handed over a record batch per partition (`streams.batched_sends`), on a
real broker: each key lands in the partition the producer's own per-message send puts it in,
in the order added; an oversized message is refused when added; a failed hand-over keeps every
message for the next one. Each test makes its own topics on the module's broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError

from streams.batched_sends import BatchedSends

pytestmark = pytest.mark.integration
PARTITIONS = 4
KEYS = [f"ST{i:02d}" for i in range(12)] + ["WH1", "WH2", "门店-7"]


async def _topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def _read_all(bootstrap: str, topic: str, n: int) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got = []
    try:
        async with asyncio.timeout(60):
            while len(got) < n:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += records
    finally:
        await consumer.stop()
    return got


def test_messages_land_in_the_producers_partition_for_their_key_in_the_order_added(module_broker):
    bootstrap = module_broker.bootstrap
    batched, single = f"batched-{uuid.uuid4().hex[:6]}", f"single-{uuid.uuid4().hex[:6]}"
    messages = [(KEYS[i % len(KEYS)].encode(), f"m{i}".encode()) for i in range(3000)]

    async def scenario() -> tuple[list, list]:
        await _topics(bootstrap, batched, single)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=16 * 1024)
        await producer.start()
        try:
            sends = BatchedSends(lambda: producer, 1_000_000)
            for i, (key, value) in enumerate(messages):
                sends.add(batched, key, value, headers=[("n", str(i).encode())])
                if i % 700 == 699:  # several hand-overs, as batches of events come and go
                    await sends.hand_over()
                elif i % 97 == 0:  # and in the background while more are added
                    sends.hand_over_soon()
                    await asyncio.sleep(0)
            await sends.hand_over()  # after any under way in the background
            assert sends.pending == 0 and sends.handed_over == len(messages)
            assert sends.batches_sent > PARTITIONS, "16 KiB batches: the 3,000 messages need several"
            for key, value in messages:  # the oracle: the producer's per-message path
                await producer.send(single, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()
        return (
            await _read_all(bootstrap, batched, len(messages)),
            await _read_all(bootstrap, single, len(messages)),
        )

    got, expected = asyncio.run(scenario())
    partition_of = {r.key: r.partition for r in expected}
    assert {r.key: r.partition for r in got} == partition_of
    for partition in range(PARTITIONS):
        mine = [r for r in got if r.partition == partition]
        sent = [v for k, v in messages if partition_of[k] == partition]
        assert [r.value for r in sorted(mine, key=lambda r: r.offset)] == sent
    assert all(dict(r.headers)["n"] == r.value[1:] for r in got)


def test_an_oversized_message_is_refused_when_added_and_a_failed_hand_over_keeps_all(module_broker):
    bootstrap = module_broker.bootstrap
    topic = f"kept-{uuid.uuid4().hex[:6]}"

    async def scenario() -> list:
        await _topics(bootstrap, topic)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        sends = BatchedSends(lambda: producer, 10_000)
        with pytest.raises(MessageSizeTooLargeError):
            sends.add(topic, b"ST01", b"x" * 10_000)
        with pytest.raises(TypeError):
            sends.add(topic, b"ST01", "not bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            sends.add(topic, b"ST01", b"x", headers=[("h", "not bytes")])  # type: ignore[list-item]
        assert sends.pending == 0
        for i in range(50):
            sends.add(topic, KEYS[i % 3].encode(), f"k{i}".encode())
        await producer.stop()  # nothing can be handed over now
        with pytest.raises(Exception):  # noqa: B017 — whatever the closed producer raises
            await sends.hand_over()
        assert sends.pending == 50 and sends.handed_over == 0

        again = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await again.start()
        sends._producer = lambda: again  # the worker's next producer, as after a restart
        try:
            assert await sends.hand_over() == 50
            await again.flush()
        finally:
            await again.stop()
        return await _read_all(bootstrap, topic, 50)

    got = asyncio.run(scenario())
    by_partition: dict[int, list[bytes]] = {}
    for record in sorted(got, key=lambda r: (r.partition, r.offset)):
        by_partition.setdefault(record.partition, []).append(record.value)
    for values in by_partition.values():
        assert values == sorted(values, key=lambda v: int(v[1:])), "kept in the order added"
    assert sorted(r.value for r in got) == sorted(f"k{i}".encode() for i in range(50))
