"""The Faust application: `python -m streams worker` (or `stockflow worker`)."""

from __future__ import annotations

import gc
import logging
import socket
import time
from collections.abc import Iterable
from typing import Any

import faust
from faust.sensors import Monitor

from infra.kafka import ssl_context
from stockflow.config import Edition, get_settings
from streams.security import Guard

settings = get_settings()
log = logging.getLogger(__name__)

_extra: dict = {}
_tls = ssl_context(settings)
if settings.kafka_security_protocol.upper().startswith("SASL"):
    _extra["broker_credentials"] = faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        mechanism=settings.kafka_sasl_mechanism.upper(),
        ssl_context=_tls,
    )
elif _tls is not None:
    _extra["broker_credentials"] = faust.SSLCredentials(_tls)
if settings.embedded_broker:
    from streams import tansu_compat

    tansu_compat.apply(settings.bootstrap_servers, settings.embedded_fetch_wait_ms)
    _extra.update(tansu_compat.faust_settings(settings.session_timeout_seconds))


#: Host, credential, content type and size checks in front of every view.
guard = Guard(settings)


class Worker(faust.Worker):
    """The Faust worker without its terminal spinner: the spinner sets the root logger to DEBUG,
    which makes every debug call in aiokafka and Faust build a log record on the hot path."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


class QuietMonitor(Monitor):
    """Faust's monitor without per-message timing (it costs more than our processing per event);
    rebalances, commits, assignment and web requests are still recorded, and so is when a
    partition's stream last took an event: Faust's stall check reads it, and without it logs
    "Stream has not started processing" for every partition with a backlog once the worker has
    run `stream_processing_timeout` (five minutes)."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.messages_received_total += 1

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = time.monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


#: The agents, timers and views each edition's workers run (their topics: `stockflow.editions`).
#: Nothing of the stock module is imported in the no-stock edition, so none of it starts.
WORKER_MODULES: dict[Edition, list[str]] = {
    Edition.STANDARD: [
        "streams.stock",
        "streams.masterdata",
        "streams.views",
        "streams.webhooks",
        "streams.inspections",
        "streams.delivery_platforms",
    ],
    Edition.NO_STOCK: ["streams.services"],
}
#: Faust also scans its origin, and scanning a package imports every module in it: each
#: edition's origin is one of its own modules, so no edition imports (and serves the pages and
#: agents of) the other's.
ORIGIN: dict[Edition, str] = {Edition.STANDARD: "streams.stock", Edition.NO_STOCK: "streams.services"}

_REREAD_IN_FULL: set[str] = set()


def reread_in_full(*topics: Any) -> None:
    """Never let Faust's fetch drop a message of these topics as already read."""
    for topic in topics:
        _REREAD_IN_FULL.update(topic.topics)


class _ReadOffsets(dict):
    """Faust's read offset per partition (`Consumer._read_offset`), unknown for the topics read
    in full."""

    def __missing__(self, tp: Any) -> None:
        return None

    def __getitem__(self, tp: Any) -> int | None:
        if tp.topic in _REREAD_IN_FULL:
            return None
        return super().__getitem__(tp)

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        if tp.topic not in _REREAD_IN_FULL:
            super().__setitem__(tp, offset)


class App(faust.App):
    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        consumer._read_offset = _ReadOffsets()
        return consumer


app = App(
    settings.app_id,
    version=1,
    broker=settings.broker_url,
    store="memory://",
    datadir=str(settings.var_dir / "faust"),  # not the working directory's {app_id}-data
    autodiscover=WORKER_MODULES[settings.edition],
    origin=ORIGIN[settings.edition],
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=1 if settings.embedded_broker else 3,
    consumer_auto_offset_reset="earliest",
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_application_options={
        "client_max_size": settings.inspection_max_mb * 1024 * 1024,
        "middlewares": [guard.middleware()],
    },
    web_bind=settings.web_host,
    canonical_url=f"http://{settings.web_host}:{settings.web_port}",
    stream_wait_empty=False,
    broker_commit_interval=1.0,
    producer_linger=settings.producer_linger_seconds,
    producer_max_batch_size=256 * 1024,
    table_standby_replicas=0,
    worker_redirect_stdouts=False,
    Worker=Worker,
    Monitor=QuietMonitor,
    broker_client_id=f"stockflow-{socket.gethostname()}",
    **_extra,
)


