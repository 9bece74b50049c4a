"""`forecast_demand`: measure earlier forecasts against the demand since, then forecast daily
demand 30 days ahead for every location × SKU, store it, and open reviews for the forecasts
under the confidence threshold."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import warehouse
from flows.planning import SEPARATOR, Planning
from stockflow.config import get_settings
from stockflow.forecasting import forecast_demand as forecast

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


@task(cache_policy=NO_CACHE)
def forecast_and_store(var_dir: str, horizon: int) -> dict[str, Any]:
    root = Path(var_dir)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    history, last_day = demand_history(root)
    if history.empty:
        return {"series": 0, "forecast_days": 0, "to_review": 0, "seconds": 0.0}
    result = forecast(history, horizon=horizon, n_jobs=os.cpu_count() or 1)
    run_id = f"forecast-{time.time_ns()}"
    stored = Planning(root).store_run(run_id, started_at, last_day, horizon, result)
    return {"run_id": run_id, **stored, "seconds": round(time.perf_counter() - started, 2)}


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
        "%s series forecast %d days ahead in %.1fs; %s sent to review",
        summary["series"],
        horizon,
        summary["seconds"],
        summary["to_review"],
    )
    return summary
