"""The real components for the integration tests, per test, per module or per session.

`stack` gives each test its own broker. `module_broker` gives a whole module one: what one test
leaves in it (topics, consumer groups and their offsets) the next test of the module sees, so a
module that uses it says in its docstring how its tests keep apart.

The Prefect server is one for the whole session (one takes 10-15 s to start): `prefect_server`
and `module_prefect_server` both name it. It holds every test's flow runs, deployments and logs,
so a test reads only its own (its runs by their `var_dir` parameter, which names the test's own
folder)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.server import PrefectServer
from simulator.company import build_catalog
from stockflow.config import Settings
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


@contextmanager
def running_prefect_server(settings: Settings, log_path: Path) -> Iterator[Settings]:
    """A Prefect server on `settings.prefect_port`, its home under `settings.var_dir`."""
    server = PrefectServer(settings, log_path)
    server.start(timeout=180)
    try:
        yield settings
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # the flow runs' logs, before the server goes
        server.stop()


@pytest.fixture(scope="session")
def session_prefect_server(tmp_path_factory) -> Iterator[Settings]:
    """The session's Prefect server. The settings name it; their `var_dir` is the server's own
    folder: each test keeps its data in its own."""
    var = tmp_path_factory.mktemp("prefect") / "var"
    settings = settings_for(var, free_port(), free_port()).model_copy(update={"prefect_port": free_port()})
    with running_prefect_server(settings, var.parent / "prefect.log") as running:
        yield running


@pytest.fixture
def prefect_server(stack, session_prefect_server):
    """The session's Prefect server, named in the settings of this test's `stack`."""
    return stack.settings.model_copy(update={"prefect_port": session_prefect_server.prefect_port})


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory) -> Iterator[EmbeddedBroker]:
    """One embedded broker (memory only) for a whole module, with no topics made for it."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    broker = EmbeddedBroker("127.0.0.1", free_port(), log)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def module_prefect_server(session_prefect_server) -> Settings:
    """The session's Prefect server, for a module's tests that have no `stack` (its settings:
    their `var_dir` is the server's own folder: each test keeps its data in its own)."""
    return session_prefect_server


@pytest.fixture(scope="session")
def editions_warehouse(tmp_path_factory) -> Path:
    """The restaurant's and the factory's test data built into one warehouse once for the whole
    session (`tests.support.factory_lake.build_editions_warehouse`); its var folder. Tests read
    it and never change it (a test that needs another copies what it needs)."""
    from tests.support.factory_lake import build_editions_warehouse

    var = tmp_path_factory.mktemp("editions") / "var"
    var.mkdir()
    build_editions_warehouse(var)
    return var
