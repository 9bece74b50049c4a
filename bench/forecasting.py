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
* known future signals: the forecast above includes the gradient-boosted candidate with the
  simulated companies' planning calendars (holiday factor, temperature, promotions); the same
  forecast with the statistical models only shows what it adds, and LightGBM alone with and
  without the signals shows what the signals themselves are worth.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from time import perf_counter

import numpy as np
import pandas as pd
from rich.console import Console

from bench.pipeline import Figure
from simulator.company import Simulation, build_catalog
from stockflow.forecasting import BOOSTED, REVIEW_BELOW, SEASON, forecast_demand, wape

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
    """The signals (`SignalCalendar.features`) of each series in `frame` (unique_id =
    seed:store:sku) over the history and the held-out days, from its simulated company's calendar."""
    last = START + timedelta(days=HISTORY_DAYS + HORIZON - 1)
    ids = frame[["unique_id"]].drop_duplicates()
    parts = ids["unique_id"].str.split(":", expand=True)
    ids = ids.assign(seed=parts[0].astype(int), location=parts[1], sku=parts[2])
    out = []
    for seed, group in ids.groupby("seed"):
        sim = Simulation(build_catalog(int(seed)), int(seed))
        cold = {s.sku for s in sim.skus if s.is_cold_chain}
        out.append(sim.signal_calendar(START, last).features(group, START, last, cold))
    return pd.concat(out, ignore_index=True)


def gradient_boosting(history: pd.DataFrame, held_out: pd.DataFrame, signals: bool, jobs: int) -> pd.Series:
    """Held-out forecasts of one global LightGBM model alone, with or without the known signals."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    model = MLForecast(
        models={"lgb": lgb.LGBMRegressor(
            n_estimators=150, learning_rate=0.07, num_leaves=31, min_child_samples=50,
            objective="tweedie", n_jobs=jobs, verbose=-1,
        )},
        freq="D",
        lags=[7, 14, 21, 28],
        lag_transforms={7: [RollingMean(7), RollingMean(28)]},
        date_features=["dayofweek"],
    )  # fmt: skip
    features = known_signals(history)
    train = history.merge(features, on=["unique_id", "ds"])
    future = held_out[["unique_id", "ds"]].merge(features, on=["unique_id", "ds"])
    if not signals:
        train, future = train[["unique_id", "ds", "y"]], None
    model.fit(train, static_features=[], dropna=False)
    ahead = model.predict(HORIZON, X_df=future)
    return ahead.set_index(["unique_id", "ds"])["lgb"].clip(lower=0)


def run(target_series: int = 10_000) -> list[Figure]:
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    jobs = os.cpu_count() or 1
    console.print(f"forecasting: simulating the demand of {target_series:,} store × SKU series …")
    history, held_out = series(target_series)
    n = history["unique_id"].nunique()
    actual = held_out.set_index(["unique_id", "ds"])["y"]

    started = perf_counter()
    naive = StatsForecast(models=[SeasonalNaive(SEASON)], freq="D", n_jobs=jobs).forecast(
        h=HORIZON, df=history
    )
    naive_seconds = perf_counter() - started
    theirs = wape(
        actual, naive.set_index(["unique_id", "ds"])["SeasonalNaive"].clip(lower=0).reindex(actual.index)
    )

    def held_out_wape(result) -> float:  # noqa: ANN001
        return wape(actual, result.forecasts.set_index(["unique_id", "ds"])["forecast"].reindex(actual.index))

    console.print(f"forecasting: {n:,} series × {HORIZON} days with the backtest ({jobs} processes) …")
    started = perf_counter()
    signals = known_signals(pd.concat([history, held_out], ignore_index=True))
    result = forecast_demand(history, horizon=HORIZON, n_jobs=jobs, signals=signals)
    seconds = perf_counter() - started
    ours = held_out_wape(result)
    review = float(result.series["needs_review"].mean())
    boosted = float((result.series["model"] == BOOSTED).mean())
    console.print(
        f"  models chosen: {result.series['model'].value_counts().to_dict()}; to review: {review:.1%}"
    )

    console.print("forecasting: the statistical models alone (no signals) …")
    started = perf_counter()
    statistical = forecast_demand(history, horizon=HORIZON, n_jobs=jobs)
    statistical_seconds = perf_counter() - started

    console.print("forecasting: LightGBM alone, with and without the known signals …")
    with_signals = wape(actual, gradient_boosting(history, held_out, True, jobs).reindex(actual.index))
    without = wape(actual, gradient_boosting(history, held_out, False, jobs).reindex(actual.index))
    return [
        Figure(
            f"forecast {n:,} series × {HORIZON} days, with backtest and signals",
            n / seconds,
            "series/s",
            n / naive_seconds,
            "< 60 s in all",
            seconds < 60,
        ),
        Figure("  the same, seconds", seconds, "s", naive_seconds),
        Figure("held-out WAPE, chosen models", ours, "", theirs, "≤ 0.85 × naive", ours <= 0.85 * theirs),
        Figure(f"sent to review (confidence < {REVIEW_BELOW})", review * 100, "%"),
        Figure("series whose backtest chose LightGBM with signals", boosted * 100, "%"),
        Figure(
            "held-out WAPE, statistical models only", held_out_wape(statistical), "", ours, "vs with LightGBM"
        ),
        Figure("  statistical models only, seconds", statistical_seconds, "s", seconds),
        Figure("held-out WAPE, LightGBM alone with signals", with_signals, "", ours, "vs chosen models"),
        Figure("held-out WAPE, LightGBM alone without them", without, "", with_signals, "vs with signals"),
    ]


def main() -> None:
    from bench.pipeline import report_and_save

    figures = run(int(os.environ.get("BENCH_FORECAST_SERIES", 10_000)))
    report_and_save(figures, "stockflow forecasting benchmark (same machine, same run)", "forecasting")
