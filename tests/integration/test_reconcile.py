"""`reconcile_stock` against a real worker on the embedded broker: drift injected three ways is
found, classified and repaired; events not landed yet are in flight; the drift alert reaches
the alerts topic and its webhook subscribers; a legacy export is compared."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from flows.reconcile_stock import reconcile_legacy, reconciliation
from lake import LakeWriter, now_utc, partition_for, read_table
from stockflow.alerts import Alert, AlertType
from stockflow.events import AdjustmentReason, CycleCount, GoodsReceipt, StockAdjustment, StockCorrection
from stockflow.i18n import Language, catalogue
from stockflow.reconciliation import Action, Classification, variance_adjustment_id
from stores.audit_log import AuditLog
from stores.books import Books
from stores.reconciliation import ReconciliationStore
from tests.integration.test_pipeline import simulated, wait_processed
from tests.support import (
    free_port,
    get_json,
    post_json,
    produce_with_confluent,
    replay_lake,
    served_positions,
    wait_until,
)

pytestmark = pytest.mark.integration


def send(worker, *events):
    status, body = post_json(f"{worker.url}/events", [e.model_dump(mode="json") for e in events])
    assert status == 202, body


def applied(worker, location, event_id):
    return get_json(f"{worker.url}/reconcile/{location}?events={event_id}&positions=no")["applied"][event_id]


def batch_positions(worker, location):
    """(sku, batch, on_hand) of every batch with stock at a location, most stock first."""
    rows = []
    for item in get_json(f"{worker.url}/stock/{location}")["items"]:
        for b in item["batches"]:
            if b["on_hand"] - b["reserved"] - b["quarantined"] > 5:
                rows.append((b["on_hand"], item["sku"], b["batch"]))
    return [(sku, batch, qty) for qty, sku, batch in sorted(rows, reverse=True)]


def run_flow(settings, var_dir, web_url, full_replay=None):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.reconcile_stock import reconcile_stock

    with temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}):
        summary = reconcile_stock(var_dir=str(var_dir), web_url=web_url, full_replay=full_replay)
        with get_client(sync_client=True) as client:
            # the session's server holds other tests' runs too: this one's name its folder
            runs = [r for r in client.read_flow_runs() if r.parameters.get("var_dir") == str(var_dir)]
            states = [r.state.type.value for r in runs]
    return summary, states


def show_page(monkeypatch, var, latest, flow_run_id, flow_summary):
    """The dashboard's reconciliation page: the latest run's figures, then any run's findings."""
    from stockflow.masking import Role
    from tests.integration.test_dashboards import header, signed_in

    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    at = signed_in(Role.WAREHOUSE)
    at.switch_page("pages/reconciliation.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Positions compared"] == f"{latest.positions_compared:,}" and metrics["Drift"] == "0"
    at.selectbox(key="reconciliation_run").select(flow_run_id).run()
    found = at.dataframe[1].value
    words = catalogue(Language.EN)  # the table shows its classes and actions in words
    assert sorted(found[header("classification")]) == sorted(
        words[f"value.classification.{c}"] for c in ("count_variance", "drift", "drift")
    )
    assert set(found[header("action")]) == {
        words["value.action.correction"],
        words["value.action.adjustment"],
    }
    assert found[header("applied")].all()
    assert flow_summary["drift"] == 2


