"""Trust benchmark: what authentication and refusing hostile input cost, measured in one run.

Figures:
* HTTP ingest (`POST /events`, batches of 50 sales from 4 clients, until every event is landed)
  with authentication on; baseline: the same with authentication off (a fresh broker and worker
  each, same events).
* Kafka rejection throughput: hostile messages (overflowing, naive and future times, NaN,
  negative quantities, deep nesting, wrong types, confusable codes, garbage) dead-lettered per
  second; baseline: valid events applied per second by the same worker in the same run.
* HTTP rejection throughput: hostile requests answered 4xx per second (no token, wrong scope,
  text/plain, oversize, implausible time); baseline: valid single-event requests per second.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.pipeline import Figure, auth, free_port, health, produce_all, report_and_save
from cli.supervisor import start_worker
from infra.processes import stop_process, wait_for_http
from simulator.company import build_catalog
from stockflow.config import Settings
from stockflow.identity import Kind
from stores.credentials import CredentialStore
from streams.broker import EmbeddedBroker, ensure_topics

console = Console()
HTTP_EVENTS = int(os.environ.get("BENCH_TRUST_EVENTS", "20000"))
KAFKA_MESSAGES = int(os.environ.get("BENCH_TRUST_MESSAGES", "20000"))
CLIENTS, BATCH = 4, 50


def sale(event_id: str, sku: str, store: str = "ST01", at: str | None = None) -> dict[str, Any]:
    return {
        "event_type": "pos_sale",
        "event_id": event_id,
        "occurred_at": at or (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "source": "till-1",
        "store": store,
        "ticket": event_id,
        "channel": "retail",
        "lines": [{"sku": sku, "qty": "1", "unit_price": "3.50"}],
    }


def hostile(i: int, sku: str) -> bytes:
    base = sale(f"bad-{i}", sku)
    kinds = [
        {**base, "occurred_at": "9999-12-31T23:00:00-08:00"},
        {**base, "occurred_at": "2026-11-30T10:00:00"},
        {**base, "occurred_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()},
        {**base, "lines": [{"sku": sku, "qty": float("nan"), "unit_price": "1"}]},
        {**base, "lines": [{"sku": sku, "qty": "-4", "unit_price": "1"}]},
        {**base, "store": "ＳＴ０１"},
        {**base, "lines": "everything"},
    ]
    if i % 8 == 7:
        return b"[" * 500 + b"]" * 500
    return json.dumps(kinds[i % len(kinds)], allow_nan=True).encode()


class Run:
    """A broker and one worker, authentication on or off."""

    def __init__(self, tmp: Path, name: str, auth_on: bool) -> None:
        self.tmp = tmp / name
        self.settings = Settings(
            var_dir=self.tmp / "var", broker_port=free_port(), web_port=free_port(), kafka_url=None
        )
        self.auth_on = auth_on
        self.broker = EmbeddedBroker("127.0.0.1", self.settings.broker_port, self.tmp / "broker.log")

    def __enter__(self) -> Run:
        self.broker.start()
        ensure_topics(self.broker.bootstrap, self.settings.topic_partitions)
        build_catalog(self.settings.seed).save(self.settings.masterdata_path)
        os.environ["STOCKFLOW_AUTH_REQUIRED"] = "true" if self.auth_on else "false"
        try:
            self.worker = start_worker(self.settings, self.settings.web_port, self.tmp / "worker.log", "warn")
        finally:
            os.environ.pop("STOCKFLOW_AUTH_REQUIRED", None)
        self.url = f"http://127.0.0.1:{self.settings.web_port}"
        wait_for_http(self.url + "/health", timeout=120, process=self.worker, ready_key="ready")
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.worker)
        self.broker.stop()

    def wait_counted(self, key: str, n: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = health(self.url)
            if h["counters"].get(key, 0) >= n and not h["lake_pending_rows"]:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{key} did not reach {n}")


def post_all(port: int, bodies: list[bytes], headers: dict[str, str]) -> list[int]:
    """POST every body from CLIENTS threads on keep-alive connections; the statuses."""
    statuses: list[int] = []
    lock = threading.Lock()

    def client(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        got = []
        for body in share:
            conn.request("POST", "/events", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            got.append(resp.status)
        conn.close()
        with lock:
            statuses.extend(got)

    threads = [threading.Thread(target=client, args=(bodies[i::CLIENTS],)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def http_ingest(tmp: Path, auth_on: bool, sku: str, round_no: int = 0) -> float:
    with Run(tmp, f"ingest-{round_no}-{'on' if auth_on else 'off'}", auth_on) as run:
        headers = {"Content-Type": "application/json", **(auth() if auth_on else {})}
        prefix = f"r{round_no}"
        bodies = [
            json.dumps([sale(f"{prefix}-{b}-{i}", sku) for i in range(BATCH)]).encode()
            for b in range(HTTP_EVENTS // BATCH)
        ]
        post_all(run.settings.web_port, bodies[:20], headers)  # warm-up
        run.wait_counted("applied", 20 * BATCH)
        started = time.perf_counter()
        statuses = post_all(run.settings.web_port, bodies[20:], headers)
        assert set(statuses) == {202}, set(statuses)
        run.wait_counted("applied", len(bodies) * BATCH)
        return (len(bodies) - 20) * BATCH / (time.perf_counter() - started)


def rejections(tmp: Path, sku: str) -> list[Figure]:
    with Run(tmp, "rejections", True) as run:
        good = [
            ("pos_transactions", b"ST01", json.dumps(sale(f"ok-{i}", sku)).encode())
            for i in range(KAFKA_MESSAGES)
        ]
        bad = [("pos_transactions", b"ST01", hostile(i, sku)) for i in range(KAFKA_MESSAGES)]
        asyncio.run(produce_all(run.broker.bootstrap, good[:1000]))
        run.wait_counted("applied", 1000)
        started = time.perf_counter()
        asyncio.run(produce_all(run.broker.bootstrap, good[1000:]))
        run.wait_counted("applied", KAFKA_MESSAGES)
        applied_rate = (KAFKA_MESSAGES - 1000) / (time.perf_counter() - started)
        started = time.perf_counter()
        asyncio.run(produce_all(run.broker.bootstrap, bad))
        run.wait_counted("dead_lettered", KAFKA_MESSAGES)
        rejected_rate = KAFKA_MESSAGES / (time.perf_counter() - started)
        h = health(run.url)["counters"]
        assert h.get("dead_lettered.internal_error", 0) == 0

        _, till = CredentialStore(run.settings.credentials_path).add(
            "bench-till", Kind.DEVICE, ["ST02"], ["pos_sale"]
        )
        js = {"Content-Type": "application/json", **auth()}
        requests = 4000
        refused = []
        for i in range(requests):
            kind = i % 5
            if kind == 0:
                refused.append(
                    ({"Content-Type": "application/json"}, json.dumps(sale(f"r{i}", sku)).encode())
                )
            elif kind == 1:
                refused.append(
                    (
                        {"Content-Type": "application/json", "Authorization": f"Bearer {till}"},
                        json.dumps(sale(f"r{i}", sku)).encode(),
                    )
                )
            elif kind == 2:
                refused.append(
                    ({**js, "Content-Type": "text/plain"}, json.dumps(sale(f"r{i}", sku)).encode())
                )
            elif kind == 3:
                refused.append((js, b"[" + b" " * (1024 * 1024 + 10) + b"]"))
            else:
                refused.append((js, json.dumps(sale(f"r{i}", sku, at="9999-12-31T23:00:00-08:00")).encode()))
        started = time.perf_counter()
        statuses = []
        for headers, body in refused:
            statuses += post_all(run.settings.web_port, [body], headers)
        refused_rate = requests / (time.perf_counter() - started)
        assert all(400 <= s < 500 for s in statuses), set(statuses)
        valid = [json.dumps(sale(f"v{i}", sku)).encode() for i in range(requests)]
        started = time.perf_counter()
        statuses = []
        for body in valid:
            statuses += post_all(run.settings.web_port, [body], js)
        valid_rate = requests / (time.perf_counter() - started)
        assert set(statuses) == {202}
    return [
        Figure("Kafka: hostile messages dead-lettered", rejected_rate, "msgs/s", applied_rate, "≥ 1× the valid rate", rejected_rate >= applied_rate),
        Figure("HTTP: hostile requests refused (4xx)", refused_rate, "req/s", valid_rate, "≥ 1× valid requests", refused_rate >= valid_rate),
    ]  # fmt: skip


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="stockflow-bench-trust-"))
    catalog = build_catalog(7)
    sku = next(
        code for code, s in sorted(catalog.skus.items()) if not s.batch_managed and s.base_unit == "each"
    )
    rates: dict[bool, list[float]] = {False: [], True: []}
    for round_no, auth_on in enumerate((False, True, True, False)):  # alternated: no order effect
        console.print(f"trust: HTTP ingest, authentication {'on' if auth_on else 'off'} …")
        rates[auth_on].append(http_ingest(tmp, auth_on, sku, round_no))
    on, off = max(rates[True]), max(rates[False])  # best of two each
    figures = [
        Figure(
            "HTTP ingest, authentication on (best of 2)", on, "events/s", off, "≥ 0.9× off", on >= 0.9 * off
        )
    ]
    console.print("trust: rejection throughput …")
    figures += rejections(tmp, sku)
    report_and_save(
        figures, "stockflow trust benchmark (authentication on vs off, rejections vs valid)", "trust"
    )


if __name__ == "__main__":
    main()
