"""`forecast_demand` on a real local Prefect server over a built warehouse; the review queue.

The first two tests start from the same five simulated days, landed, posted and built once for
the module (`five_days`): one forecasts a copy of it, the other lands two more days on it."""

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from stockflow.forecasting import Decision, ReviewError
from stockflow.services.planning import decide_review
from stores import warehouse
from stores.audit_log import AuditLog
from stores.books import Books
from stores.planning import Planning
from tests.integration.test_books import START, Lake
from tests.support.company_copy import copy_company

pytestmark = pytest.mark.integration


@dataclass
class FiveDays:
    var: Path  # the lake writer's folder: the test that lands more days on it is the only one
    as_built: Path  # a copy of it as built, for tests to copy again
    lake: Lake


@pytest.fixture(scope="module")
def five_days(tmp_path_factory) -> FiveDays:
    """The first five of seven simulated days landed by the lake writer, the books posted, a
    full build."""
    from datetime import timedelta

    from simulator.company import Simulation

    root = tmp_path_factory.mktemp("forecast")
    (root / "var").mkdir()
    lake = Lake(root / "var", days=7)
    first_days = sum(
        1
        for ev in Simulation(lake.catalog, 7).history(START, 7)
        if ev.occurred_at.date() < START + timedelta(days=5)
    )
    lake.write(first_days)
    Books(lake.root, lake.catalog).post_new_movements()
    assert warehouse.build(lake.root, lake.catalog, full=True).success
    copy_company(lake.root, root / "as-built")
    return FiveDays(lake.root, root / "as-built", lake)


