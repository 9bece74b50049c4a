"""Conflicts through a real worker: a store's late events, forwarded with the edge header, collide
with central moves made meanwhile; the worker lands each conflict in the lake's conflicts table
and raises its alert; a manager's decision goes through the use case (audit entry first), the
stream books it, and a replay of the lake gives the same stock. One broker and one worker."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lake import read_table
from simulator.company import build_catalog
from stockflow.events import StockAdjustment, TransferOut
from stockflow.masking import Role
from stockflow.masterdata import NegativeStockPolicy, SkuStatus
from stockflow.services.conflicts import ConflictRefused, decide_conflict
from stores.audit_log import AuditLog
from stores.conflicts import ConflictLake
from streams.broker import EmbeddedBroker, ensure_topics
from tests.support import Worker, free_port, get_json, replay_lake, served_positions, settings_for, wait_until
from tests.support.network import auth_headers, call

pytestmark = pytest.mark.integration

EDGE = "st01-box"


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conflicts")
    broker_port = free_port()
    settings = settings_for(tmp / "var", broker_port, free_port())
    build_catalog(settings.seed).save(settings.masterdata_path)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp / "broker.log")
    broker.start()
    ensure_topics(broker.bootstrap, settings.topic_partitions)
    w = Worker(settings, settings.web_port, tmp).start()
    yield w
    w.stop()
    broker.stop()


def post(worker, events, edge=None):
    body = json.dumps([e.model_dump(mode="json") if hasattr(e, "model_dump") else e for e in events]).encode()
    headers = {
        "Content-Type": "application/json",
        **auth_headers(),
        **({"stockflow-edge": edge} if edge else {}),
    }
    status, answer = call(f"{worker.url}/events", body, headers)
    assert status == 202, answer


def decided(worker, event_id: str) -> bool:
    status = get_json(f"{worker.url}/events/{event_id}?location=ST01")["status"]
    return status in ("landed", "dead_lettered")


def on_hand(worker, sku: str) -> int:
    return sum(
        p["on_hand"] for (loc, code, _), p in served_positions(worker.url, ["ST01"]).items() if code == sku
    )


def test_late_edge_events_become_conflicts_and_a_decision_books_through_the_stream(worker):
    catalog = build_catalog(worker.settings.seed)
    sku = next(
        code
        for code, s in sorted(catalog.skus.items())
        if not s.batch_managed and not s.serial_managed and s.status is SkuStatus.ACTIVE
        and s.negative_stock is NegativeStockPolicy.REJECT
    )  # fmt: skip
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    found = StockAdjustment(
        event_id=f"found-{run}", occurred_at=now - timedelta(hours=3), source="hq", location="ST01", sku=sku,
        qty=Decimal(10), reason="found",
    )  # fmt: skip
    sent_away = TransferOut(
        event_id=f"tr-{run}", occurred_at=now - timedelta(hours=1), source="hq", transfer_id=f"TR-{run}",
        from_location="ST01", to_location="WH1", sku=sku, qty=Decimal(8),
    )  # fmt: skip
    post(worker, [found, sent_away])  # central: no edge header
    wait_until(lambda: decided(worker, sent_away.event_id), 30, "the central moves applied")

    offline_sale = {
        "event_type": "pos_sale", "event_id": f"sale-{run}", "occurred_at": (now - timedelta(hours=2)).isoformat(),
        "source": "till-1", "store": "ST01", "ticket": f"T-{run}", "channel": "retail",
        "lines": [{"sku": sku, "qty": "5", "unit_price": "3.50"}],
    }  # fmt: skip
    offline_transfer = TransferOut(
        event_id=f"tr-late-{run}", occurred_at=now - timedelta(hours=2), source="pda-1",
        transfer_id=f"TR-L-{run}", from_location="ST01", to_location="WH2", sku=sku, qty=Decimal(50),
    )  # fmt: skip
    post(worker, [offline_sale, offline_transfer], edge=EDGE)

    lake = worker.settings.lake_dir
    records = ConflictLake(lake)
    found_conflicts = wait_until(lambda: len(records.states()) == 2 and records.states(), 30, "two conflicts")
    by_kind = {c["kind"]: c for c in found_conflicts}
    assert set(by_kind) == {"moved_meanwhile", "refused"}
    moved, refused = by_kind["moved_meanwhile"], by_kind["refused"]
    assert (moved["event_id"], moved["edge"], moved["location"], moved["sku"]) == (
        f"sale-{run}",
        EDGE,
        "ST01",
        sku,
    )
    assert (moved["on_hand_delta"], moved["on_hand_after"], moved["suggested_on_hand"]) == (-5, -3, 3)
    assert (refused["event_id"], refused["reference"], refused["on_hand_delta"]) == (
        f"tr-late-{run}",
        "negative_stock",
        0,
    )
    assert all(c["status"] == "open" for c in found_conflicts)
    assert on_hand(worker, sku) == -3  # the sale is booked; the transfer is not

    alerts = wait_until(
        lambda: [a for a in read_table(lake, "alerts").to_pylist() if a["alert_type"] == "conflict"] or None,
        30,
        "the conflict alerts landed",
    )
    assert sorted(json.loads(a["details"])["conflict_id"] for a in alerts) == sorted(
        c["conflict_id"] for c in found_conflicts
    )
    dead = [d for d in read_table(lake, "dead_letters").to_pylist() if d["event_id"] == f"tr-late-{run}"]
    assert [d["reason"] for d in dead] == ["negative_stock"]  # refused as ever, and listed to decide
    counters = worker.health()["counters"]
    assert counters["conflicts"] == 2

    from infra.worker_client import WorkerClient

    log = AuditLog(worker.settings.var_dir)
    event = decide_conflict(
        records, WorkerClient(worker.url), log, moved["conflict_id"], "adjust", "zhou.min", Role.MANAGER,
        "recounted the shelf: 0 left", adjustment=3,
    )  # fmt: skip
    wait_until(lambda: on_hand(worker, sku) == 0, 30, "the decision booked")
    state = wait_until(
        lambda: (
            (s := {c["conflict_id"]: c for c in records.states()})[moved["conflict_id"]]["status"]
            == "decided"
            and s
        ),
        30,
        "the decision landed",
    )
    assert state[moved["conflict_id"]]["decided_on_hand"] == 3
    assert state[moved["conflict_id"]]["decided_by"] == "zhou.min"
    assert state[refused["conflict_id"]]["status"] == "open"
    (entry,) = [e for e in log.records() if e and e["action"] == "conflict.adjust"]
    assert entry["details"]["event_id"] == event.event_id and entry["reason"] == "recounted the shelf: 0 left"
    with pytest.raises(ConflictRefused) as again:
        decide_conflict(records, WorkerClient(worker.url), log, moved["conflict_id"], "accept", "王仓管",
                        Role.WAREHOUSE, "double click")  # fmt: skip
    assert again.value.reason == "already_decided"
    with pytest.raises(ConflictRefused) as not_allowed:
        decide_conflict(records, WorkerClient(worker.url), log, refused["conflict_id"], "accept", "li",
                        Role.FINANCE, "looks fine")  # fmt: skip
    assert not_allowed.value.reason == "not_allowed"

    # the record replays to the stock served, decision included, and finds no conflict again
    replayed = replay_lake(lake, catalog)
    assert sum(p["on_hand"] for (loc, code, _), p in replayed.items() if loc == "ST01" and code == sku) == 0
    assert len(read_table(lake, "conflicts").to_pylist()) == 3  # two found, one decided
    counters = worker.health()["counters"]
    assert counters["in"] == (
        counters.get("applied", 0) + counters.get("duplicates", 0) + counters.get("dead_lettered", 0)
        + counters.get("rerouted", 0)
    )  # fmt: skip