def kafka_producer() -> Any:
    """The started aiokafka producer under Faust's (for its batch API, `streams.batched_sends`)."""
    return app.producer._ensure_producer()


# Faust's read progress across a rebalance: the one place that touches its consumer internals.
#
# A rebalance revokes every partition, and Faust forgets each one's read offset, acks, gaps and
# committed offset before the app hears of the revoke; it also empties the agents' buffers, so
# messages read but not yet taken are gone and must be read again from the committed offset.
# Faust's fetch loop drops every message below the partition's *read offset* as already read.
# That offset is written by the loop after it hands a message over, and a hand-over under way
# when the rebalance starts finishes after the recovery's seek has set the read offset to the
# committed one: the stale write puts it back above messages nobody applied, the redelivery
# drops them, and the acks of the messages after them commit past the hole (Faust commits a
# run of acks that starts one above the committed offset as if that offset had been acked too).
#
# So for the topics whose agents recognise a repeated event by its id (`reread_in_full`) the
# fetch loop never drops a message: their read offset always reads as unknown. A repeat costs a
# duplicate, never a hole. What Faust's read offset also did for them, telling where offsets
# are missing on the broker (a transaction's markers) so that commits go past them, is done
# from the messages the agents take (`note_taken`). And every partition this worker is
# assigned starts with nothing Faust remembers of it: no acks, no committed offset, no gaps.

_last_taken: dict[Any, tuple[int, int]] = {}


async def note_taken(message: Any) -> None:
    """Tell Faust where the broker has no message between two that an agent of a topic read in
    full took one after the other in one consumer generation (offsets a transaction's markers
    or an aborted transaction take), so its commits go past them. Nothing is skipped in between:
    such a topic's fetch drops nothing, and a rebalance changes the generation."""
    tp, offset, generation = message.tp, message.offset, message.generation_id
    last = _last_taken.get(tp)
    _last_taken[tp] = (generation, offset)
    if last is not None and last[0] == generation and offset > last[1] + 1:
        try:
            await app.consumer._add_gap(tp, last[1] + 1, offset - 1)
        except Exception:  # commits then wait for the next rebalance; the stream goes on
            log.exception("could not note offsets %d-%d of %s as absent", last[1] + 1, offset - 1, tp)


def forget_read_progress(consumer: Any, partitions: Iterable[Any]) -> None:
    """Forget what Faust's `consumer` read, acked and committed of these partitions (what Faust
    itself forgets when they are revoked, once nothing can write it back any more)."""
    for tp in partitions:
        consumer._read_offset.pop(tp, None)
        consumer._committed_offset.pop(tp, None)
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)
        consumer._gap.pop(tp, None)
        _last_taken.pop(tp, None)


@app.on_partitions_assigned.connect
async def read_assigned_partitions_afresh(app: Any, assigned: set[Any], **kwargs: Any) -> None:
    """Every assigned partition is read from its committed offset (changelogs are the table
    recovery's: it seeks those itself)."""
    changelogs = app.tables.changelog_topics
    forget_read_progress(app.consumer, (tp for tp in assigned if tp.topic not in changelogs))


_gc_started: dict[int, float] = {}


def _log_slow_collections(phase: str, info: dict) -> None:
    """Garbage-collector passes long enough to show up as stream latency are logged."""
    generation = info["generation"]
    if phase == "start":
        _gc_started[generation] = time.perf_counter()
        return
    elapsed = time.perf_counter() - _gc_started.pop(generation, time.perf_counter())
    if elapsed > 0.05:
        log.warning(
            "gc generation %d took %.0f ms (%d collected)", generation, elapsed * 1000, info["collected"]
        )


def main() -> None:
    gc.callbacks.append(_log_slow_collections)
    app.main()
