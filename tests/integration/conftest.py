from pathlib import Path

import pytest

from flows.server import PrefectServer
from simulator.company import build_catalog
from streams.broker import EmbeddedBroker, ensure_topics
from tests.support import Worker, free_port, settings_for


@pytest.fixture
def stack(tmp_path: Path):
    """An embedded broker with the pipeline's topics, master data, and a way to run workers."""
    broker_port = free_port()
    settings = settings_for(tmp_path / "var", broker_port, free_port())
    catalog = build_catalog(settings.seed)
    catalog.save(settings.masterdata_path)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp_path / "broker.log")
    broker.start()
    ensure_topics(broker.bootstrap, settings.topic_partitions)
    workers: list[Worker] = []

    class Stack:
        pass

    s = Stack()
    s.settings, s.catalog, s.broker, s.tmp = settings, catalog, broker, tmp_path
    s.lake = settings.lake_dir

    def worker(web_port: int | None = None) -> Worker:
        port = web_port or settings.web_port
        w = Worker(settings_for(settings.var_dir, broker_port, port), port, tmp_path)
        workers.append(w)
        return w.start()

    s.worker = worker
    yield s
    for w in workers:
        w.stop()
    broker.stop()


@pytest.fixture
def prefect_server(stack):
    settings = stack.settings.model_copy(update={"prefect_port": free_port()})
    server = PrefectServer(settings, stack.tmp / "prefect.log")
    server.start(timeout=180)
    yield settings
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)  # the flow runs' logs, before the server goes
    server.stop()
