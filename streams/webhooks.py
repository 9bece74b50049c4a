"""The webhook agent: every `inventory_changed` and `alerts` message goes to the subscribers
that want it (configured in var/webhooks.json or STOCKFLOW_WEBHOOKS_FILE).

It consumes the output topics in its own consumer, so a slow or failing receiver delays only
the webhooks, never stock processing. Deliveries of one message to its subscribers run side
by side; a message is done when each was delivered or dead-lettered (at least once; the
delivery id lets receivers drop repeats). With no subscribers, no agent is started."""

from __future__ import annotations

import asyncio
import json
import logging

from stockflow.config import get_settings
from stockflow.events import OutputTopic
from streams.app import app
from streams.stock import state
from streams.webhook_delivery import DeadLetters, Delivery, deliver, load_subscribers

log = logging.getLogger(__name__)
settings = get_settings()
subscribers = load_subscribers(settings)
dead_letters = DeadLetters(settings.var_dir)

if subscribers:
    outputs = app.topic(
        OutputTopic.INVENTORY_CHANGED.value,
        OutputTopic.ALERTS.value,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(outputs, name="notify_subscribers")
    async def notify_subscribers(stream) -> None:  # noqa: ANN001
        async for event in stream.events():
            topic = event.message.topic
            data = json.loads(event.value)
            key = (
                data.get("event_id")
                or data.get("alert_id")
                or f"{event.message.partition}-{event.message.offset}"
            )
            wanted = [s for s in subscribers if s.wants(topic, data.get("alert_type"))]
            if not wanted:
                continue
            results = await asyncio.gather(
                *(
                    asyncio.to_thread(deliver, s, Delivery.build(s, topic, key, data), dead_letters)
                    for s in wanted
                )
            )
            state.counters["webhooks_delivered"] += sum(results)
            state.counters["webhooks_dead_lettered"] += len(results) - sum(results)

    log.info("webhooks: %d subscriber(s): %s", len(subscribers), ", ".join(s.name for s in subscribers))