def test_forecasts_go_to_review_and_an_override_replaces_the_forecast(
    module_prefect_server, five_days, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.forecast_demand import forecast_demand

    var = tmp_path / "var"
    copy_company(five_days.as_built, var)
    with temporary_settings(updates={PREFECT_API_URL: module_prefect_server.prefect_api_url}):
        summary = forecast_demand(var_dir=str(var))
        with get_client(sync_client=True) as client:
            # the session's server also holds the other tests' runs: this one's names its folder
            runs = [r for r in client.read_flow_runs() if r.parameters.get("var_dir") == str(var)]
    assert [(r.name != "", r.state.type.value) for r in runs] == [(True, "COMPLETED")]

    # every location × SKU with demand gets 30 days ahead of the last business day
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        series, last_day = con.execute(
            "SELECT count(DISTINCT (location_id, sku_id)), max(business_date) FROM fct_daily_demand"
        ).fetchall()[0]
    assert summary["series"] == series > 0 and summary["forecast_days"] == 30 * series
    planning = Planning(var)
    with planning.connect(read_only=True) as con:
        first, last = con.execute("SELECT min(day), max(day) FROM forecasts").fetchall()[0]
        assert (first - last_day).days == 1 and (last - last_day).days == 30
        assert con.execute(
            "SELECT count(*) FROM forecasts WHERE forecast < 0 OR hi95 < forecast"
        ).fetchall() == [(0,)]

    # and per sales channel where a store sells the SKU through several (not reviewed)
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        (channel_series,) = con.execute(
            "SELECT count(*) FROM (SELECT location_id, sku_id, channel FROM fct_daily_channel_demand"
            " GROUP BY location_id, sku_id, channel QUALIFY count(*) OVER (PARTITION BY location_id, sku_id) > 1)"
        ).fetchall()[0]
    assert summary["channel_series"] == channel_series > 0
    with planning.connect(read_only=True) as con:
        assert con.execute(
            "SELECT count(*), count(DISTINCT (location, sku, channel)), min(forecast) >= 0"
            " FROM channel_forecasts"
        ).fetchall() == [(30 * channel_series, channel_series, True)]
        assert {r[0] for r in con.execute("SELECT DISTINCT channel FROM channel_series").fetchall()} <= {
            "dine_in",
            "takeout",
            "delivery",
            "retail",
        }

    # five days of history cannot be backtested: every forecast waits for a person
    reviews = planning.open_reviews()
    assert len(reviews) == summary["to_review"] == series
    assert all(r["confidence"] == 0 for r in reviews)
    overridden, accepted = reviews[0], reviews[1]
    model = planning.effective_forecast(overridden["location"], overridden["sku"])
    audit = AuditLog(var)

    def decide(*args, **kwargs):
        decide_review(planning, audit, *args, **kwargs)

    decide(
        overridden["run_id"],
        overridden["location"],
        overridden["sku"],
        Decision.OVERRIDDEN,
        reviewer="王经理",
        role="manager",
        reason="promotion next week",
        override_daily=12,
    )
    effective = planning.effective_forecast(overridden["location"], overridden["sku"])
    assert [(d, f, o) for d, f, o in effective] == [(d, 12.0, True) for d, _, _ in model]
    decide(
        accepted["run_id"], accepted["location"], accepted["sku"], Decision.ACCEPTED, "李会计", "looks right"
    )
    assert all(not o for _, _, o in planning.effective_forecast(accepted["location"], accepted["sku"]))
    assert len(planning.open_reviews()) == series - 2
    with pytest.raises(ReviewError, match="already overridden"):
        decide(
            overridden["run_id"], overridden["location"], overridden["sku"], Decision.ACCEPTED, "x", "again"
        )
    with pytest.raises(ReviewError, match="daily quantity"):
        decide(reviews[2]["run_id"], reviews[2]["location"], reviews[2]["sku"], Decision.OVERRIDDEN, "x", "y")
    with pytest.raises(ReviewError, match="reason"):
        decide(reviews[2]["run_id"], reviews[2]["location"], reviews[2]["sku"], Decision.ACCEPTED, "x", " ")
    with planning.connect(read_only=True) as con:
        assert con.execute(
            "SELECT status, reviewer, role, reason FROM reviews WHERE location = ? AND sku = ?",
            [overridden["location"], overridden["sku"]],
        ).fetchall() == [("overridden", "王经理", "manager", "promotion next week")]


def test_earlier_forecasts_are_measured_against_the_demand_since(module_prefect_server, five_days):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.forecast_demand import forecast_demand

    var, lake = five_days.var, five_days.lake
    books = Books(var, lake.catalog)
    with temporary_settings(updates={PREFECT_API_URL: module_prefect_server.prefect_api_url}):
        first = forecast_demand(var_dir=str(var))
        assert first["accuracy_runs"] == 0  # nothing has happened since
        lake.write()  # two more days of demand land
        books.post_new_movements()
        assert warehouse.build(var, lake.catalog, full=True).success
        second = forecast_demand(var_dir=str(var))
    assert second["accuracy_runs"] == 1
    planning = Planning(var)
    with planning.connect(read_only=True) as con:
        days, series = con.execute(
            "SELECT min(days), count(*) FROM forecast_accuracy WHERE run_id = ?", [first["run_id"]]
        ).fetchall()[0]
        assert series == first["series"] and days >= 1
        location, sku, actual, abs_error, wape = con.execute(
            "SELECT location, sku, actual, abs_error, wape FROM forecast_accuracy"
            " WHERE run_id = ? AND actual > 0 ORDER BY actual DESC LIMIT 1",
            [first["run_id"]],
        ).fetchall()[0]
        (rolled,) = con.execute(
            "SELECT series, wape FROM forecast_accuracy_runs WHERE run_id = ?", [first["run_id"]]
        ).fetchall()
        forecast_days = con.execute(
            "SELECT day, forecast FROM forecasts WHERE run_id = ? AND location = ? AND sku = ? ORDER BY day",
            [first["run_id"], location, sku],
        ).fetchall()
    # the same numbers straight from the warehouse's demand
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        through = con.execute("SELECT max(business_date) - 1 FROM fct_daily_stock_balances").fetchall()[0][0]
        demand = dict(
            con.execute(
                "SELECT business_date, units FROM fct_daily_demand WHERE location_id = ? AND sku_id = ?",
                [location, sku],
            ).fetchall()
        )
    elapsed = [(d, f) for d, f in forecast_days if d <= through]
    assert actual == sum(demand.get(d, 0) for d, _ in elapsed) > 0
    assert abs_error == pytest.approx(sum(abs(f - demand.get(d, 0)) for d, f in elapsed))
    assert wape == pytest.approx(abs_error / actual)
    assert rolled[0] == series and 0 <= rolled[1]


def test_the_planning_calendar_s_signals_compete_where_the_history_allows_a_backtest(
    module_prefect_server, company_copy, tmp_path
):
    """Over the session's 30-day company (four weeks and two days: backtested on two 7-day
    windows). Its build forecast it once with no calendar: the statistical models only (a calendar
    that ends before the horizon does is refused the same way: see the test of `known_signals`
    below). With a calendar that covers the horizon, the boosted model competes too."""
    from datetime import timedelta

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.forecast_demand import forecast_demand
    from simulator.company import Simulation
    from stockflow.signals import CALENDAR_FILE

    company = company_copy(tmp_path / "var")
    calendar = company.var / CALENDAR_FILE
    assert not calendar.exists()
    with Planning(company.var).connect(read_only=True) as con:
        ((plain_run, plain_series),) = con.execute("SELECT run_id, series FROM forecast_runs").fetchall()
        # each series' model, location × SKU and per channel (as the flow's summary counts them)
        plain_models = dict(
            con.execute(
                "SELECT model, count(*) FROM (SELECT model FROM forecast_series WHERE run_id = $1"
                " UNION ALL SELECT model FROM channel_series WHERE run_id = $1) GROUP BY model",
                [plain_run],
            ).fetchall()
        )
    assert plain_models and "LightGBM" not in plain_models
    Simulation(company.catalog, 7).signal_calendar(START, START + timedelta(days=90)).save(calendar)
    with temporary_settings(updates={PREFECT_API_URL: module_prefect_server.prefect_api_url}):
        known = forecast_demand(var_dir=str(company.var))
    assert known["signals"] is True and known["series"] == plain_series
    # series of four weeks or more were backtested (on two 7-day windows), the younger ones not
    assert known["models"]["HistoryMean"] == plain_models["HistoryMean"] < sum(known["models"].values())
    chosen = known["models"].get("LightGBM", 0)
    assert 0 < chosen < sum(known["models"].values()), known["models"]  # kept where it won
    with Planning(company.var).connect(read_only=True) as con:
        (boosted,) = con.execute(
            "SELECT count(*) FROM forecast_series WHERE run_id = ? AND model = 'LightGBM'", [known["run_id"]]
        ).fetchall()[0]
        assert con.execute(
            "SELECT count(*), min(forecast) >= 0, bool_and(lo80 <= forecast AND forecast <= hi80)"
            " FROM forecasts JOIN forecast_series USING (run_id, location, sku)"
            " WHERE run_id = ? AND model = 'LightGBM'",
            [known["run_id"]],
        ).fetchall() == [(30 * boosted, True, True)]
    assert boosted > 0


def test_a_planning_calendar_is_used_only_where_it_covers_the_whole_horizon(tmp_path):
    """The flow's rule for the calendar (`known_signals`): with no calendar, or one that ends
    before the horizon does (even by a day), no signals are used, since their features would be
    unknown on the days to forecast; one that reaches the horizon's last day gives every series
    the features of every day from its history's first to that last day."""
    from datetime import timedelta

    import numpy as np
    import pandas as pd

    from flows.forecast_demand import known_signals
    from simulator.company import Simulation, build_catalog
    from stockflow.forecasting import SEPARATOR
    from stockflow.signals import CALENDAR_FILE, FEATURES

    catalog = build_catalog(7)
    catalog.save(tmp_path / "masterdata.json")
    cold = next(code for code, sku in sorted(catalog.skus.items()) if sku.is_cold_chain)
    dry = next(code for code, sku in sorted(catalog.skus.items()) if not sku.is_cold_chain)
    store = sorted(catalog.locations)[0]
    horizon, last_day = 30, START + timedelta(days=27)
    days = pd.date_range(START, last_day, freq="D")
    ids = [f"{store}{SEPARATOR}{cold}", f"{store}{SEPARATOR}{dry}"]
    history = pd.DataFrame({"unique_id": np.repeat(ids, len(days)), "ds": np.tile(days, 2), "y": 1.0})
    calendar = tmp_path / CALENDAR_FILE
    simulation = Simulation(catalog, 7)

    assert known_signals(tmp_path, history, last_day, horizon) is None  # no calendar
    simulation.signal_calendar(START, last_day + timedelta(days=horizon - 1)).save(calendar)
    assert known_signals(tmp_path, history, last_day, horizon) is None  # a day short
    simulation.signal_calendar(START, last_day + timedelta(days=horizon)).save(calendar)
    features = known_signals(tmp_path, history, last_day, horizon)
    assert features is not None and list(features.columns) == ["unique_id", "ds", *FEATURES]
    expected_days = [START + timedelta(days=i) for i in range(len(days) + horizon)]
    for unique_id in ids:
        rows = features[features["unique_id"] == unique_id]
        assert [d.date() for d in rows["ds"]] == expected_days
        assert set(rows["cold_chain"]) == {1.0 if unique_id == ids[0] else 0.0}
