"""`forecast_demand`: measure earlier forecasts against the demand since, then forecast daily
demand 30 days ahead for every location × SKU (and per sales channel where a store sells the
SKU through several), store it, and open reviews for the location × SKU forecasts under the
confidence threshold."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stockflow.config import get_settings
from stockflow.forecasting import forecast_demand as forecast
from stockflow.masterdata import Catalog
from stockflow.signals import CALENDAR_FILE, SignalCalendar
from stores import warehouse
from stores.planning import SEPARATOR, Planning

log = logging.getLogger(__name__)

HORIZON = 30


def demand_history(var_dir: Path) -> tuple[pd.DataFrame, Any]:
    """Daily demand per location × SKU from the warehouse (read-only), with the days without
    demand as zeros, from each series' first demand to the last business day."""
    with duckdb.connect(str(warehouse.warehouse_path(var_dir)), read_only=True) as con:
        last_day = con.execute("SELECT max(business_date) FROM fct_daily_stock_balances").fetchall()[0][0]
        frame = con.execute(
            f"""
            WITH demand AS (
                SELECT location_id || '{SEPARATOR}' || sku_id AS unique_id, business_date, units
                FROM fct_daily_demand
            ),
            bounds AS (SELECT unique_id, min(business_date) AS first_day FROM demand GROUP BY 1)
            SELECT b.unique_id, CAST(d.day AS DATE) AS ds, coalesce(m.units, 0)::DOUBLE AS y
            FROM bounds AS b,
                range(b.first_day, CAST(? AS DATE) + 1, INTERVAL 1 DAY) AS d(day)
            LEFT JOIN demand AS m ON m.unique_id = b.unique_id AND m.business_date = CAST(d.day AS DATE)
            ORDER BY 1, 2
            """,
            [last_day],
        ).df()
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame, last_day


def channel_history(var_dir: Path, last_day: Any) -> pd.DataFrame:
    """Daily till sales per store × SKU × channel, for the store × SKU pairs sold through more than
    one channel, zeros filled from each series' first sale to the last business day."""
    with duckdb.connect(str(warehouse.warehouse_path(var_dir)), read_only=True) as con:
        frame = con.execute(
            f"""
            WITH demand AS (
                SELECT location_id, sku_id, channel, business_date, units FROM fct_daily_channel_demand
                QUALIFY count(DISTINCT channel) OVER (PARTITION BY location_id, sku_id) > 1
            ),
            bounds AS (
                SELECT location_id || '{SEPARATOR}' || sku_id || '{SEPARATOR}' || channel AS unique_id,
                       location_id, sku_id, channel, min(business_date) AS first_day
                FROM demand GROUP BY ALL
            )
            SELECT b.unique_id, CAST(d.day AS DATE) AS ds, coalesce(m.units, 0)::DOUBLE AS y
            FROM bounds AS b,
                range(b.first_day, CAST(? AS DATE) + 1, INTERVAL 1 DAY) AS d(day)
            LEFT JOIN demand AS m ON m.location_id = b.location_id AND m.sku_id = b.sku_id
                AND m.channel = b.channel AND m.business_date = CAST(d.day AS DATE)
            ORDER BY 1, 2
            """,
            [last_day],
        ).df()
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def known_signals(var_dir: Path, history: pd.DataFrame, last_day: date, horizon: int) -> pd.DataFrame | None:
    """The planning calendar's signals for every series over its history and the horizon, or
    None where there is no calendar (var/signals.json) or it does not cover the horizon."""
    path = var_dir / CALENDAR_FILE
    if not path.exists():
        log.info("no planning calendar at %s: forecasting without known signals", path)
        return None
    calendar = SignalCalendar.load(path)
    if not calendar.covers(last_day + timedelta(days=1), last_day + timedelta(days=horizon)):
        log.warning("the planning calendar does not cover the %d days ahead: no known signals used", horizon)
        return None
    masterdata = var_dir / "masterdata.json"
    cold = (
        [s.sku for s in Catalog.load(masterdata).skus.values() if s.is_cold_chain]
        if masterdata.exists()
        else []
    )
    ids = history[["unique_id"]].drop_duplicates()
    parts = ids["unique_id"].str.split(SEPARATOR, n=2, expand=True)
    ids = ids.assign(location=parts[0], sku=parts[1])
    first = history["ds"].min().date()
    return calendar.features(ids, first, last_day + timedelta(days=horizon), cold)


def forecast_in_own_process(history: pd.DataFrame, horizon: int, signals: pd.DataFrame | None) -> Any:
    """The core's forecast, in a freshly started process. statsforecast forks its workers from
    the process it runs in; forking a flow run's process, whose other threads (Prefect's log
    and event workers, LightGBM's OpenMP team) may hold a lock at that moment, can leave a
    worker waiting for ever. A spawned process has no such threads, and gives its memory back."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = pool.submit(forecast, history, horizon=horizon, n_jobs=os.cpu_count() or 1, signals=signals)
        return job.result()


@task(cache_policy=NO_CACHE)
def forecast_and_store(var_dir: str, horizon: int) -> dict[str, Any]:
    root = Path(var_dir)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    history, last_day = demand_history(root)
    if history.empty:
        return {"series": 0, "forecast_days": 0, "to_review": 0, "seconds": 0.0, "signals": False}
    channels = channel_history(root, last_day)
    # one call for both sets of series: the worker processes start once
    everything = pd.concat([history, channels], ignore_index=True)
    signals = known_signals(root, everything, last_day, horizon)
    result = forecast_in_own_process(everything, horizon, signals)
    run_id = f"forecast-{time.time_ns()}"
    stored = Planning(root).store_run(run_id, started_at, last_day, horizon, result)
    return {
        "run_id": run_id,
        **stored,
        "signals": signals is not None,
        "models": result.series["model"].value_counts().to_dict(),
        "seconds": round(time.perf_counter() - started, 2),
    }


@task(cache_policy=NO_CACHE)
def track_accuracy(var_dir: str) -> dict[str, Any]:
    root = Path(var_dir)
    return Planning(root).track_accuracy(warehouse.warehouse_path(root))


@flow(name="forecast_demand")
def forecast_demand(var_dir: str | None = None, horizon: int = HORIZON) -> dict[str, Any]:
    """Forecast daily demand for every location × SKU; open reviews for low-confidence forecasts."""
    root = str(Path(var_dir) if var_dir else get_settings().var_dir)
    accuracy = track_accuracy(root)  # earlier runs against the demand since
    summary = forecast_and_store(root, horizon)
    summary["accuracy_runs"] = accuracy["runs"]
    get_run_logger().info(
        "%s series forecast %d days ahead in %.1fs (known signals: %s; models %s); %s sent to review",
        summary["series"],
        horizon,
        summary["seconds"],
        summary["signals"],
        summary.get("models"),
        summary["to_review"],
    )
    return summary
