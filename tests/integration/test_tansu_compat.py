"""The embedded broker's end-offset quirk and its correction."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from streams.broker import EmbeddedBroker, _create_topics
from streams.tansu_compat import true_end_offsets
from tests.support import free_port

pytestmark = pytest.mark.integration


async def _scenario(bootstrap: str) -> tuple[dict, dict]:
    await _create_topics(bootstrap, ("quirk",), 2, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    for _batch in range(5):  # several multi-record batches per partition
        for i in range(40):
            await producer.send("quirk", value=b"x", partition=i % 2)
        await producer.flush()
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    tps = [TopicPartition("quirk", p) for p in (0, 1)]
    reported = await consumer.end_offsets(tps)
    await consumer.stop()
    return reported, await true_end_offsets(bootstrap, reported)


def test_true_end_offsets_corrects_the_last_batch_base_offset(tmp_path):
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp_path / "broker.log")
    broker.start()
    try:
        reported, corrected = asyncio.run(_scenario(broker.bootstrap))
    finally:
        broker.stop()
    assert all(off == 100 for off in corrected.values()), corrected
    # the quirk this corrects: Tansu reports the last batch's base offset + 1
    assert any(off < 100 for off in reported.values()), reported
