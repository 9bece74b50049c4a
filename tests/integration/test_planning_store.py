"""The planning store under the use cases (DuckDB files, no stream): concurrent decisions on one
item (threads, and processes), the audit entry of a decision whose event cannot be sent, and the
warehouse's zero-filled daily demand (`stores.demand.daily_demand`)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from infra.jsonl import append_durably, exclusive
from infra.worker_client import StockApiError, WorkerClient
from stockflow.events import encode_event
from stockflow.forecasting import Decision, ReviewError
from stockflow.replenishment import (
    Plan,
    SuggestionAlreadyDecided,
    SuggestionError,
    SuggestionStatus,
    TransferSuggestion,
)
from stockflow.services.planning import decide_review, decide_suggestion
from stores.audit_log import AuditLog
from stores.demand import Outflow, daily_demand
from stores.planning import Planning
from tests.support.network import free_port

pytestmark = pytest.mark.integration


class SlowPublisher:
    """Takes its time, so that a second decision arrives while the first is publishing."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def publish(self, event) -> None:  # noqa: ANN001
        time.sleep(0.5)
        self.events.append(event.event_id)


def race(decide) -> list[BaseException | dict | None]:  # noqa: ANN001
    outcomes: list[BaseException | dict | None] = []

    def one(who: str) -> None:
        try:
            outcomes.append(decide(who))
        except (ReviewError, SuggestionError) as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=one, args=(who,)) for who in ("王经理", "李会计")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_two_approvals_of_one_suggestion_at_once_publish_one_event(tmp_path):
    planning, audit, publisher = Planning(tmp_path), AuditLog(tmp_path), SlowPublisher()
    transfer = TransferSuggestion("MILK-1L", "WH1", "S1", "B1", 6, 3.2, None)
    planning.store_plan("run-1", datetime.now(UTC), date(2026, 3, 31), Plan([], [], [transfer]))
    (suggestion,) = planning.suggestions()

    outcomes = race(
        lambda who: decide_suggestion(
            planning, audit, suggestion["suggestion_id"], "approved", who, publish=publisher
        )
    )
    refused = [o for o in outcomes if isinstance(o, SuggestionError)]
    taken = [o for o in outcomes if isinstance(o, dict)]
    assert len(taken) == len(refused) == 1 and "already approved" in str(refused[0])
    assert publisher.events == [taken[0]["event_id"]] == [f"{suggestion['suggestion_id']}:transfer"]
    assert [e["actor"] for e in audit.records()] == [taken[0]["reviewer"]]


def test_two_decisions_on_one_review_at_once_take_one(tmp_path):
    planning, audit, publisher = Planning(tmp_path), AuditLog(tmp_path), SlowPublisher()
    with planning.connect() as con:
        con.execute(
            "INSERT INTO reviews (run_id, location, sku, status, confidence, opened_at)"
            " VALUES ('run-1', 'S1', 'MILK-1L', 'open', 0.5, ?)",
            [datetime.now(UTC)],
        )
    outcomes = race(
        lambda who: decide_review(
            planning,
            audit,
            "run-1",
            "S1",
            "MILK-1L",
            Decision.ACCEPTED,
            who,
            "looks right",
            publish=publisher,
        )
    )
    assert sum(isinstance(o, ReviewError) for o in outcomes) == 1 and outcomes.count(None) == 1
    assert publisher.events == ["review:run-1:S1:MILK-1L"] and len(audit.records()) == 1
    with planning.connect(read_only=True) as con:
        assert con.execute("SELECT status FROM reviews").fetchall() == [("accepted",)]


