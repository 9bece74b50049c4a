"""The master-data feed: every worker reads the whole ``masterdata`` topic and applies each
change to its catalogue while it runs, no restart needed.

The topic has one partition and is compacted: the newest message of an entity holds its whole
record (`stockflow.masterdata_changes`). Each worker reads it from the beginning with its own
consumer (no group: every worker needs every change), on top of the catalogue recorded when it
started; a change it already has (an entity's version only grows) changes nothing. A message
that is not a valid change is dead-lettered with the reason and the feed goes on.

An event that names a SKU, location or supplier the catalogue does not have (or one whose
status refuses it) may simply have overtaken the master-data change it depends on: a person
creates a SKU and receives it a second later, on another topic. Before such an event is refused
the stock agent waits (briefly) until the feed has read everything published before the event
was (`caught_up_since`), applies any change that brought, and tries the event once more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from infra.kafka import aiokafka_options
from stockflow.events import EventRejected
from stockflow.masterdata_changes import MASTERDATA_TOPIC, apply_change, parse_change
from streams import stock
from streams.app import app
from streams.stock import dead_letter, settings, state

log = logging.getLogger(__name__)

_TP = TopicPartition(MASTERDATA_TOPIC, 0)
#: A fetch answered this long after a moment was answered after it (the broker's clock and
#: ours, network delay included).
_MARGIN_SECONDS = 0.5
#: The version a change makes, beside it (a worker skips, unread, what its catalogue had at start).
VERSION_HEADER = "stockflow-masterdata-version"
#: How long an event waits for the feed before it is refused after all.
CATCH_UP_SECONDS = 5.0


class MasterDataFeed:
    def __init__(self) -> None:
        self.consumer: AIOKafkaConsumer | None = None
        self.applied = 0
        self.seen = 0
        self.progress = asyncio.Event()
        #: The version of the catalogue recorded when this worker started: it holds every
        #: change up to it, so those are skipped without being read.
        self.loaded_version = 0

    async def caught_up(self, since: float) -> bool:
        """Whether every change published before `since` (epoch seconds) has been applied: a
        fetch answered after `since` reported a high-water mark this feed has read up to."""
        consumer = self.consumer
        if consumer is None:
            return False
        polled = consumer.last_poll_timestamp(_TP)
        highwater = consumer.highwater(_TP)
        if polled is None or highwater is None or polled / 1000 < since + _MARGIN_SECONDS:
            return False
        return await consumer.position(_TP) >= highwater

    async def caught_up_since(self, since: float, timeout: float = CATCH_UP_SECONDS) -> bool:
        """Wait until every change published before `since` is applied; False after `timeout`."""
        deadline = time.monotonic() + timeout
        while not await self.caught_up(since):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.progress.clear()
            try:
                await asyncio.wait_for(self.progress.wait(), min(left, 0.2))
            except TimeoutError:
                pass
        return True

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.embedded_fetch_wait_ms if settings.embedded_broker else 200,
            client_id=f"{settings.app_id}-masterdata",
            **aiokafka_options(settings),
        )
        await consumer.start()
        self.consumer = consumer
        self.loaded_version = state.load_catalog().version if self.seen == 0 else self.loaded_version
        try:
            consumer.assign([_TP])
            await consumer.seek_to_beginning(_TP)
            while True:
                batch = await consumer.getmany(_TP, timeout_ms=200, max_records=10_000)
                before = self.applied
                for record in batch.get(_TP, ()):
                    await self.take(record)
                if self.applied != before:  # once per batch: the processors re-read the catalogue
                    state.catalog_changed()
                self.progress.set()
        finally:
            self.consumer = None
            await consumer.stop()

    async def take(self, record: Any) -> None:
        """Apply one message (never raises: a bad one is dead-lettered)."""
        self.seen += 1
        if 0 < _header_version(record.headers) <= self.loaded_version:
            state.counters["masterdata_known"] += 1
            return
        raw = record.value if isinstance(record.value, bytes) else (record.value or b"")
        key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else str(record.key or "")
        try:
            change = parse_change(raw)
            catalog = state.load_catalog()
            if apply_change(catalog, change):
                self.applied += 1
                state.counters["masterdata_applied"] += 1
        except EventRejected as err:
            await dead_letter(MASTERDATA_TOPIC, 0, record.offset, key, raw, err.reason, err.detail)
        except Exception as exc:  # a bug must not stop the feed; the message is kept with the reason
            log.exception("master-data change at offset %d failed", record.offset)
            await dead_letter(
                MASTERDATA_TOPIC, 0, record.offset, key, raw, "internal_error", repr(exc)[:1000]
            )


def _header_version(headers: Any) -> int:
    """The version a message's header names; 0 when it has none (it is read, then)."""
    for name, value in headers or ():
        if name == VERSION_HEADER:
            try:
                return int(value)
            except (TypeError, ValueError):
                return 0
    return 0


feed = MasterDataFeed()


async def _wait_for_feed(since: float) -> bool:
    if feed.consumer is None:  # not running: nothing to wait for
        return False
    return await feed.caught_up_since(since)


stock.master_data_waiter = _wait_for_feed


@app.task
async def follow_master_data() -> None:
    """Read the master-data topic for as long as the worker runs (restarted after a failure)."""
    while True:
        try:
            await feed.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the master-data feed failed; reconnecting")
            await asyncio.sleep(1.0)
