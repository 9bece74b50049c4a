"""Edge benchmark: a store's day offline drained after reconnecting, against ``POST /events`` direct.

Figures (one broker, one worker, authentication on, the same run):
* offline intake: a day of a store's sales (`BENCH_EDGE_EVENTS`, at least 50,000) taken by the
  edge agent while the workers cannot be reached, events/s (each request on disk before its
  answer);
* drain: from the moment the worker answers until the agent's outbox is empty (every event
  confirmed in the record), events/s; baseline: the same number of sales POSTed straight to the
  worker by one client in the same batch size, until all are applied and landed.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.pipeline import Figure, auth, free_port, report_and_save
from bench.trust import Run, sale
from cli.supervisor import start_worker
from infra.processes import start_process, stop_process, wait_for_http
from stockflow.identity import Kind
from stores.credentials import CredentialStore

EVENTS = max(50_000, int(os.environ.get("BENCH_EDGE_EVENTS", "50000")))
BATCH = 500


def _bodies(prefix: str, sku: str, start: datetime) -> list[bytes]:
    """A day's sales at a store (one every half second), from four tills."""
    out = []
    for b in range(EVENTS // BATCH):
        batch = []
        for i in range(BATCH):
            n = b * BATCH + i
            event = sale(f"{prefix}-{n}", sku, at=(start + timedelta(seconds=n / 2)).isoformat())
            event["source"], event["source_seq"] = f"till-{n % 4}", n
            batch.append(event)
        out.append(json.dumps(batch).encode())
    return out


def _post(port: int, bodies: list[bytes], headers: dict[str, str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for body in bodies:
        conn.request("POST", "/events", body=body, headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 202:
            raise RuntimeError(f"POST /events answered {resp.status}: {answer[:300]!r}")
    conn.close()


def _outbox_left(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM outbox WHERE state IN ('waiting', 'sent')").fetchone()[0]


def run() -> list[Figure]:
    with (
        tempfile.TemporaryDirectory(prefix="stockflow-bench-edge-") as tmp,
        Run(Path(tmp), "edge", True) as r,
    ):
        sku = "DRY-0001"
        headers = {"Content-Type": "application/json", **auth()}
        start = datetime.now(UTC) - timedelta(hours=20)
        # stock for both days' sales, so that no sale drives it negative (each would be a conflict)
        opening = {
            "event_type": "goods_receipt",
            "event_id": "opening",
            "occurred_at": (start - timedelta(hours=1)).isoformat(),
            "source": "backoffice",
            "location": "ST01",
            "purchase_order": "PO-opening",
            "supplier": "SUP02",
            "sku": sku,
            "qty": 4 * EVENTS,
            "unit_cost": "2.00",
        }
        _post(r.settings.web_port, [json.dumps(opening).encode()], headers)
        # baseline: the first day, straight to the worker
        direct = _bodies("direct", sku, start)
        began = time.perf_counter()
        _post(r.settings.web_port, direct, headers)
        r.wait_counted("applied", EVENTS + 1)
        direct_rate = EVENTS / (time.perf_counter() - began)

        # the edge agent, while the workers cannot be reached: the worker is stopped
        _, edge_token = CredentialStore(r.settings.credentials_path).add("edge ST01", Kind.DEVICE, ["ST01"])
        stop_process(r.worker)
        edge_port = free_port()
        outbox = Path(tmp) / "edge" / "outbox.sqlite3"
        env = {
            **os.environ,
            "STOCKFLOW_VAR_DIR": str(r.settings.var_dir),
            "STOCKFLOW_EDGE_CENTRAL_URL": r.url,
            "STOCKFLOW_EDGE_TOKEN": edge_token,
            "STOCKFLOW_EDGE_PORT": str(edge_port),
            "STOCKFLOW_EDGE_OUTBOX_PATH": str(outbox),
            "STOCKFLOW_EDGE_BACKOFF_MAX_SECONDS": "0.5",
            "STOCKFLOW_EDGE_SYNC_SECONDS": "3600",
        }
        edge = start_process(
            ["-m", "cli.main", "edge", "run", "--location", "ST01"], env, Path(tmp) / "edge.log"
        )
        try:
            wait_for_http(f"http://127.0.0.1:{edge_port}/health", timeout=60, process=edge)
            offline = _bodies("offline", sku, start + timedelta(hours=8))
            began = time.perf_counter()
            _post(edge_port, offline, headers)
            intake_rate = EVENTS / (time.perf_counter() - began)
            assert _outbox_left(outbox) == EVENTS
            # reconnect: the worker comes back
            r.worker = start_worker(r.settings, r.settings.web_port, Path(tmp) / "worker-2.log", "warn")
            wait_for_http(r.url + "/health", timeout=120, process=r.worker, ready_key="ready")
            began = time.perf_counter()
            while _outbox_left(outbox):
                time.sleep(0.05)
            drain_rate = EVENTS / (time.perf_counter() - began)
        finally:
            stop_process(edge)
    return [
        Figure("edge offline intake (on disk before the answer)", intake_rate, "events/s"),
        Figure(
            f"edge drain of {EVENTS:,} offline events after reconnect (confirmed in the record)",
            drain_rate,
            "events/s",
            baseline=direct_rate,
            target="baseline: the same events POSTed straight to the worker",
        ),
    ]


def main() -> None:
    report_and_save(run(), "stockflow edge benchmark (same broker, same run)", "edge")


if __name__ == "__main__":
    main()
