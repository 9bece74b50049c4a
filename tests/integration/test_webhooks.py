"""Webhooks to local HTTP receivers. From a real stream worker: signed, retried, dead-lettered
when a receiver never answers, replayed from the dead-letter store, and a receiver that hangs
holds up nobody else. From the dispatcher with a real aiohttp session: a failing receiver
delays only its own queue and a full queue dead-letters, robots' errcodes are read, DingTalk's
加签 reaches the receiver intact, and a redirect is not followed."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import aiohttp
import pytest
from confluent_kafka import Consumer, TopicPartition

from stockflow.i18n import Language, catalogue
from stockflow.webhooks import Subscriber, verify_signature
from stores.audit_log import AuditLog
from streams.webhook_delivery import DeadLetters, Delivery, Dispatcher
from tests.support import post_json, wait_until

pytestmark = pytest.mark.integration
SECRET = "a-secret-the-receiver-shares"
SIGN_SECRET = "SECf0e1d2c3b4a5968778695a4b3c2d1e0f"
ALERT = {
    "alert_id": "a1",
    "alert_type": "low_stock",
    "severity": "warning",
    "location": "ST01",
    "message": "low",
}


class Receivers:
    """One local HTTP server; each path behaves as told: ok, fail_twice (per delivery), down,
    hang (until `release` is set), keyword (a DingTalk robot refusing the content), busy_once
    (a WeCom robot too busy the first time per delivery), redirect (302 to /ok), ding_signed (a
    DingTalk robot checking 加签). A success is answered like a robot: errcode 0."""

    def __init__(self) -> None:
        self.modes = {
            "/ok": "ok", "/flaky": "fail_twice", "/down": "down", "/hang": "hang", "/keyword": "keyword",
            "/busy": "busy_once", "/redirect": "redirect", "/ding": "ding_signed",
        }  # fmt: skip
        self.accepted: dict[str, list[dict]] = defaultdict(list)
        self.attempts: Counter = Counter()
        self.refused: list[str] = []
        self.release = threading.Event()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                problem = verify_signature(SECRET, dict(self.headers), body, int(time.time()))
                if problem:
                    receivers.refused.append(problem)
                    self.answer(401)
                    return
                path, _, query = self.path.partition("?")
                delivery = self.headers["X-Stockflow-Delivery"]
                receivers.attempts[(path, delivery)] += 1
                attempt = receivers.attempts[(path, delivery)]
                mode = receivers.modes[path]
                if mode == "hang":
                    receivers.release.wait()
                if mode == "down" or (mode == "fail_twice" and attempt <= 2):
                    self.answer(503)
                elif mode == "redirect":
                    self.answer(302, location=f"{receivers.url}/ok")
                elif mode == "keyword":
                    self.answer(200, {"errcode": 310000, "errmsg": "keywords not in content"})
                elif mode == "busy_once" and attempt == 1:
                    self.answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
                elif mode == "ding_signed" and not dingtalk_signed(parse_qs(query)):
                    receivers.refused.append("加签")
                    self.answer(200, {"errcode": 310000, "errmsg": "sign not match"})
                else:
                    receivers.accepted[path].append(
                        {"delivery": delivery, "query": query, **json.loads(body)}
                    )
                    self.answer(200, {"errcode": 0, "errmsg": "ok"})

            def answer(self, status: int, body: dict | None = None, location: str | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


def dingtalk_signed(query: dict[str, list[str]]) -> bool:
    """DingTalk's check, written out: the sign is base64(HMAC-SHA256(secret, "<ms>\\n<secret>"))
    and the timestamp within an hour of now."""
    try:
        (timestamp,), (sign,) = query["timestamp"], query["sign"]
    except (KeyError, ValueError):
        return False
    expected = hmac.new(SIGN_SECRET.encode(), f"{timestamp}\n{SIGN_SECRET}".encode(), hashlib.sha256).digest()
    fresh = abs(time.time() * 1000 - int(timestamp)) < 3_600_000
    return fresh and hmac.compare_digest(base64.b64encode(expected).decode(), sign)


def committed(stack, topic: str) -> int:
    """How many messages of `topic` the workers have committed, over all its partitions (a
    fresh broker: offsets start at 0). Read without joining the workers' group."""
    consumer = Consumer({"bootstrap.servers": stack.broker.bootstrap, "group.id": stack.settings.app_id})
    try:
        partitions = [TopicPartition(topic, p) for p in range(stack.settings.topic_partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10))
    finally:
        consumer.close()


