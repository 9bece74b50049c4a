"""The planning store under the use cases (DuckDB files, no stream): concurrent decisions on one
item, and the warehouse's zero-filled daily demand (`stores.demand.daily_demand`)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import duckdb
import pytest

from stockflow.forecasting import Decision, ReviewError
from stockflow.replenishment import Plan, SuggestionError, TransferSuggestion
from stockflow.services.planning import decide_review, decide_suggestion
from stores.audit_log import AuditLog
from stores.demand import Outflow, daily_demand
from stores.planning import Planning

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
