"""`forecast_demand`: measure earlier forecasts against the demand since, then forecast daily
demand 30 days ahead for every location × SKU (and per sales channel where a store sells the
SKU through several), store it, and open reviews for the location × SKU forecasts under the
confidence threshold."""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stockflow.config import get_settings
from stockflow.forecasting import SEPARATOR
from stockflow.forecasting import forecast_demand as forecast
from stockflow.masterdata import Catalog
from stockflow.services.planning import forecast_and_record, learn_from_reviews, measure_accuracy
from stockflow.signals import CALENDAR_FILE, SignalCalendar
from stores.demand import open_warehouse_demand
from stores.planning import Planning

log = logging.getLogger(__name__)

HORIZON = 30


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


def sku_categories(var_dir: Path) -> dict[str, str]:
    """Each SKU's category in the company's master data (none without master data)."""
    path = var_dir / "masterdata.json"
    return Catalog.load(path).categories() if path.exists() else {}


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

    def signals_for(history: pd.DataFrame, last_day: date, horizon: int) -> pd.DataFrame | None:
        return known_signals(root, history, last_day, horizon)

    planning = Planning(root)
    categories = sku_categories(root)
    # where people's overrides have consistently beaten (or worsened) the model, their
    # categories' review thresholds have moved
    thresholds = learn_from_reviews(planning, categories).thresholds(categories)
    with open_warehouse_demand(root) as demand:
        summary = forecast_and_record(
            planning, demand, forecast_in_own_process, horizon, signals_for, thresholds=thresholds
        )
    summary["adapted_thresholds"] = len(thresholds)
    return summary


@task(cache_policy=NO_CACHE)
def track_accuracy(var_dir: str) -> dict[str, Any]:
    root = Path(var_dir)
    with open_warehouse_demand(root) as demand:
        return measure_accuracy(Planning(root), demand)


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
