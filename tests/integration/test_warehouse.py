"""The warehouse: dbt builds over a lake the stream's own writer wrote and the books, quality suites."""

import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from expectations.checks import frames_from_warehouse, prepare_frames, validate
from stockflow.config import Settings
from stockflow.delivery import Delivery
from stockflow.finance import AGEING_BUCKETS, PartyKind, ageing
from stockflow.masterdata import Catalog
from stores import warehouse
from stores.books import Books
from tests.support.open_items import read_open_items, sample_open_items, write_open_items

pytestmark = pytest.mark.integration
#: the ageing marts' bucket columns, in the order of stockflow.finance.AGEING_BUCKETS
AGEING_COLUMNS = ["bucket_0_30", "bucket_31_60", "bucket_61_90", "bucket_over_90"]


@dataclass
class Built:
    settings: Settings
    catalog: Catalog
    tmp: Path


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """3 simulated days landed by the lake writer, the books posted, a full build: once per
    module, kept aside as built."""
    from tests.integration.test_books import Lake

    root = tmp_path_factory.mktemp("warehouse")
    var = root / "var"
    var.mkdir()
    lake = Lake(var, days=3)
    lake.write()
    Books(var, lake.catalog).post_new_movements()
    # the subledgers' open items, aged from today (the build's business day) back
    write_open_items(var / "lake", sample_open_items(lake.catalog, datetime.now(Settings().tz).date()))
    result = warehouse.build(var, lake.catalog, full=True)
    assert result.success, result.failures
    assert result.statuses.get("success", 0) > 20 and result.statuses.get("pass", 0) > 50, result.statuses
    shutil.copytree(var, root / "as-built")
    return var, root / "as-built", lake.catalog


@pytest.fixture
def built(company, tmp_path):
    """The module's company as built, for one test (tests build, break and alert). It is put
    back at the same path: the warehouse's staging views name the lake's files by their path."""
    var, as_built, catalog = company
    shutil.rmtree(var)
    shutil.copytree(as_built, var)
    return Built(Settings(var_dir=var), catalog, tmp_path)


def query(var: Path, sql: str):
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_build_passes_every_data_test_and_matches_the_books(built):
    var = built.settings.var_dir
    # the mart's last closing balances are the stream's positions, its value the books' stock value
    books = Books(var, built.catalog)
    by_location = dict(
        query(
            var,
            "SELECT location_id, sum(closing_value) FROM (SELECT location_id, arg_max(closing_value,"
            " business_date) AS closing_value FROM fct_daily_stock_balances GROUP BY location_id, sku_id, batch_id)"
            " GROUP BY 1",
        )
    )
    on_hand_value = {loc: v for loc, v in books.stock_value_by_location().items()}
    transit = dict(
        query(
            var,
            "SELECT transit_location_id, sum(transit_value_change) FROM fct_stock_movements"
            " WHERE transit_location_id IS NOT NULL GROUP BY 1",
        )
    )
    for location, value in on_hand_value.items():
        assert by_location.get(location, 0) + transit.get(location, 0) == value, location
    kpis = {
        r[0]
        for r in query(var, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'kpi_%'")
    }
    assert kpis == {
        "kpi_daily_inventory",
        "kpi_daily_near_expiry_value",
        "kpi_inventory_turnover",
        "kpi_stockout_rate",
        "kpi_dead_stock",
        "kpi_near_expiry_value",
        "kpi_fill_rate",
        "kpi_voucher_lag",
    }
    assert query(var, "SELECT count(*) FROM kpi_stockout_rate")[0][0] > 0
    # the daily stock KPIs add up to the stock series, day by day
    assert query(
        var,
        "SELECT count(*) FROM (SELECT business_date, sum(closing_value) AS v FROM int_location_sku_days GROUP BY 1)"
        " FULL JOIN (SELECT business_date, sum(stock_value) AS k FROM kpi_daily_inventory GROUP BY 1)"
        " USING (business_date) WHERE v IS DISTINCT FROM k",
    ) == [(0,)]
    # the near-expiry value on the last day is the expired and 0-7 day buckets'
    ((daily, buckets),) = query(
        var,
        "SELECT (SELECT sum(near_expiry_value) FROM kpi_daily_near_expiry_value WHERE business_date ="
        " (SELECT max(business_date) FROM kpi_daily_near_expiry_value)),"
        " (SELECT coalesce(sum(stock_value), 0) FROM kpi_near_expiry_value WHERE expiry_bucket IN ('expired', '0-7'))",
    )
    assert daily == buckets


def test_incremental_build_equals_a_full_one(built, tmp_path):
    var = built.settings.var_dir
    before = query(var, "SELECT count(*), sum(closing_qty), sum(closing_value) FROM fct_daily_stock_balances")
    result = warehouse.build(var, built.catalog, full=False)
    assert result.success and not result.full, result.failures
    assert (
        query(var, "SELECT count(*), sum(closing_qty), sum(closing_value) FROM fct_daily_stock_balances")
        == before
    )


def test_readers_never_see_a_build_and_a_failed_build_changes_nothing(built):
    var = built.settings.var_dir
    reader = duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True)
    try:
        before = reader.execute("SELECT count(*) FROM fct_stock_movements").fetchall()
        assert warehouse.build(var, built.catalog, full=True).success
        assert reader.execute("SELECT count(*) FROM fct_stock_movements").fetchall() == before
    finally:
        reader.close()
    assert not list(warehouse.warehouse_dir(var).glob(warehouse.BUILD_FILE + "*"))
    good = warehouse.warehouse_path(var).stat().st_ino
    broken = built.catalog.model_copy(update={"locations": {}})  # movements now point at unknown locations
    result = warehouse.build(var, broken, full=True)
    assert not result.success and any("relationships" in f for f in result.failures)
    assert warehouse.warehouse_path(var).stat().st_ino == good
    assert not list(warehouse.warehouse_dir(var).glob(warehouse.BUILD_FILE + "*"))


