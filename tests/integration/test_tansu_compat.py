"""The embedded broker's end-offset quirk and its correction.

The module shares one broker (`module_broker`); each test writes to a topic of its own."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from streams.broker import _create_topics
from streams.tansu_compat import true_end_offsets

pytestmark = pytest.mark.integration


async def _scenario(bootstrap: str, topic: str) -> tuple[dict, dict]:
    await _create_topics(bootstrap, (topic,), 2, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    for _batch in range(5):  # several multi-record batches per partition
        for i in range(40):
            await producer.send(topic, value=b"x", partition=i % 2)
        await producer.flush()
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in (0, 1)]
    reported = await consumer.end_offsets(tps)
    await consumer.stop()
    return reported, await true_end_offsets(bootstrap, reported)


def test_true_end_offsets_corrects_the_last_batch_base_offset(module_broker):
    reported, corrected = asyncio.run(_scenario(module_broker.bootstrap, "last_batch_quirk"))
    assert all(off == 100 for off in corrected.values()), corrected
    # the quirk this corrects: Tansu reports the last batch's base offset + 1
    assert any(off < 100 for off in reported.values()), reported