class FilePublisher:
    """Publishes each event as a JSON line in a file, as a stream would take it (any process)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def publish(self, event) -> None:  # noqa: ANN001
        with exclusive(self.path):
            append_durably(self.path, encode_event(event).decode())

    def event_ids(self) -> list[str]:
        if not self.path.exists():
            return []
        return [json.loads(line)["event_id"] for line in self.path.read_text().splitlines()]


def transfers(planning: Planning, n: int) -> list[str]:
    plan = Plan(
        [], [], [TransferSuggestion(f"SKU-{i:02d}", "WH1", "S1", "B1", 6, 3.2, None) for i in range(n)]
    )
    planning.store_plan("run-1", datetime.now(UTC), date(2026, 3, 31), plan)
    return sorted(r["suggestion_id"] for r in planning.suggestions())


def decide_each_at_once(var: str, who: str, ids: list[str], barrier, results) -> None:  # noqa: ANN001
    """One process: for each suggestion, wait for the other process, then decide it (one approves,
    the other rejects). Runs in a spawned process."""
    planning, audit = Planning(Path(var)), AuditLog(Path(var))
    publisher = FilePublisher(Path(var) / "events.jsonl")
    decision = "approved" if who == "王经理" else "rejected"
    for suggestion_id in ids:
        barrier.wait(timeout=120)
        try:
            row = decide_suggestion(
                planning, audit, suggestion_id, decision, who, "at once", publish=publisher
            )
        except SuggestionAlreadyDecided as refused:
            results.put((suggestion_id, who, "refused", refused.by, refused.status, str(refused)))
        else:
            results.put((suggestion_id, who, "won", row["reviewer"], row["status"], row["event_id"]))


def test_two_processes_deciding_each_suggestion_at_once_one_wins_each_time(tmp_path):
    rounds = 20
    planning = Planning(tmp_path)
    ids = transfers(planning, rounds)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    processes = [
        ctx.Process(target=decide_each_at_once, args=(str(tmp_path), who, ids, barrier, results))
        for who in ("王经理", "李会计")
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in range(2 * rounds)]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    stored = {r["suggestion_id"]: r for r in planning.suggestions(None)}
    publisher = FilePublisher(tmp_path / "events.jsonl")
    for suggestion_id in ids:
        won = [o for o in outcomes if o[0] == suggestion_id and o[2] == "won"]
        refused = [o for o in outcomes if o[0] == suggestion_id and o[2] == "refused"]
        assert len(won) == len(refused) == 1, (suggestion_id, outcomes)
        winner, status = won[0][1], won[0][4]
        # the loser is told who decided, and how
        assert (
            refused[0][3] == winner
            and refused[0][4] == status
            and f"already {status} by {winner}" in refused[0][5]
        )
        assert (stored[suggestion_id]["reviewer"], stored[suggestion_id]["status"]) == (winner, status)
    approved = sorted(i for i in ids if stored[i]["status"] == SuggestionStatus.APPROVED)
    assert sorted(publisher.event_ids()) == [f"{i}:transfer" for i in approved]  # each once
    entries = AuditLog(tmp_path).records()
    assert sorted(e["target"].split()[-1] for e in entries) == ids  # one entry per decision
    assert all(e["actor"] == stored[e["target"].split()[-1]]["reviewer"] for e in entries)
    assert AuditLog(tmp_path).verify().ok


def test_a_decision_whose_claim_finds_the_suggestion_decided_under_it_writes_nothing(tmp_path):
    planning = Planning(tmp_path)
    (suggestion_id,) = transfers(planning, 1)
    decided_at = datetime(2026, 3, 31, 9, 15, tzinfo=UTC)
    with planning.deciding_suggestion(suggestion_id) as pending:
        assert pending.row["status"] == "proposed"
        # a writer that does not take the store's lock decides it between the read and the claim
        other = duckdb.connect(str(planning.path))
        other.execute(
            "UPDATE suggestions SET status = 'rejected', reviewer = '李会计', decided_at = ? WHERE suggestion_id = ?",
            [decided_at, suggestion_id],
        )
        other.close()
        taken = pending.record(SuggestionStatus.APPROVED, datetime.now(UTC), "王经理", "", "", "e", "TR")
        assert taken is False
        assert (pending.row["status"], pending.row["reviewer"]) == ("rejected", "李会计")
    (row,) = planning.suggestions(None)
    assert (row["status"], row["reviewer"], row["event_id"]) == ("rejected", "李会计", None)


def test_a_decision_whose_claim_finds_the_review_decided_under_it_writes_nothing(tmp_path):
    planning = Planning(tmp_path)
    with planning.connect() as con:
        con.execute(
            "INSERT INTO reviews (run_id, location, sku, status, confidence, opened_at)"
            " VALUES ('run-1', 'S1', 'MILK-1L', 'open', 0.5, ?)",
            [datetime.now(UTC)],
        )
    with planning.deciding_review("run-1", "S1", "MILK-1L") as pending:
        assert pending.status == "open"
        other = duckdb.connect(str(planning.path))
        other.execute("UPDATE reviews SET status = 'overridden', reviewer = '李会计', override_daily = 3")
        other.close()
        assert pending.record(Decision.ACCEPTED, "王经理", "", "ok", datetime.now(UTC), None) is False
        assert (pending.status, pending.row["reviewer"]) == ("overridden", "李会计")
    with planning.connect(read_only=True) as con:
        assert con.execute("SELECT status, reviewer FROM reviews").fetchall() == [("overridden", "李会计")]


def test_an_approval_the_stream_cannot_take_is_in_the_audit_log_and_not_in_the_store(tmp_path):
    planning, audit = Planning(tmp_path), AuditLog(tmp_path)
    (suggestion_id,) = transfers(planning, 1)
    nobody_listens = WorkerClient(f"http://127.0.0.1:{free_port()}", attempts=1, timeout=5)
    with pytest.raises(StockApiError):
        decide_suggestion(planning, audit, suggestion_id, "approved", "王经理", publish=nobody_listens)
    (row,) = planning.suggestions(None)
    assert (row["status"], row["event_id"]) == ("proposed", None)
    entry, failed = audit.records()
    assert (entry["action"], entry["actor"], entry["details"]["event_id"]) == (
        "suggestion.approved",
        "王经理",
        f"{suggestion_id}:transfer",
    )
    assert (
        failed["action"] == "suggestion.approved.failed" and failed["details"]["voids_entry"] == entry["seq"]
    )
    # taken again once the stream is back: the same decision and event ids, the event once
    publisher = FilePublisher(tmp_path / "events.jsonl")
    decide_suggestion(planning, audit, suggestion_id, "approved", "王经理", publish=publisher)
    assert publisher.event_ids() == [f"{suggestion_id}:transfer"]
    assert [e["action"] for e in audit.records()] == [
        "suggestion.approved",
        "suggestion.approved.failed",
        "suggestion.approved",
    ]
    assert audit.records()[-1]["details"]["decision_id"] == entry["details"]["decision_id"]


@pytest.fixture
def warehouse_con():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE fct_daily_demand (location_id VARCHAR, sku_id VARCHAR, business_date DATE, units HUGEINT)"
    )
    con.execute(
        "INSERT INTO fct_daily_demand VALUES ('S1', 'MILK', '2026-03-02', 3), ('S1', 'MILK', '2026-03-05', 2),"
        " ('S2', 'RICE', '2026-03-04', 1), ('S2', 'RICE', '2026-03-07', 9)"
    )
    con.execute(
        "CREATE TABLE fct_daily_channel_demand (location_id VARCHAR, sku_id VARCHAR, channel VARCHAR,"
        " business_date DATE, units HUGEINT)"
    )
    con.execute(
        "INSERT INTO fct_daily_channel_demand VALUES ('S1', 'MILK', 'dine_in', '2026-03-02', 3),"
        " ('S1', 'MILK', 'takeout', '2026-03-04', 2), ('S2', 'RICE', 'retail', '2026-03-04', 1)"
    )
    con.execute(
        "CREATE TABLE fct_stock_movements (location_id VARCHAR, sku_id VARCHAR, business_date DATE,"
        " event_type VARCHAR, on_hand_delta DECIMAL(18, 3))"
    )
    con.execute(
        "INSERT INTO fct_stock_movements VALUES ('WH1', 'MILK', '2026-03-03', 'transfer_out', -4),"
        " ('WH1', 'MILK', '2026-03-03', 'transfer_out', -1), ('WH1', 'MILK', '2026-03-04', 'pos_sale', -7),"
        " ('WH1', 'MILK', '2026-03-04', 'transfer_in', 2)"
    )
    yield con
    con.close()


def rows(frame) -> list[tuple]:  # noqa: ANN001
    return [tuple(r) for r in frame.itertuples(index=False)]


def test_daily_demand_fills_days_without_demand_from_each_series_first_day(warehouse_con):
    d = date
    assert rows(daily_demand(warehouse_con, d(2026, 3, 6))) == [
        ("S1", "MILK", d(2026, 3, 2), 3.0),
        ("S1", "MILK", d(2026, 3, 3), 0.0),
        ("S1", "MILK", d(2026, 3, 4), 0.0),
        ("S1", "MILK", d(2026, 3, 5), 2.0),
        ("S1", "MILK", d(2026, 3, 6), 0.0),
        ("S2", "RICE", d(2026, 3, 4), 1.0),
        ("S2", "RICE", d(2026, 3, 5), 0.0),
        ("S2", "RICE", d(2026, 3, 6), 0.0),  # 7 March is after `through`
    ]
    # from `since`: a series starts on its first demand in the window; one without any is absent
    assert rows(daily_demand(warehouse_con, d(2026, 3, 5), since=d(2026, 3, 5))) == [
        ("S1", "MILK", d(2026, 3, 5), 2.0)
    ]


def test_daily_demand_of_given_series_has_every_day_from_since(warehouse_con):
    d = date
    frame = daily_demand(
        warehouse_con, d(2026, 3, 5), since=d(2026, 3, 4), series=[("S1", "MILK"), ("S9", "TEA")], dense=True
    )
    assert rows(frame) == [
        ("S1", "MILK", d(2026, 3, 4), 0.0),
        ("S1", "MILK", d(2026, 3, 5), 2.0),
        ("S9", "TEA", d(2026, 3, 4), 0.0),
        ("S9", "TEA", d(2026, 3, 5), 0.0),
    ]
    with pytest.raises(ValueError):
        daily_demand(warehouse_con, d(2026, 3, 5), series=[("S1", "MILK")])


def test_channel_demand_only_for_pairs_sold_through_several_and_transfers_out(warehouse_con):
    d = date
    assert rows(daily_demand(warehouse_con, d(2026, 3, 4), outflow=Outflow.CHANNEL_DEMAND)) == [
        ("S1", "MILK", "dine_in", d(2026, 3, 2), 3.0),
        ("S1", "MILK", "dine_in", d(2026, 3, 3), 0.0),
        ("S1", "MILK", "dine_in", d(2026, 3, 4), 0.0),
        ("S1", "MILK", "takeout", d(2026, 3, 4), 2.0),
    ]
    sent = daily_demand(
        warehouse_con, d(2026, 3, 4), since=d(2026, 3, 2), dense=True, outflow=Outflow.TRANSFERS_OUT
    )
    assert rows(sent) == [
        ("WH1", "MILK", d(2026, 3, 2), 0.0),
        ("WH1", "MILK", d(2026, 3, 3), 5.0),
        ("WH1", "MILK", d(2026, 3, 4), 0.0),
    ]


def test_the_cli_tells_the_second_decision_who_took_the_suggestion_and_exits_3(tmp_path):
    (suggestion_id,) = transfers(Planning(tmp_path), 1)

    def replenish(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "replenish", *args, suggestion_id],
            env={**os.environ, "STOCKFLOW_VAR_DIR": str(tmp_path), "COLUMNS": "300"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = replenish("reject", "--reviewer", "李会计", "--reason", "overstocked")
    assert first.returncode == 0 and "rejected" in first.stderr, first.stderr
    second = replenish("approve", "--reviewer", "王经理")
    assert second.returncode == 3, second.stderr
    assert f"transfer suggestion {suggestion_id} was already rejected by 李会计 at " in second.stderr
    assert [e["action"] for e in AuditLog(tmp_path).records()] == ["suggestion.rejected"]