def test_drift_and_count_variance_are_found_classified_and_repaired(stack, prefect_server, monkeypatch):
    worker = stack.worker()
    messages = simulated(stack, days=2)
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)
    settings = stack.settings.model_copy(update={"web_port": worker.web_port})
    var = settings.var_dir

    # a clean pipeline: no drift; the simulated counts' differences get booked
    clean = reconciliation(settings).run()
    assert clean.count(Classification.DRIFT) == 0 and clean.count(Classification.IN_FLIGHT) == 0
    assert clean.sent(Action.ADJUSTMENT) == clean.count(Classification.COUNT_VARIANCE) > 0
    assert clean.unconfirmed == 0
    assert clean.positions_compared > 100 and clean.events_replayed > 1000

    now = datetime.now(UTC)
    (sku_a, batch_a, _), (sku_b, batch_b, _), (sku_c, batch_c, book_c) = batch_positions(worker, "WH1")[:3]

    # 1. a lost event: the ledger holds a receipt the live state never applied
    lost = GoodsReceipt(
        event_id="lost-receipt-1", occurred_at=now, source="RF-WH1", location="WH1", purchase_order="PO-LOST",
        supplier=stack.catalog.skus[sku_a].supplier or next(iter(stack.catalog.suppliers)), sku=sku_a,
        batch=batch_a or None, expiry_date=(now + timedelta(days=30)).date(), qty=Decimal(7), unit_cost=Decimal("2.00"),
    )  # fmt: skip
    other = LakeWriter(stack.lake, "another-worker")
    partition = partition_for("WH1", settings.topic_partitions)
    other.land_applied(lost, lost.model_dump_json().encode(), "scans", partition, -1, (), now_utc())
    other.flush()
    # 2. a duplicate past the guard: the state applies a receipt's 5 units a second time
    duplicate = StockCorrection(
        event_id="duplicate-applied-1", occurred_at=now, source="RF-WH1", location="WH1", sku=sku_b,
        batch=batch_b or None, on_hand=5, run_id="none",
    )  # fmt: skip
    # 3. a count that disagrees with the book, its difference not booked by anyone
    count = CycleCount(
        event_id="count-off-1", occurred_at=now, source="RF-WH1", location="WH1", count_id="CNT-OFF-1",
        sku=sku_c, batch=batch_c or None, counted_qty=Decimal(book_c - 3),
    )  # fmt: skip
    send(worker, duplicate, count)
    wait_until(lambda: applied(worker, "WH1", "count-off-1"), 30, "the count applied")
    wait_until(lambda: worker.health()["lake_pending_rows"] == 0, 30, "the lake flushed")

    # the run starts from the checkpoint the clean run left: it replays only what landed since,
    # and still sees both drifts (its checkpoints come from the lake, never from the worker)
    summary, states = run_flow(prefect_server, var, worker.url, full_replay=False)
    assert states == ["COMPLETED"]
    assert 0 < summary["events_replayed"] < clean.events_replayed / 10
    assert (summary["drift"], summary["count_variance"], summary["in_flight"]) == (2, 1, 0)
    assert (summary["corrections"], summary["adjustments"], summary["unconfirmed"]) == (2, 1, 0)

    store = ReconciliationStore(settings.reconciliation_path)
    run = store.runs(1)[0]
    rows = {(r["sku"], r["batch"]): r for r in store.discrepancies(run["run_id"])}
    found_a, found_b, found_c = rows[(sku_a, batch_a)], rows[(sku_b, batch_b)], rows[(sku_c, batch_c)]
    assert (found_a["classification"], found_a["on_hand_diff"], found_a["action"]) == (
        "drift",
        -7,
        "correction",
    )
    assert (found_b["classification"], found_b["on_hand_diff"], found_b["action"]) == (
        "drift",
        5,
        "correction",
    )
    assert found_b["value"] == stack.catalog.skus[sku_b].standard_cost * 5
    assert (found_c["classification"], found_c["qty"], found_c["action"]) == (
        "count_variance",
        -3,
        "adjustment",
    )
    assert found_c["event_id"] == variance_adjustment_id("count-off-1")
    assert all(r["applied"] for r in rows.values())

    # the drift raised one alert, landed by the workers for the dashboards' Alerts page
    (drift_alert,) = [
        a for a in read_table(stack.lake, "alerts").to_pylist() if a["alert_type"] == "stock_drift"
    ]
    assert drift_alert["severity"] == "warning" and "2 position(s)" in drift_alert["message"]

    # repaired: the live state equals the ledger replayed from the lake, the count is booked
    locations = sorted(stack.catalog.locations)
    served = served_positions(worker.url, locations)
    ledger = replay_lake(stack.lake, stack.catalog)
    assert served == ledger
    assert ledger[("WH1", sku_c, batch_c)]["on_hand"] == book_c - 3

    # the next runs find nothing, from the checkpoints and from the whole lake; a restarted
    # worker rebuilds the same state (corrections skipped)
    again = reconciliation(settings).run()
    assert (again.count(Classification.DRIFT), again.count(Classification.COUNT_VARIANCE)) == (0, 0)
    whole = reconciliation(settings, full=True).run(repair=False)
    assert whole.events_replayed > clean.events_replayed
    assert (whole.count(Classification.DRIFT), whole.count(Classification.COUNT_VARIANCE)) == (0, 0)
    show_page(monkeypatch, var, again, run["run_id"], summary)
    worker.stop()
    restarted = stack.worker(free_port())
    assert served_positions(restarted.url, locations) == served

    # the count difference is booked to 待处理财产损溢; the corrections are not booked at all
    Books(var, stack.catalog).post_new_movements()
    with duckdb.connect(str(var / "books.duckdb"), read_only=True) as con:
        lines = con.execute(
            "SELECT v.source_event_id, l.account_code, l.debit, l.credit FROM vouchers v "
            "JOIN voucher_lines l USING (voucher_id) WHERE v.source_event_type IN ('stock_adjustment', "
            "'stock_correction') AND v.source_event_id NOT LIKE 'ADJ-%' AND v.source_event_id NOT LIKE 'CC-%'"
        ).fetchall()
    assert {r[0] for r in lines} == {variance_adjustment_id("count-off-1")}
    assert any(code == "190101" and debit > 0 for _, code, debit, _ in lines)

    # every repair is in the audit log, with who and why, and the chain holds
    audit = AuditLog(var)
    entries = [e for e in audit.records() if e and e["details"].get("run_id") == run["run_id"]]
    assert sorted(e["action"] for e in entries) == [
        "stock.corrected",
        "stock.corrected",
        "stock.count_variance_posted",
    ]
    assert all(e["actor"] == "reconcile_stock" and e["reason"] for e in entries) and audit.verify().ok


