"""Webhooks from a real stream worker to local HTTP receivers: signed, retried, dead-lettered
when a receiver never answers, and replayed from the dead-letter store."""

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stockflow.webhooks import verify_signature
from stores.audit_log import AuditLog
from streams.webhook_delivery import DeadLetters
from tests.support import post_json, wait_until

pytestmark = pytest.mark.integration
SECRET = "a-secret-the-receiver-shares"


class Receivers:
    """One local HTTP server; each path behaves as told: ok, fail_twice (per delivery), down."""

    def __init__(self) -> None:
        self.modes = {"/ok": "ok", "/flaky": "fail_twice", "/down": "down"}
        self.accepted: dict[str, list[dict]] = defaultdict(list)
        self.attempts: Counter = Counter()
        self.refused: list[str] = []
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                problem = verify_signature(SECRET, dict(self.headers), body, int(time.time()))
                if problem:
                    receivers.refused.append(problem)
                    self.send_response(401)
                    self.end_headers()
                    return
                delivery = self.headers["X-Stockflow-Delivery"]
                receivers.attempts[(self.path, delivery)] += 1
                mode = receivers.modes[self.path]
                failing = mode == "down" or (
                    mode == "fail_twice" and receivers.attempts[(self.path, delivery)] <= 2
                )
                if not failing:
                    receivers.accepted[self.path].append({"delivery": delivery, **json.loads(body)})
                self.send_response(503 if failing else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_deliveries_are_signed_retried_dead_lettered_and_replayed(stack):
    receivers = Receivers()
    fast = {"max_attempts": 3, "base_seconds": 0.1}
    subscribers = [
        {"name": "ops", "url": f"{receivers.url}/ok", "events": ["inventory_changed"], "secret": SECRET},
        {"name": "wecom", "url": f"{receivers.url}/flaky", "events": ["inventory_changed"], "secret": SECRET,
         "format": "wecom", "retry": fast},
        {"name": "erp", "url": f"{receivers.url}/down", "events": ["inventory_changed"], "secret": SECRET,
         "retry": fast},
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

    # the plain JSON receiver gets each change once, signed (nothing was refused)
    wait_until(lambda: len(receivers.accepted["/ok"]) == 3, 60, "three deliveries to ops")
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
    receivers.server.shutdown()
