"""The Faust application: `python -m streams worker` (or `stockflow worker`)."""

from __future__ import annotations

import socket

import faust

from stockflow.config import get_settings

settings = get_settings()

_extra: dict = {}
if settings.embedded_broker:
    from streams import tansu_compat

    tansu_compat.apply(settings.bootstrap_servers, settings.embedded_fetch_wait_ms)
    _extra = tansu_compat.faust_settings(settings.session_timeout_seconds)

app = faust.App(
    settings.app_id,
    version=1,
    broker=settings.broker_url,
    store="memory://",
    autodiscover=["streams.stock", "streams.views"],
    origin="streams",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=1 if settings.embedded_broker else 3,
    consumer_auto_offset_reset="earliest",
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_bind=settings.web_host,
    canonical_url=f"http://{settings.web_host}:{settings.web_port}",
    stream_wait_empty=False,
    broker_commit_interval=1.0,
    table_standby_replicas=0,
    worker_redirect_stdouts=False,
    id_format="{id}-v{self.version}",
    broker_client_id=f"stockflow-{socket.gethostname()}",
    **_extra,
)


def main() -> None:
    app.main()
