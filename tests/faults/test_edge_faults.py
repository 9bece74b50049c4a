"""The embedded broker (memory only) killed with SIGKILL while an edge agent forwards a till's
events: what it held is gone, and so is the worker that was reading it. After both are started
again, every event the till was told was taken is in the lake, once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from stockflow.identity import Kind
from stores.credentials import CredentialStore
from streams.broker import EmbeddedBroker, ensure_topics
from tests.support import lake_event_ids, post_json, wait_until
from tests.support.edge import EdgeProcess

STORE = "ST01"


def _receipt(event_id: str, till: str, seq: int, at: datetime, sku: str) -> dict:
    return {
        "event_type": "goods_receipt",
        "event_id": event_id,
        "occurred_at": at.isoformat(),
        "source": till,
        "source_seq": seq,
        "location": STORE,
        "purchase_order": f"PO-{seq // 50}",
        "supplier": "SUP02",
        "sku": sku,
        "qty": 1,
        "unit_cost": "3.50",
    }


def test_a_broker_killed_while_an_edge_agent_forwards_loses_nothing_the_till_sent(stack):
    worker = stack.worker()
    sku = next(
        s.sku
        for s in stack.catalog.skus.values()
        if not (s.batch_managed or s.serial_managed or s.cold_chain_min_c is not None)
    )
    creds = CredentialStore(stack.settings.credentials_path)
    _, edge_token = creds.add("edge ST01", Kind.DEVICE, [STORE])
    _, till_token = creds.add("scanner ST01", Kind.DEVICE, [STORE])
    edge = EdgeProcess(
        stack.settings.var_dir,
        worker.url,
        edge_token,
        [STORE],
        edge_batch_events=20,
        edge_sync_seconds=3600,
        edge_resend_after_seconds=3,
        edge_backoff_max_seconds=1,
    ).start()
    start = datetime.now(UTC) - timedelta(hours=2)
    events = [
        _receipt(f"rcv-{seq}", "scanner-1", seq, start + timedelta(seconds=seq), sku)
        for seq in range(1, 1501)
    ]
    taken: list[str] = []

    def till() -> None:
        for i in range(0, len(events), 25):
            status, answer = post_json(edge.url + "/events", events[i : i + 25], till_token)
            assert status == 202, answer
            taken.extend(answer["accepted"])

    sending = threading.Thread(target=till)
    try:
        sending.start()
        wait_until(lambda: len(set(lake_event_ids(stack.lake))) >= 200, 120, "forwarding under way")
        # the broker dies with what it held; the worker reading it is killed too
        stack.broker.process.kill()
        stack.broker.process.wait()
        worker.kill9()
        sending.join(120)
        assert len(taken) == len(events)  # the till never noticed: the agent took everything
        broker = EmbeddedBroker("127.0.0.1", stack.broker.port, stack.tmp / "broker-2.log")
        broker.start()
        stack.broker = broker  # stopped with the stack
        ensure_topics(broker.bootstrap, stack.settings.topic_partitions)
        stack.worker(worker.web_port)
        wait_until(
            lambda: sum(edge.outbox_counts()[s] for s in ("waiting", "sent")) == 0,
            240,
            "the outbox drained",
        )
    finally:
        edge.stop()
    landed = Counter(lake_event_ids(stack.lake))
    missing = [i for i in taken if landed[i] == 0]
    assert not missing, f"{len(missing)} events the till sent are not in the lake, e.g. {missing[:5]}"
    assert all(landed[i] == 1 for i in taken)
    assert edge.outbox_counts()["dead_lettered"] == 0
