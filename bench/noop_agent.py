"""The stream benchmark's Faust baseline: an agent that takes the stock input topics in the
pipeline's batches and acknowledges every message, doing nothing else, on the same broker with
the same consumer settings as the workers. `GET /count` says how many it has taken.

    python -m bench.noop_agent worker -l warn --web-port PORT   (STOCKFLOW_BROKER_PORT=…)"""

from __future__ import annotations

import faust

from stockflow.config import get_settings
from stockflow.events import Topic
from streams import tansu_compat

settings = get_settings()
tansu_compat.apply(settings.bootstrap_servers, settings.embedded_fetch_wait_ms)

app = faust.App(
    "stockflow-bench-noop",
    broker=settings.broker_url,
    store="memory://",
    datadir=str(settings.var_dir / "noop-agent"),
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=1,
    consumer_auto_offset_reset="earliest",
    web_host="127.0.0.1",
    web_port=settings.web_port,
    stream_wait_empty=False,
    broker_commit_interval=1.0,
    producer_linger=settings.producer_linger_seconds,
    table_standby_replicas=0,
    worker_redirect_stdouts=False,
    **tansu_compat.faust_settings(settings.session_timeout_seconds),
)
inputs = app.topic(*(t.value for t in Topic), value_serializer="raw", key_serializer="raw")
taken = {"n": 0}


@app.agent(inputs)
async def take_and_ack(stream):  # noqa: ANN001 — Faust's stream
    async for batch in stream.noack_take(settings.batch_max_events, within=settings.batch_window_seconds):
        for event in batch:
            await stream.ack(event)
        taken["n"] += len(batch)


@app.page("/count")
async def count(web, request):  # noqa: ANN001 — Faust's view arguments
    return web.json({"count": taken["n"]})


if __name__ == "__main__":
    app.main()
