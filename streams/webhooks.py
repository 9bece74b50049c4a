"""The webhook agent: every `inventory_changed` and `alerts` message goes to the subscribers
that want it (configured in var/webhooks.json or STOCKFLOW_WEBHOOKS_FILE).

It consumes the output topics in its own consumer, so webhooks never delay stock processing,
and hands each delivery to its subscriber's queue in the `Dispatcher` without waiting: a slow
or failing receiver delays only its own queue, never the stream or the other subscribers.
Deliveries go out through the worker's aiohttp session, robots paced by
`webhook_per_minute`.

At least once: a message is acknowledged (so its offset can be committed) only when each of
its deliveries was delivered or dead-lettered; after a crash the unacknowledged messages are
read again and sent again (the delivery id lets receivers drop repeats). With no subscribers,
no agent is started."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from stockflow.config import get_settings
from stockflow.events import OutputTopic
from stockflow.i18n import translator
from streams.app import app
from streams.stock import state
from streams.webhook_delivery import DeadLetters, Delivery, DeliveryDone, Dispatcher, load_subscribers

log = logging.getLogger(__name__)
settings = get_settings()
subscribers = load_subscribers(settings)
language = translator(settings.interface_language)  # what the robots' messages say
dead_letters = DeadLetters(settings.var_dir)


def acknowledge_when_all_done(deliveries: int, acknowledge: Callable[[], Awaitable[object]]) -> DeliveryDone:
    """An outcome callback shared by one message's deliveries: counts each outcome and
    acknowledges the message after the last."""
    remaining = deliveries

    async def one_done(delivered: bool) -> None:
        nonlocal remaining
        state.counters["webhooks_delivered" if delivered else "webhooks_dead_lettered"] += 1
        remaining -= 1
        if remaining == 0:
            await acknowledge()

    return one_done


if subscribers:
    outputs = app.topic(
        OutputTopic.INVENTORY_CHANGED.value,
        OutputTopic.ALERTS.value,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(outputs, name="notify_subscribers")
    async def notify_subscribers(stream) -> None:  # noqa: ANN001
        dispatcher = Dispatcher(subscribers, dead_letters, app.http_client, settings.webhook_per_minute)
        manual = stream.noack()
        try:
            async for event in manual.events():
                topic = event.message.topic
                data = json.loads(event.value)
                key = (
                    data.get("event_id")
                    or data.get("alert_id")
                    or f"{event.message.partition}-{event.message.offset}"
                )
                wanted = [s for s in subscribers if s.wants(topic, data.get("alert_type"))]
                if not wanted:
                    await manual.ack(event)
                    continue
                done = acknowledge_when_all_done(len(wanted), lambda event=event: manual.ack(event))
                for s in wanted:
                    dispatcher.submit(Delivery.build(s, topic, key, data, language), done)
        finally:
            await dispatcher.close()

    log.info("webhooks: %d subscriber(s): %s", len(subscribers), ", ".join(s.name for s in subscribers))