CORRUPTIONS = {
    "missing_pack_unit": ("masterdata_health", "expect_column_values_to_not_be_null", "min_pack_units"),
    "missing_shelf_life": ("masterdata_health", "expect_column_values_to_not_be_null", "shelf_life_days"),
    "invalid_gtin": ("masterdata_health", "expect_column_values_to_be_in_set", "gtin_valid"),
    "sequence_gap": ("device_sequences", "expect_column_values_to_be_between", "gap_rate"),
    "future_event": ("event_quality", "expect_column_values_to_be_in_set", "in_future"),
    "resent_documents": ("device_sequences", "expect_column_values_to_be_between", "duplicate_rate"),
}


def corrupted(frames, corrupt):
    skus = frames["masterdata_health"].drop(columns=["gtin_valid", "completeness"]).copy()
    events = frames["event_quality"].drop(columns=["in_future"]).copy()
    if corrupt == "missing_pack_unit":
        skus.loc[0, "min_pack_units"] = None
    elif corrupt == "missing_shelf_life":
        chilled = skus.index[skus["category"] == "chilled_food"][0]
        skus.loc[chilled, "shelf_life_days"] = None
    elif corrupt == "invalid_gtin":
        skus.loc[0, "gtin"] = skus.loc[0, "gtin"][:-1] + str((int(skus.loc[0, "gtin"][-1]) + 1) % 10)
    elif corrupt == "sequence_gap":
        device = events["source_id"].value_counts().index[0]
        rows = events.index[events["source_id"] == device]
        events = events.drop(rows[len(rows) // 3 : len(rows) // 3 + max(2, len(rows) // 10)])
    elif corrupt == "resent_documents":  # a device sends 5% of its documents again, under new ids
        device = events["source_id"].value_counts().index[0]
        again = events[events["source_id"] == device].iloc[::20].copy()
        again["event_id"] = again["event_id"] + "-again"
        events = pd.concat([events, again], ignore_index=True)
    elif corrupt == "future_event":
        events.loc[events.index[0], "occurred_at"] = datetime(2099, 1, 1, tzinfo=UTC)
    return prepare_frames(skus, events, frames["mart_invariants"], frames["kpi_ranges"], datetime.now(UTC))


def test_clean_data_passes_and_each_corruption_fails_its_expectation(built):
    frames = frames_from_warehouse(warehouse.warehouse_path(built.settings.var_dir))
    clean = validate(frames, built.tmp / "gx")
    assert clean.success, clean.critical_failures
    assert clean.docs_path.exists()
    for corrupt, expected in CORRUPTIONS.items():
        report = validate(corrupted(frames, corrupt), built.tmp / "gx")
        failed = {
            (r["suite"], r["expectation"], r["column"])
            for r in report.results
            if not r["success"] and r["critical"]
        }
        assert not report.success and failed == {expected}, corrupt


def test_flows_build_check_and_alert_on_the_prefect_server(
    built, stack, prefect_server, monkeypatch, request
):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.build_warehouse import build_warehouse
    from lake import read_table
    from stockflow.config import get_settings
    from tests.support import wait_until

    var = built.settings.var_dir
    stack.worker()  # the quality alert goes through the workers' POST /alerts, into their lake
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", str(stack.settings.web_port))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)  # the settings without that port again
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.prefect_api_url}):
        good = build_warehouse(var_dir=str(var))
        assert good["success"] and good["quality"]["success"]
        # a SKU loses its pack unit in master data: the build passes, the quality check must not
        code = next(iter(built.catalog.skus))
        sku = built.catalog.skus[code].model_copy(update={"packs": {}})
        built.catalog.model_copy(update={"skus": {**built.catalog.skus, code: sku}}).save(
            var / "masterdata.json"
        )
        state = build_warehouse(var_dir=str(var), return_state=True)
        with get_client(sync_client=True) as client:
            # the session's server holds other tests' runs too: this one's name its folder
            ours = [r for r in client.read_flow_runs() if r.parameters.get("var_dir") == str(var)]
            runs = {r.name: r.state.type.value for r in ours}
    assert state.is_failed()
    assert sorted(runs.values()).count("FAILED") == 2  # check_quality and the build that ran it

    def quality_alerts():
        return [a for a in read_table(stack.lake, "alerts").to_pylist() if a["alert_type"] == "data_quality"]

    wait_until(lambda: quality_alerts(), 30, "the quality alert in the workers' lake")
    quality = quality_alerts()
    assert len(quality) == 1 and "min_pack_units" in quality[0]["message"]
    with duckdb.connect(str(var / "quality" / "quality.duckdb"), read_only=True) as con:
        assert con.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT success) FROM quality_runs"
        ).fetchall() == [(2, 1)]