async def eventually(check, timeout: float, what: str):
    """`wait_until` for a test that runs the event loop: the dispatcher keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {check()!r})")


def test_deliveries_are_signed_retried_dead_lettered_and_replayed(stack):
    receivers = Receivers()
    fast = {"max_attempts": 3, "base_seconds": 0.1}
    subscribers = [
        {"name": "ops", "url": f"{receivers.url}/ok", "events": ["inventory_changed"], "secret": SECRET},
        {"name": "wecom", "url": f"{receivers.url}/flaky", "events": ["inventory_changed"], "secret": SECRET,
         "format": "wecom", "retry": fast},
        {"name": "erp", "url": f"{receivers.url}/down", "events": ["inventory_changed"], "secret": SECRET,
         "retry": fast},
        {"name": "stuck", "url": f"{receivers.url}/hang", "events": ["inventory_changed"], "secret": SECRET,
         "timeout_seconds": 300},
    ]  # fmt: skip
    var = stack.settings.var_dir
    (var / "webhooks.json").write_text(json.dumps(subscribers))
    worker = stack.worker()
    sku = next(s for s in stack.catalog.skus.values() if not s.batch_managed)
    receipts = [
        {
            "event_type": "goods_receipt", "event_id": f"hook-{i}", "occurred_at": datetime.now(UTC).isoformat(),
            "source": "handheld-7", "location": "WH1", "purchase_order": f"PO-{i}", "supplier": "SUP01",
            "sku": sku.sku, "qty": "1", "unit": "case", "unit_cost": "120.00",
        }
        for i in range(3)
    ]  # fmt: skip
    status, _ = post_json(f"{worker.url}/events", receipts)
    assert status == 202

    # the plain JSON receiver gets each change once, signed (nothing was refused), while the
    # receiver that hangs still holds the first delivery to it
    wait_until(lambda: len(receivers.accepted["/ok"]) == 3, 60, "three deliveries to ops")
    stuck = lambda: [delivery for (path, delivery) in receivers.attempts if path == "/hang"]  # noqa: E731
    assert len(wait_until(stuck, 60, "the first delivery to the receiver that hangs")) == 1
    assert not receivers.accepted["/hang"]
    assert sorted(d["data"]["event_id"] for d in receivers.accepted["/ok"]) == ["hook-0", "hook-1", "hook-2"]
    assert (
        all(d["event_type"] == "inventory_changed" for d in receivers.accepted["/ok"])
        and not receivers.refused
    )
    # the flaky one fails twice per delivery, then takes it, in the WeCom robot's format
    wait_until(lambda: len(receivers.accepted["/flaky"]) == 3, 60, "three deliveries to wecom")
    assert {n for (path, _), n in receivers.attempts.items() if path == "/flaky"} == {3}
    assert all(
        d["msgtype"] == "markdown" and "WH1" in d["markdown"]["content"] for d in receivers.accepted["/flaky"]
    )
    # the one that is down gets every attempt, then each delivery is dead-lettered
    store = DeadLetters(var)
    wait_until(lambda: len(store.pending()) == 3, 60, "three dead letters")
    assert {n for (path, _), n in receivers.attempts.items() if path == "/down"} == {3}
    assert all(r["subscriber"] == "erp" and r["error"] == "HTTP 503" for r in store.pending())
    assert worker.health()["counters"]["webhooks_dead_lettered"] == 3
    # all that while the stuck one waited on its first delivery; released, it takes all three,
    # each on its first attempt
    # and the message it waits on is not acknowledged: its offset is not committed
    assert len(stuck()) == 1 and not receivers.accepted["/hang"]
    assert committed(stack, "inventory_changed") < 3
    receivers.release.set()
    wait_until(lambda: len(receivers.accepted["/hang"]) == 3, 60, "three deliveries to stuck")
    wait_until(lambda: committed(stack, "inventory_changed") == 3, 60, "the three messages committed")
    assert sorted(stuck()) == [f"stuck:inventory_changed:hook-{i}" for i in range(3)]
    assert {n for (path, _), n in receivers.attempts.items() if path == "/hang"} == {1}

    env = {**os.environ, "STOCKFLOW_VAR_DIR": str(var)}
    cli = [sys.executable, "-m", "cli.main", "webhooks"]
    listed = subprocess.run(
        [*cli, "dead-letters"], env={**env, "COLUMNS": "250"}, capture_output=True, text=True
    )
    assert listed.returncode == 0 and listed.stdout.count("erp:inventory_changed:hook-") == 3
    # still down: a replay fails and keeps them
    failed = subprocess.run([*cli, "replay"], env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and len(store.pending()) == 3
    # back up: replayed, signed afresh, delivered once each, recorded in the audit log
    receivers.modes["/down"] = "ok"
    replayed = subprocess.run([*cli, "replay", "--by", "运维"], env=env, capture_output=True, text=True)
    assert replayed.returncode == 0, replayed.stderr
    assert store.pending() == [] and len(receivers.accepted["/down"]) == 3 and not receivers.refused
    (entry,) = AuditLog(var).records()
    assert (entry["actor"], entry["action"], len(entry["details"]["delivered"])) == (
        "运维",
        "webhooks.replayed",
        3,
    )
    assert worker.health()["counters"]["webhooks_delivered"] == 9
    receivers.stop()


def subscriber(name: str, path: str, receivers: Receivers, **fields) -> Subscriber:
    return Subscriber(name=name, url=f"{receivers.url}{path}", events={"alerts"}, secret=SECRET, **fields)


def test_a_failing_receiver_delays_only_its_own_queue_and_a_full_queue_dead_letters(tmp_path):
    receivers = Receivers()
    healthy = subscriber("healthy", "/ok", receivers)
    slow_schedule = {"max_attempts": 20, "base_seconds": 1, "max_delay_seconds": 60}  # ~15 minutes in all
    failing = subscriber("failing", "/down", receivers, retry=slow_schedule, queue_size=2)
    store = DeadLetters(tmp_path)
    outcomes: dict[str, bool] = {}

    def record(delivery: Delivery):
        async def done(delivered: bool) -> None:
            outcomes[delivery.delivery_id] = delivered

        return done

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            dispatcher = Dispatcher([healthy, failing], store, session, robots_per_minute=20)
            first = Delivery.build(failing, "alerts", "f0", ALERT)
            assert dispatcher.submit(first, record(first))
            await eventually(
                lambda: receivers.attempts[("/down", first.delivery_id)], 30, "the first attempt"
            )
            # the first is being retried: two more fit the failing one's queue, the next two not
            more = [Delivery.build(failing, "alerts", f"f{i}", ALERT) for i in range(1, 5)]
            assert [dispatcher.submit(d, record(d)) for d in more] == [True, True, False, False]
            healthy_ones = [Delivery.build(healthy, "alerts", f"h{i}", ALERT) for i in range(5)]
            for d in healthy_ones:
                assert dispatcher.submit(d, record(d))

            # the healthy receiver gets all of its deliveries while the failing one is retried
            await eventually(lambda: len(receivers.accepted["/ok"]) == 5, 30, "five deliveries to healthy")
            assert [d["delivery"] for d in receivers.accepted["/ok"]] == [d.delivery_id for d in healthy_ones]
            await eventually(
                lambda: receivers.attempts[("/down", first.delivery_id)] >= 2, 30, "a retry of the first"
            )
            assert first.delivery_id not in outcomes and dispatcher.waiting()["failing"] == 2
            assert all(receivers.attempts[("/down", d.delivery_id)] == 0 for d in more)
            # the two that found the queue full are dead letters, never tried
            await eventually(lambda: len(outcomes) == 7, 30, "the outcomes of the healthy and the overflow")
            assert outcomes == {**{d.delivery_id: True for d in healthy_ones}, "failing:alerts:f3": False,
                                "failing:alerts:f4": False}  # fmt: skip
            await dispatcher.close()

    try:
        asyncio.run(scenario())
    finally:
        receivers.stop()
    assert {r["delivery_id"]: (r["attempts"], r["error"]) for r in store.pending()} == {
        f"failing:alerts:f{i}": (0, "queue full: 2 deliveries waiting for failing") for i in (3, 4)
    }


def test_robot_answers_are_read_dingtalk_signs_and_redirects_are_not_followed(tmp_path):
    receivers = Receivers()
    fast = {"max_attempts": 3, "base_seconds": 0.1}
    signed = subscriber(
        "ding", "/ding?access_token=t0k3n", receivers, format="dingtalk", sign_secret=SIGN_SECRET
    )
    keyword = subscriber("keyword", "/keyword", receivers, format="dingtalk", retry=fast)
    busy = subscriber("busy", "/busy", receivers, format="wecom", retry=fast)
    moved = subscriber("moved", "/redirect", receivers, retry=fast)
    subscribers = [signed, keyword, busy, moved]
    store = DeadLetters(tmp_path)
    outcomes: dict[str, bool] = {}

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            dispatcher = Dispatcher(subscribers, store, session, robots_per_minute=20)
            for s in subscribers:
                delivery = Delivery.build(s, "alerts", "a1", ALERT)

                async def done(delivered: bool, delivery_id: str = delivery.delivery_id) -> None:
                    outcomes[delivery_id] = delivered

                dispatcher.submit(delivery, done)
            await eventually(lambda: len(outcomes) == 4, 30, "four outcomes")
            await dispatcher.close()

    try:
        asyncio.run(scenario())
        assert outcomes == {
            "ding:alerts:a1": True, "keyword:alerts:a1": False, "busy:alerts:a1": True, "moved:alerts:a1": False,
        }  # fmt: skip
        # 加签 arrived intact, and the robot's own query was kept
        (ding,) = receivers.accepted["/ding"]
        assert ding["query"].startswith("access_token=t0k3n&timestamp=") and "加签" not in receivers.refused
        low_stock = catalogue(Language.EN)["value.alert_type.low_stock"]  # a robot reads words, not codes
        assert ding["msgtype"] == "markdown" and low_stock in ding["markdown"]["title"]
        # errcode 45009 (too fast) was tried again and then taken
        assert receivers.attempts[("/busy", "busy:alerts:a1")] == 2 and len(receivers.accepted["/busy"]) == 1
        # errcode 310000 is final: one attempt, then the dead-letter store with the robot's words
        # a 302 is a failure with the reason, retried, never followed to /ok
        assert receivers.attempts[("/keyword", "keyword:alerts:a1")] == 1
        assert receivers.attempts[("/redirect", "moved:alerts:a1")] == 3 and not receivers.accepted["/ok"]
        assert {r["delivery_id"]: (r["attempts"], r["error"]) for r in store.pending()} == {
            "keyword:alerts:a1": (1, "errcode 310000: keywords not in content"),
            "moved:alerts:a1": (3, f"HTTP 302 redirect to {receivers.url}/ok, not followed"),
        }
        # a replay goes through the same rules: the robot now takes it, the redirect still fails
        receivers.modes["/keyword"] = "ok"
        assert store.replay(subscribers) == {
            "keyword:alerts:a1": "delivered",
            "moved:alerts:a1": f"HTTP 302 redirect to {receivers.url}/ok, not followed",
        }
        assert [r["delivery_id"] for r in store.pending()] == ["moved:alerts:a1"]
        assert not receivers.accepted["/ok"] and not receivers.refused
    finally:
        receivers.stop()
