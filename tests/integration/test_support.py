"""The test harness itself: a worker whose port another process took starts on a fresh one.

The test has a broker of its own (`stack`): its worker's consumer group and offsets stay there."""

import socket

import pytest

pytestmark = pytest.mark.integration


def test_a_worker_moves_to_a_fresh_port_when_its_port_is_taken(stack):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = stack.worker(port)
        assert worker.web_port != port and worker.settings.web_port == worker.web_port
        assert worker.health()["ready"]