def test_the_ageing_marts_age_the_open_items_as_the_core_does(built):
    var = built.settings.var_dir
    items = read_open_items(var / "lake")
    ((started_at,),) = query(var, "SELECT started_at FROM build_info")
    as_of = started_at.astimezone(built.settings.tz).date()  # the build's business day
    buckets = ", ".join(f"sum({c})" for c in AGEING_COLUMNS)
    for kind, mart in ((PartyKind.SUPPLIER, "fct_ap_ageing"), (PartyKind.CUSTOMER, "fct_ar_ageing")):
        shown = query(
            var,
            f"SELECT accounting_unit, party, {', '.join(AGEING_COLUMNS)}, total, as_of_date FROM {mart}"
            " ORDER BY accounting_unit, party",
        )
        expected = [
            (
                r.accounting_unit,
                r.party,
                *(r.buckets[label] for label, _, _ in AGEING_BUCKETS),
                r.total,
                as_of,
            )
            for r in ageing([i for i in items if i.party_kind is kind], as_of)
        ]
        assert shown == expected, mart
        # the rows reach every bucket, and a credit shows where it is dated
        lowest = f"min(least({', '.join(AGEING_COLUMNS)}))"
        ((*sums, lowest),) = query(var, f"SELECT {buckets}, {lowest} FROM {mart}")
        assert all(s != 0 for s in sums) and lowest < 0, (mart, sums, lowest)
    # a party whose items are all settled has no row
    suppliers = [i for i in items if i.party_kind is PartyKind.SUPPLIER]
    settled = {(i.accounting_unit, i.party) for i in suppliers} - {
        (i.accounting_unit, i.party) for i in suppliers if i.open_amount != 0
    }
    assert settled and not settled & set(query(var, "SELECT accounting_unit, party FROM fct_ap_ageing"))


