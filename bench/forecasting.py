"""Forecasting benchmark: 10,000 series × 30 days with the backtest, and accuracy held out by time.

The series: daily till demand per store × SKU from simulated companies (`Simulation.
demand_history`: weekly season, holidays, promotions, temperature), enough companies for about
10,000 series; 90 days are history, the next 30 are held out.

Figures (all measured in this run):

* forecasting speed: `forecast_demand` on every series (model choice by rolling-origin backtest,
  intervals, confidence), in series per second. Baseline: the weekly seasonal naive forecast
  alone, on the same series.
* accuracy: WAPE of the chosen forecasts on the 30 held-out days, over all series, against the
  seasonal naive forecast's WAPE on the same days (ratio; target ≤ 0.85).
* the share of forecasts sent to review (confidence < 0.85).
* known future signals: a global LightGBM model (mlforecast: lags 7–28, weekly rolling means,
  day of week) with and without the signals the simulator drives demand with (the day's holiday
  factor and temperature, and whether the SKU is on promotion), on the same held-out days. The
  signals are worth using where the model with them beats the one without.
"""

from __future__ import annotations

import os
from datetime import date
from time import perf_counter

import numpy as np
import pandas as pd
from rich.console import Console

from bench.pipeline import Figure
from stockflow.forecasting import REVIEW_BELOW, SEASON, forecast_demand, wape
from stockflow.simulation import Simulation, build_catalog

console = Console()
START = date(2026, 6, 1)
HISTORY_DAYS = 90
HORIZON = 30