def test_events_not_landed_yet_are_in_flight_and_left_alone(stack, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_LAKE_FLUSH_SECONDS", "45")
    worker = stack.worker()
    settings = stack.settings.model_copy(update={"web_port": worker.web_port})
    sku = next(code for code, s in stack.catalog.skus.items() if not s.batch_managed)
    found = StockAdjustment(
        event_id="found-1", occurred_at=datetime.now(UTC), source="RF-WH1", location="WH1", sku=sku,
        qty=Decimal(4), reason=AdjustmentReason.FOUND,
    )  # fmt: skip
    send(worker, found)
    wait_until(lambda: applied(worker, "WH1", "found-1"), 30, "the adjustment applied")
    assert worker.health()["lake_pending_rows"] > 0  # applied, not landed

    report = reconciliation(settings).run()
    (only,) = report.findings
    assert only.discrepancy.classification is Classification.IN_FLIGHT
    assert (only.discrepancy.key.sku, only.discrepancy.difference["on_hand"], only.action) == (
        sku,
        4,
        Action.NONE,
    )
    assert report.sent(Action.CORRECTION) == 0


def read_topic(bootstrap, topic, partitions, until, timeout=30.0):
    """Messages of a topic from the start (JSON values), read by a real consumer until `until(seen)`.
    It is assigned every partition rather than joining a group: a join waits out half the
    client's session timeout (45 s by default) on the embedded broker."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{time.monotonic_ns()}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seen = []
    deadline = time.monotonic() + timeout
    try:
        while not until(seen) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.append(json.loads(msg.value()))
    finally:
        consumer.close()
    return seen


def test_a_drift_alert_reaches_the_alerts_topic_and_its_subscribers(stack):
    from tests.integration.test_webhooks import SECRET, Receivers

    receivers = Receivers()
    subscriber = {
        "name": "ops",
        "url": f"{receivers.url}/ok",
        "events": ["alerts.stock_drift"],
        "secret": SECRET,
    }
    (stack.settings.var_dir / "webhooks.json").write_text(json.dumps([subscriber]))
    worker = stack.worker()
    settings = stack.settings.model_copy(update={"web_port": worker.web_port})
    sku = next(code for code, s in sorted(stack.catalog.skus.items()) if not s.batch_managed)
    now = datetime.now(UTC)
    receipt = GoodsReceipt(
        event_id="rcv-drift", occurred_at=now, source="RF-WH1", location="WH1", purchase_order="PO-DRIFT",
        supplier=stack.catalog.skus[sku].supplier or sorted(stack.catalog.suppliers)[0], sku=sku,
        qty=Decimal(10), unit_cost=Decimal("2.00"),
    )  # fmt: skip
    # applied by the state, skipped by a replay of the lake: the state drifts 3 above the ledger
    twice = StockCorrection(
        event_id="applied-twice", occurred_at=now, source="RF-WH1", location="WH1", sku=sku, on_hand=3, run_id="none"
    )  # fmt: skip
    send(worker, receipt, twice)
    wait_until(lambda: applied(worker, "WH1", "applied-twice"), 30, "the correction applied")
    wait_until(lambda: worker.health()["lake_pending_rows"] == 0, 30, "the lake flushed")

    run = reconciliation(settings)
    report = run.run()
    assert (report.count(Classification.DRIFT), report.sent(Action.CORRECTION), report.unconfirmed) == (
        1,
        1,
        0,
    )
    alert_id = Alert.make_id(AlertType.STOCK_DRIFT, report.run_id)

    # on the alerts topic, read back by a consumer of its own
    partitions = stack.settings.topic_partitions
    seen = read_topic(
        stack.broker.bootstrap, "alerts", partitions, lambda got: any(a["alert_id"] == alert_id for a in got)
    )
    (found,) = [a for a in seen if a["alert_id"] == alert_id]
    assert (found["alert_type"], found["severity"], found["location"]) == ("stock_drift", "warning", "WH1")
    assert found["details"]["run_id"] == report.run_id and "1 position(s)" in found["message"]
    # in the lake (landed before the workers answered), and delivered to the webhook subscriber
    assert [a["alert_id"] for a in read_table(stack.lake, "alerts").to_pylist()].count(alert_id) == 1
    wait_until(lambda: receivers.accepted["/ok"], 60, "the drift alert delivered")
    (delivered,) = receivers.accepted["/ok"]
    assert delivered["data"]["alert_id"] == alert_id

    # a retried step raises the same alert (a duplicate downstream, by its id)
    assert run.raise_alert().alert_id == alert_id
    again = read_topic(
        stack.broker.bootstrap,
        "alerts",
        partitions,
        lambda got: [a["alert_id"] for a in got].count(alert_id) == 2,
    )
    assert [a["alert_id"] for a in again].count(alert_id) == 2
    # the workers validate what they are sent
    status, body = post_json(f"{worker.url}/alerts", {"alert_id": "x", "alert_type": "no_such_type"})
    assert status == 400 and body["errors"][0]["error"] == "invalid_alert"
    receivers.server.shutdown()


def test_legacy_export_is_compared_with_the_ledger(stack, tmp_path):
    worker = stack.worker()
    messages = simulated(stack, days=1)
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)
    ledger = replay_lake(stack.lake, stack.catalog)
    rows = sorted((k, v) for k, v in ledger.items() if v["on_hand"])
    export = tmp_path / "legacy.csv"
    lines = ["location,sku,batch,on_hand"]
    for i, ((location, sku, batch), pos) in enumerate(rows):
        on_hand = pos["on_hand"] + (2 if i == 0 else 0)  # the old system has two more of the first
        lines.append(f"{location},{sku},{batch},{on_hand}")
    lines.pop()  # and does not know the last position at all
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = reconcile_legacy(stack.settings, export)
    assert all(f.action is Action.REPORT_ONLY for f in report.findings)
    drift = {
        f.discrepancy.key: f.discrepancy.difference["on_hand"]
        for f in report.findings
        if f.discrepancy.classification is Classification.DRIFT and f.discrepancy.difference["on_hand"]
    }
    assert {(k.location, k.sku, k.batch): v for k, v in drift.items()} == {
        rows[0][0]: 2,
        rows[-1][0]: -rows[-1][1]["on_hand"],
    }
    variances = [f for f in report.findings if f.discrepancy.classification is Classification.COUNT_VARIANCE]
    assert variances and all(f.discrepancy.count.variance == f.discrepancy.qty for f in variances)
    # taken before the day's events: every position the ledger moved since is in flight instead
    early = reconcile_legacy(stack.settings, export, as_of=datetime(2000, 1, 1, tzinfo=UTC))
    assert {f.discrepancy.classification for f in early.findings} == {
        Classification.IN_FLIGHT,
        Classification.COUNT_VARIANCE,
    }
    assert all(f.action is Action.NONE for f in early.findings if f.discrepancy.classification == "in_flight")
    assert ReconciliationStore(stack.settings.reconciliation_path).runs(5)[0]["source"] == "legacy:legacy.csv"

    # the command: exit 1 when the systems differ, 2 (with the line) when the export is unreadable
    def cli(*args):
        env = {**os.environ, "STOCKFLOW_VAR_DIR": str(stack.settings.var_dir), "COLUMNS": "250"}
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "reconcile", *args],
            env=env,
            capture_output=True,
            text=True,
        )

    differs = cli("--legacy", str(export), "--show", "500")
    assert differs.returncode == 1, differs.stderr
    assert "the legacy export − ledger: on_hand +2" in differs.stdout
    same = tmp_path / "same.csv"
    same.write_text(
        "location,sku,batch,on_hand\n" + "".join(f"{k[0]},{k[1]},{k[2]},{v['on_hand']}\n" for k, v in rows),
        encoding="utf-8",
    )
    agreed = cli("--legacy", str(same))
    assert (agreed.returncode, agreed.stdout.count("drift")) == (1 if variances else 0, 0), agreed.stderr
    broken = tmp_path / "broken.csv"
    broken.write_text("location,sku,batch,on_hand\nWH1,NOPE,,1\n", encoding="utf-8")
    refused = cli("--legacy", str(broken))
    assert refused.returncode == 2 and "line 2: SKU 'NOPE'" in refused.stderr