def fingerprint(var: Path) -> dict[str, tuple]:
    tables = {
        "fct_stock_movements": "movement_key, on_hand_delta, value_change",
        "fct_daily_stock_balances": "location_id, sku_id, batch_id, business_date, opening_qty, qty_in, qty_out,"
        " closing_qty, opening_value, closing_value",
        "fct_voucher_lines": "voucher_id, line_no, debit, credit",
        "fct_vouchers": "voucher_id, voucher_no, total",
        "int_location_sku_days": "location_id, sku_id, business_date, qty_out, closing_qty, closing_value,"
        " last_outbound_date",
        "int_batch_expiries": "location_id, sku_id, batch_id, expiry_date",
        "int_batch_excursion_days": "location_id, sku_id, batch_id, business_date, seconds_out_of_range",
        "fct_data_freshness": "topic, business_date, events, live_events, backfilled_events, last_landed_at,"
        " landed_lag_max_seconds",
        "kpi_stockout_rate": "location_id, business_date, stockout_rate",
        "kpi_voucher_lag": "accounting_unit, posted_date, vouchers, backfilled_vouchers, lag_p99_seconds",
        "kpi_fill_rate": "location_id, business_date, orders, ordered_qty, filled_qty",
        "kpi_daily_inventory": "location_id, business_date, stock_value, cost_of_sales, dead_stock_value",
        "kpi_daily_near_expiry_value": "location_id, business_date, batches, near_expiry_value",
        "fct_daily_demand": "location_id, sku_id, business_date, units, documents",
        "fct_daily_channel_demand": "location_id, sku_id, channel, business_date, units, tickets",
    }
    return {t: query(var, f"SELECT count(*), sum(hash({cols})) FROM {t}")[0] for t, cols in tables.items()}


def test_incremental_builds_over_a_growing_lake_equal_a_full_build(tmp_path):
    from tests.integration.test_books import Lake

    lake = Lake(tmp_path, days=4)
    books = Books(tmp_path, lake.catalog)
    lake.write(4000, delivery=Delivery.BACKFILL)  # history first, as `stockflow up` writes it
    books.post_new_movements()
    first = warehouse.build(tmp_path, lake.catalog, full=True)
    assert first.success, first.failures
    while True:  # more days land and are built; the books post them only after that build
        more = lake.write(3000)
        # no lookback: each build must pick up exactly what landed or was valued since the last
        result = warehouse.build(tmp_path, lake.catalog, dbt_vars={"lookback_minutes": 0})
        assert result.success and not result.full, result.failures
        posted = books.post_new_movements()
        if not more and not posted.movements:
            break  # that build had nothing new to land, and nothing has been posted since
    incremental = fingerprint(tmp_path)
    full = warehouse.build(tmp_path, lake.catalog, full=True)
    assert full.success and full.full
    assert fingerprint(tmp_path) == incremental


def test_a_build_file_left_by_a_crash_is_cleared_and_builds_wait_for_each_other(built):
    var = built.settings.var_dir
    folder = warehouse.warehouse_dir(var)
    (folder / warehouse.BUILD_FILE).write_bytes(b"half a build")  # as if a build died midway
    results: list[warehouse.BuildResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(warehouse.build(var, built.catalog))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.success for r in results] == [True, True], [r.failures for r in results]
    assert not list(folder.glob(warehouse.BUILD_FILE + "*"))
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        assert con.execute("SELECT full_refresh FROM build_info").fetchall() == [(False,)]


