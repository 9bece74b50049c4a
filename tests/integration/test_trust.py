"""Who may call a real worker, and what it refuses: credentials and their scopes, Host and
content-type checks, size and nesting limits, implausible times, reused ids, and where an event
stands (`GET /events/{id}`). One broker and one worker for the module; each test uses its own
event ids, so what one leaves behind does not change another's answer."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from simulator.company import build_catalog
from stockflow.events import GoodsReceipt, PosSale, StockAdjustment
from stockflow.identity import Kind
from stores.credentials import CredentialStore
from streams.broker import EmbeddedBroker, ensure_topics
from tests.support import Worker, free_port, get_json, settings_for, wait_until
from tests.support.network import auth_headers, call

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust")
    broker_port = free_port()
    settings = settings_for(tmp / "var", broker_port, free_port())
    build_catalog(settings.seed).save(settings.masterdata_path)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp / "broker.log")
    broker.start()
    ensure_topics(broker.bootstrap, settings.topic_partitions)
    w = Worker(settings, settings.web_port, tmp).start()
    w.store = CredentialStore(settings.credentials_path)
    w.pid = w.proc.pid
    yield w
    w.stop()
    broker.stop()


def post(worker, events, token=None, content_type="application/json", extra=None):
    body = json.dumps(events, default=str).encode() if not isinstance(events, bytes) else events
    headers = {"Content-Type": content_type, **auth_headers(token), **(extra or {})}
    return call(f"{worker.url}/events", body, headers)


def sku_of(worker):
    catalog = build_catalog(worker.settings.seed)
    return next(code for code, s in sorted(catalog.skus.items()) if not s.batch_managed), catalog


def sale(event_id, sku, qty=1, at=None, store="ST01"):
    return {
        "event_type": "pos_sale",
        "event_id": event_id,
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "source": "till-1",
        "store": store,
        "ticket": event_id,
        "channel": "retail",
        "lines": [{"sku": sku, "qty": str(qty), "unit_price": "3.50"}],
    }


def status_of(worker, event_id, location="ST01"):
    return get_json(f"{worker.url}/events/{event_id}?location={location}")


def test_every_endpoint_but_health_needs_a_valid_credential(worker):
    assert call(f"{worker.url}/health")[0] == 200
    assert call(f"{worker.url}/stock/ST01")[0] == 401
    assert (
        call(f"{worker.url}/stock/ST01", headers={"Authorization": "Bearer sf_000000000000_nope"})[0] == 401
    )
    assert call(f"{worker.url}/reconcile/ST01", headers={"Authorization": "Basic abc"})[0] == 401
    assert call(f"{worker.url}/stock/ST01", headers=auth_headers())[0] == 200
    status, body = post(worker, [], token="sf_x")
    assert status == 401 and body["error"] == "invalid_token"


def test_a_device_acts_only_at_its_locations_and_event_types(worker):
    sku, _ = sku_of(worker)
    _, till = worker.store.add(
        f"till-{uuid.uuid4().hex[:6]}", Kind.DEVICE, ["ST01"], ["pos_sale", "pos_return"]
    )
    assert call(f"{worker.url}/stock/ST01", headers=auth_headers(till))[0] == 200
    status, body = call(f"{worker.url}/stock/WH1", headers=auth_headers(till))
    assert status == 403 and body["error"] == "wrong_location"
    assert call(f"{worker.url}/reconcile/ST01", headers=auth_headers(till))[0] == 403

    receipt = GoodsReceipt(
        event_id=f"rcv-{uuid.uuid4().hex[:8]}", occurred_at=datetime.now(UTC), source="till-1", location="WH1",
        purchase_order="PO-1", supplier="SUP-1", sku=sku, qty=Decimal(5), unit_cost=Decimal("1.00"),
    ).model_dump(mode="json")  # fmt: skip
    status, body = post(worker, [receipt], token=till)
    assert status == 403 and body["errors"][0]["error"] == "wrong_location"
    adjust = StockAdjustment(
        event_id=f"adj-{uuid.uuid4().hex[:8]}", occurred_at=datetime.now(UTC), source="till-1", location="ST01",
        sku=sku, qty=Decimal(-1), reason="damage",
    ).model_dump(mode="json")  # fmt: skip
    status, body = post(worker, [adjust], token=till)
    assert status == 403 and body["errors"][0]["error"] == "wrong_event_type"
    event_id = f"sale-{uuid.uuid4().hex[:8]}"
    status, body = post(worker, [sale(event_id, sku)], token=till)
    assert status == 202, body
    wait_until(lambda: status_of(worker, event_id)["status"] == "landed", 30, "the till's sale landed")
    # revoked: refused within the cache's reload interval
    name = next(c.name for c in worker.store.load().values() if c.token_id == till.split("_")[1])
    worker.store.revoke(name)
    wait_until(lambda: call(f"{worker.url}/stock/ST01", headers=auth_headers(till))[0] == 401, 10, "revoked")


def test_cross_site_and_rebinding_requests_are_refused(worker):
    sku, _ = sku_of(worker)
    event = sale(f"xs-{uuid.uuid4().hex[:8]}", sku)
    # a no-cors fetch can only send text/plain (or a form): no preflight, so it must be refused
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        status, body = post(worker, [event], content_type=content_type)
        assert status == 415, (content_type, body)
    status, body = post(worker, [event], extra={"Host": "evil.example:6066"})
    assert status == 421 and body["error"] == "unknown_host"
    assert call(f"{worker.url}/health", headers={"Host": "attacker.test"})[0] == 421
    assert status_of(worker, event["event_id"])["status"] == "unknown"


def test_size_nesting_and_time_limits_answer_4xx_with_the_reason(worker):
    sku, _ = sku_of(worker)
    limit = worker.settings.events_max_body_kb * 1024
    status, body = post(worker, b"[" + b" " * limit + b"]")
    assert status == 413 and body["error"] == "too_large"
    deep = b"[" * 100_000 + b"]" * 100_000
    status, body = post(worker, deep)
    assert status in (400, 413) and body["error"] in ("too_deep", "too_large")
    status, body = post(worker, b"[" * 40 + b"]" * 40)
    assert status == 400 and body["error"] == "too_deep"
    event = sale("nest-1", sku)
    event["lines"][0]["sku"] = {"a": {"b": {"c": 1}}}
    status, body = post(worker, [event])
    assert status == 400 and body["errors"][0]["error"] == "schema_violation"
    status, body = post(worker, b"{not json")
    assert status == 400 and body["error"] == "malformed_json"

    for when in ("9999-12-31T23:00:00-08:00", "1970-01-01T00:00:00+00:00", "0001-01-01T00:00:00+14:00"):
        event = sale(f"t-{uuid.uuid4().hex[:8]}", sku)
        event["occurred_at"] = when
        status, body = post(worker, [event])
        assert status == 400 and body["errors"][0]["error"] == "implausible_time", (when, body)
    ahead = sale(f"t-{uuid.uuid4().hex[:8]}", sku, at=datetime.now(UTC) + timedelta(days=2))
    assert post(worker, [ahead])[1]["errors"][0]["error"] == "implausible_time"
    naive = sale(f"t-{uuid.uuid4().hex[:8]}", sku)
    naive["occurred_at"] = "2026-12-01T10:00:00"
    assert post(worker, [naive])[1]["errors"][0]["error"] == "schema_violation"
    assert get_json(f"{worker.url}/health")["ready"]


def test_a_reused_id_with_other_content_is_a_conflict_and_a_true_repeat_a_duplicate(worker):
    sku, _ = sku_of(worker)
    event_id = f"dup-{uuid.uuid4().hex[:8]}"
    first = sale(event_id, sku, qty=2)
    assert post(worker, [first])[0] == 202
    wait_until(lambda: status_of(worker, event_id)["status"] == "landed", 30, "the first copy landed")
    status, body = post(worker, [sale(event_id, sku, qty=7)])
    assert status == 409 and body["errors"][0]["error"] == "conflicting_duplicate"
    # read before the repeats are sent: a fast worker may count them before any later read
    before = get_json(f"{worker.url}/health")["counters"].get("duplicates", 0)
    assert post(worker, [first])[0] == 202  # a true repeat: accepted, applied once
    assert post(worker, [sale(event_id, sku, qty=2)])[0] == 202  # resent with a new send time: a repeat too
    wait_until(
        lambda: get_json(f"{worker.url}/health")["counters"].get("duplicates", 0) >= before + 2,
        30,
        "both repeats counted as duplicates",
    )
    assert status_of(worker, event_id)["status"] == "landed"


def test_event_status_says_dead_lettered_with_the_reason(worker):
    from confluent_kafka import Producer

    sku, _ = sku_of(worker)
    event_id = f"late-{uuid.uuid4().hex[:8]}"
    bad = sale(event_id, sku)
    bad["occurred_at"] = "9999-12-31T23:00:00-08:00"  # straight onto Kafka, past the HTTP checks
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{worker.settings.broker_port}"})
    producer.produce("pos_transactions", key=b"ST01", value=json.dumps(bad).encode())
    assert producer.flush(30) == 0
    found = wait_until(
        lambda: (s := status_of(worker, event_id))["status"] == "dead_lettered" and s, 30, "dead-lettered"
    )
    assert found["reason"] == "implausible_time"
    assert status_of(worker, "never-sent")["status"] == "unknown"
    assert worker.proc.pid == worker.pid and worker.proc.poll() is None  # never restarted


def test_the_worker_answers_202_only_with_its_sale_on_the_broker(worker):
    sku, _ = sku_of(worker)
    events = [sale(f"ack-{uuid.uuid4().hex[:8]}", sku) for _ in range(20)]
    status, body = post(worker, events)
    assert status == 202 and body["accepted"] == [e["event_id"] for e in events]
    for e in events:
        wait_until(lambda e=e: status_of(worker, e["event_id"])["status"] == "landed", 30, e["event_id"])
    PosSale.model_validate(events[0])  # the test's own events are valid ones
