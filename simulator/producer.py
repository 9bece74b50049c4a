"""Produce simulator messages to Kafka (history as fast as possible, live at a set rate); with
an MQTT broker, the sensors' readings go there as the devices' own messages instead."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterable
from contextlib import AsyncExitStack
from typing import Any

from aiokafka import AIOKafkaProducer

from simulator.company import SimMessage
from stockflow.devices import TOPIC_PREFIX
from stockflow.events import Topic


def device_message(msg: SimMessage) -> tuple[str, bytes]:
    """The MQTT topic and payload a simulated sensor sends for a reading: its own time in `ts`
    and °C in `value` (a reading the simulator spoiled goes as it is, from the location's sensor)."""
    try:
        data = json.loads(msg.value)
        return f"{TOPIC_PREFIX}{data['sensor']}", json.dumps(
            {"ts": data["occurred_at"], "value": data["celsius"]}
        ).encode()
    except (ValueError, TypeError, KeyError):
        return f"{TOPIC_PREFIX}TS-{msg.key}-1", msg.value


async def produce(
    bootstrap: str,
    messages: Iterable[SimMessage],
    rate: float | None = None,
    progress: object | None = None,
    stop: threading.Event | None = None,
    security: dict | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    mqtt: Any = None,
) -> int:
    """Send messages keyed by location; `rate` in messages per second (None: as fast as possible).
    Setting `stop` ends it after the message being sent (what was sent is flushed). `headers`
    go with every message (`stockflow.delivery`: history marks itself as backfilled). `mqtt`:
    the settings of an MQTT broker the temperature readings are published to (QoS 1)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all", **(security or {})
    )
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        async with AsyncExitStack() as stack:
            sensors = await stack.enter_async_context(_mqtt_client(mqtt)) if mqtt is not None else None
            for msg in messages:
                if stop is not None and stop.is_set():
                    break
                if sensors is not None and msg.topic == Topic.TEMPERATURE_READINGS:
                    topic, payload = device_message(msg)
                    await sensors.publish(topic, payload, qos=1)
                else:
                    await producer.send(
                        msg.topic, key=msg.key.encode(), value=msg.value, headers=headers or None
                    )
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


def _mqtt_client(settings: Any) -> Any:
    import aiomqtt

    from streams.mqtt_bridge import mqtt_connection

    options = {**mqtt_connection(settings), "identifier": None, "clean_session": True}
    return aiomqtt.Client(**options)