def test_freshness_and_voucher_lag_describe_live_operation(tmp_path):
    """The history `stockflow up` writes at start lands as one burst days after it occurred,
    marked as backfilled by its producer; then live events land a minute after they occur. The
    Overview's freshness and voucher lag are the live events', and what they leave out is
    exactly the history the test landed (it read as days of lag before)."""
    from collections import Counter
    from itertools import islice

    from dashboards import data
    from lake.landing import Landing
    from simulator.company import Simulation, build_catalog
    from stockflow.processing import StockProcessor

    var = tmp_path / "var"
    var.mkdir()
    settings = Settings(var_dir=var)
    catalog = build_catalog(settings.seed)
    catalog.save(var / "masterdata.json")
    today = datetime.now(settings.tz).date()
    start = today - timedelta(days=6)
    landing = Landing(settings.lake_dir, settings.topic_partitions, lambda: StockProcessor(catalog))
    sim = Simulation(catalog, settings.seed)
    # the history: 5 days, today−6 … today−2, all of it backfilled
    history_by_day: Counter = Counter()
    for event in sim.history(start, 5):
        before = landing.counts["applied"]
        landing.apply(event, delivery=Delivery.BACKFILL)  # with its transit legs, on its day
        history_by_day[event.occurred_at.astimezone(settings.tz).date()] += landing.counts["applied"] - before
    landing.flush()
    books = Books(var, catalog)
    books.post_new_movements()
    with books.connect(read_only=True) as con:
        ((history_vouchers, history_lag_p50),) = con.execute(
            "SELECT count(*), median(lag_seconds) FROM vouchers WHERE kind = 'normal'"
        ).fetchall()
    assert history_vouchers > 100 and history_lag_p50 > 86_400  # what the Overview showed: days
    # then live: each event stamped a minute before it is applied
    live_from = datetime.now(UTC)
    for event in islice(
        sim.live(start + timedelta(days=5), lambda: datetime.now(UTC) - timedelta(minutes=1)), 400
    ):
        landing.apply(event)
    landing.flush()
    books.post_new_movements()
    live_bound = (datetime.now(UTC) - live_from).total_seconds() + 60  # no live lag can be longer
    built = warehouse.build(var, catalog, full=True, select=["+fct_data_freshness", "+kpi_voucher_lag"])
    assert built.success, built.failures

    freshness = data.kpi_comparison(
        data.kpi_series_with_excluded(settings, "data_freshness"), "data_freshness"
    )
    assert freshness.current_period == (start, today)
    assert 60 <= freshness.current <= live_bound
    assert set(history_by_day) <= {start + timedelta(days=i) for i in range(5)}
    assert freshness.excluded == sum(history_by_day.values())
    by_day = {
        day: (events, live, backfilled, p95)
        for day, events, live, backfilled, p95 in query(
            var,
            "SELECT business_date, sum(events), sum(live_events), sum(backfilled_events),"
            " max(landed_lag_p95_seconds) FROM fct_data_freshness GROUP BY 1",
        )
    }
    for day, landed in history_by_day.items():  # history days: nothing live, no lag to show
        assert by_day[day] == (landed, 0, landed, None), day

    lag = data.kpi_comparison(data.kpi_series_with_excluded(settings, "voucher_lag"), "voucher_lag")
    assert lag.current_period[1] == today
    assert 60 <= lag.current <= live_bound  # posted by the second pass, before the bound was taken
    assert lag.excluded == history_vouchers


def test_a_lake_from_before_deliveries_were_recorded_counts_its_events_live(built):
    """Every scan landed before the lake recorded deliveries (no such column in any file): the
    build still reads them, as live events."""
    import pyarrow.parquet as pq

    var = built.settings.var_dir
    files = sorted((built.settings.lake_dir / "scans").rglob("*.parquet"))
    assert files
    for path in files:
        pq.write_table(pq.read_table(path).drop_columns(["delivery"]), path)
    result = warehouse.build(var, built.catalog, full=True, select=["+fct_data_freshness"])
    assert result.success, result.failures
    assert query(var, "SELECT DISTINCT delivery FROM stg_lake__events WHERE topic = 'scans'") == [("live",)]
    assert query(
        var, "SELECT sum(events) = sum(live_events), sum(backfilled_events) FROM fct_data_freshness"
    ) == [(True, 0)]


def test_a_lake_without_a_master_data_change_log_has_one_version_per_sku(built):
    """The simulated company's catalogue came without a change log (as every lake from before
    it): each SKU has one version, the catalogue's, current and in effect from the beginning,
    and every movement takes its category. The build gave the log the empty file dbt needs,
    which the master-data store reads as no change."""
    from stores.masterdata import MasterDataFiles

    var = built.settings.var_dir
    store = MasterDataFiles(var / "masterdata.json", var / "lake")
    if store.changes_after(0):  # a company whose catalogue came in through the log: take it away
        shutil.rmtree(store.log_dir)
        result = warehouse.build(var, built.catalog, full=True)
        assert result.success, result.failures
    assert query(var, "SELECT count(*) FROM stg_masterdata__changes") == [(0,)]
    versions = query(
        var, "SELECT sku_id, category, sku_version, valid_from, valid_to, is_current FROM dim_skus"
    )
    catalogue = sorted((s.sku, s.category, 0, None, None, True) for s in built.catalog.skus.values())
    assert sorted(versions) == catalogue
    assert query(var, "SELECT DISTINCT effective_from FROM dim_skus") == [(datetime(1900, 1, 1, tzinfo=UTC),)]
    movements = "FROM fct_stock_movements AS m LEFT JOIN dim_skus AS s USING (sku_id)"
    assert query(var, f"SELECT count(*) {movements} WHERE m.category IS DISTINCT FROM s.category") == [(0,)]
    assert any(store.log_dir.glob("part-*.parquet")) and store.changes_after(0) == []
