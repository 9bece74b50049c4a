"""Produce simulator messages to Kafka (history as fast as possible, live at a set rate)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from simulator.company import SimMessage


async def produce(
    bootstrap: str,
    messages: Iterable[SimMessage],
    rate: float | None = None,
    progress: object | None = None,
    stop: threading.Event | None = None,
    security: dict | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Send messages keyed by location; `rate` in messages per second (None: as fast as possible).
    Setting `stop` ends it after the message being sent (what was sent is flushed). `headers`
    go with every message (`stockflow.delivery`: history marks itself as backfilled)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all", **(security or {})
    )
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        for msg in messages:
            if stop is not None and stop.is_set():
                break
            await producer.send(msg.topic, key=msg.key.encode(), value=msg.value, headers=headers or None)
            sent += 1
            if progress is not None:
                progress(1)  # type: ignore[operator]
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return sent