def series(target: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and held-out frames (unique_id, ds, y) for about `target` series."""
    history, held_out = [], []
    seed, count = 1, 0
    days = pd.date_range(START, periods=HISTORY_DAYS + HORIZON, freq="D")
    while count < target:
        demand = Simulation(build_catalog(seed), seed).demand_history(START, HISTORY_DAYS + HORIZON)
        for (store, sku), values in demand.items():
            uid = f"{seed}:{store}:{sku}"
            y = np.asarray(values, dtype=float)
            history.append(pd.DataFrame({"unique_id": uid, "ds": days[:HISTORY_DAYS], "y": y[:HISTORY_DAYS]}))
            held_out.append(
                pd.DataFrame({"unique_id": uid, "ds": days[HISTORY_DAYS:], "y": y[HISTORY_DAYS:]})
            )
            count += 1
            if count >= target:
                break
        seed += 1
    return pd.concat(history, ignore_index=True), pd.concat(held_out, ignore_index=True)


def known_signals(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame (unique_id = seed:store:sku, ds) with the simulated company's signals for each
    day: holiday factor, temperature, promotion of the SKU, and whether the SKU is chilled."""
    parts = frame["unique_id"].str.split(":", expand=True)
    out = frame.assign(seed=parts[0].astype(int), sku=parts[2])
    rows = []
    for seed in out["seed"].unique():
        sim = Simulation(build_catalog(int(seed)), int(seed))
        for day in pd.date_range(START, periods=HISTORY_DAYS + HORIZON, freq="D"):
            sig = sim.signals(day.date())
            rows += [(seed, day, sig.holiday_factor, sig.temperature_c, sku) for sku in sig.promoted_skus]
            rows.append((seed, day, sig.holiday_factor, sig.temperature_c, None))
    days = pd.DataFrame(rows, columns=["seed", "ds", "holiday", "temperature", "promoted"])
    daily = days.drop_duplicates(["seed", "ds"])[["seed", "ds", "holiday", "temperature"]]
    promoted = days.dropna(subset=["promoted"])[["seed", "ds", "promoted"]].assign(promotion=1.0)
    out = out.merge(daily, on=["seed", "ds"], how="left").merge(
        promoted.rename(columns={"promoted": "sku"}), on=["seed", "ds", "sku"], how="left"
    )
    out["promotion"] = out["promotion"].fillna(0.0)
    out["chilled"] = out["sku"].str.startswith("CHI").astype(float)
    return out.drop(columns=["seed", "sku"])


def gradient_boosting(history: pd.DataFrame, held_out: pd.DataFrame, signals: bool, jobs: int) -> pd.Series:
    """Held-out forecasts of one global LightGBM model, with or without the known signals."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    model = MLForecast(
        models={"lgb": lgb.LGBMRegressor(
            n_estimators=200, learning_rate=0.05, num_leaves=63, objective="tweedie", n_jobs=jobs, verbose=-1
        )},
        freq="D",
        lags=[7, 14, 21, 28],
        lag_transforms={7: [RollingMean(7), RollingMean(28)]},
        date_features=["dayofweek"],
    )  # fmt: skip
    train = known_signals(history)
    future = known_signals(held_out.drop(columns="y"))
    if not signals:
        train = train[["unique_id", "ds", "y", "chilled"]]
        future = None
    model.fit(train, static_features=["chilled"])
    ahead = model.predict(HORIZON, X_df=future)
    return ahead.set_index(["unique_id", "ds"])["lgb"].clip(lower=0)


def run(target_series: int = 10_000) -> list[Figure]:
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    jobs = os.cpu_count() or 1
    console.print(f"forecasting: simulating the demand of {target_series:,} store × SKU series …")
    history, held_out = series(target_series)
    n = history["unique_id"].nunique()

    started = perf_counter()
    naive = StatsForecast(models=[SeasonalNaive(SEASON)], freq="D", n_jobs=jobs).forecast(
        h=HORIZON, df=history
    )
    naive_seconds = perf_counter() - started

    console.print(f"forecasting: {n:,} series × {HORIZON} days with the backtest ({jobs} processes) …")
    started = perf_counter()
    result = forecast_demand(history, horizon=HORIZON, n_jobs=jobs)
    seconds = perf_counter() - started

    actual = held_out.set_index(["unique_id", "ds"])["y"]
    chosen = result.forecasts.set_index(["unique_id", "ds"])["forecast"].reindex(actual.index)
    baseline = naive.set_index(["unique_id", "ds"])["SeasonalNaive"].clip(lower=0).reindex(actual.index)
    ours, theirs = wape(actual, chosen), wape(actual, baseline)
    review = float(result.series["needs_review"].mean())
    models = result.series["model"].value_counts().to_dict()
    console.print(f"  models chosen: {models}; sent to review: {review:.1%}")

    console.print("forecasting: a global LightGBM model with and without the known signals …")
    started = perf_counter()
    with_signals = wape(actual, gradient_boosting(history, held_out, True, jobs).reindex(actual.index))
    boosting_seconds = perf_counter() - started
    without = wape(actual, gradient_boosting(history, held_out, False, jobs).reindex(actual.index))
    return [
        Figure(
            f"forecast {n:,} series × {HORIZON} days, with backtest",
            n / seconds,
            "series/s",
            n / naive_seconds,
            "< 60 s in all",
            seconds < 60,
        ),
        Figure("  the same, seconds", seconds, "s", naive_seconds),
        Figure("held-out WAPE, chosen models", ours, "", theirs, "≤ 0.85 × naive", ours <= 0.85 * theirs),
        Figure(f"sent to review (confidence < {REVIEW_BELOW})", review * 100, "%"),
        Figure("held-out WAPE, LightGBM with known signals", with_signals, "", ours, "vs chosen models"),
        Figure("held-out WAPE, LightGBM without them", without, "", with_signals, "vs with signals"),
        Figure("  LightGBM with signals, fit and forecast", boosting_seconds, "s", seconds),
    ]


def main() -> None:
    from bench.pipeline import report_and_save

    figures = run(int(os.environ.get("BENCH_FORECAST_SERIES", 10_000)))
    report_and_save(figures, "stockflow forecasting benchmark (same machine, same run)", "forecasting")
