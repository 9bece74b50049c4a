"""Demand forecasting (智能预测): accuracy metrics, demand patterns, model choice by rolling-origin
backtest, prediction intervals and a confidence score.

Series are daily demand per location × SKU (× channel) in base units, days without sales as 0.

* **Pattern** (Syntetos–Boylan): ADI, the average interval between days with demand, and CV²,
  the squared coefficient of variation of the non-zero demands. ADI ≥ 1.32 is intermittent.
* **Candidates**: seasonal naive (weekly), AutoETS and AutoTheta for every series, with
  CrostonOptimized, TSB and ADIDA besides for intermittent ones (seasonal naive always competes,
  as the benchmark every forecast must beat), and their **combination**: the mean of AutoETS's
  and AutoTheta's forecasts (as the M4 and M5 competitions found, the mean of good models beats
  picking one).
* **Stock-outs**: a day a location had none of the SKU left (`censored`) sold what there was,
  not what people wanted: such a day counts as the larger of its sales and the mean of the same
  weekday's uncensored days in the four weeks before (`uncensored`), so that running out does
  not teach the models that nobody wants the SKU.
* **Known future signals** (holidays, weather, promotions: `stockflow.signals`): where the
  planning calendar covers the history and the horizon, one global gradient-boosted model
  (LightGBM through mlforecast: lags of 7–28 days, weekly and four-weekly rolling means, the
  weekday, and the signals) competes for every series beside the statistical models. It is kept
  for a series only where its backtest beats them (by the margin below where the combination is
  among them), so a signal is used only where it helps.
* **Choice**: each candidate is backtested from `BACKTEST_WINDOWS` rolling origins, `horizon`
  days ahead each (the cheap models refitted at each origin, ETS and Theta fitted at the first
  and carried forward). The series keeps the combination unless another candidate's backtest
  WAPE is lower than the combination's by more than `COMBINED_MARGIN` (25%); then the lowest.
  Two windows are few: picking the lowest alone chases their noise. A series with less history
  than two horizons and two weeks is backtested on shorter windows, in whole weeks
  (`backtest_horizon`: 60 days of history give two windows of 21 days); one shorter than four
  weeks gets the mean of its history, with confidence 0 (a person looks at it).
* **Intervals** (80% and 95%): split-conformal, from the chosen model's backtest errors on the
  series. Errors grow with the days ahead, so each absolute error is first divided by
  √(its days ahead / the mean days ahead of the backtest); the interval `h` days ahead is the
  forecast ± the ⌈(n+1)·level⌉-th smallest of the series' n scaled errors (`conformal_level`)
  × √(h / that mean), never below 0 (from shorter windows where the history is short, so
  narrower than a full horizon's would be).
* **Confidence** in [0, 1], for what replenishment uses (the demand over the coming weeks, not
  any single day): `1 − ½·min(1, W) − ½·min(1, E)`, where `W` is the 80% interval's half-width
  for the horizon's total relative to that total (daily errors taken as independent: the daily
  half-width × √horizon), and `E` the chosen model's backtest WAPE on weekly totals. A forecast
  whose interval is as wide as itself or whose weekly error is as large as the demand scores at
  most 0.5. Forecasts under `REVIEW_BELOW` (置信度 < 85%) go to people for review.
* **Learning from reviews** (人工复核反哺): each decided review is measured against the demand
  that happened (`review_outcomes`), per reviewer and per category: how many overrides beat the
  model's forecast and how many made it worse, and the WAPE of both. A category's review
  threshold (`adapted_review_threshold`) moves one step up, so more of its forecasts go to
  people, where at least `REVIEW_EVIDENCE` measured overrides have beaten the model in
  `REVIEW_CONSISTENT` of cases or more, and one step down where as many made it worse; it stays
  within `REVIEW_THRESHOLD_BOUNDS`.
* **Accuracy**: WAPE = Σ|actual − forecast| / Σ actual; MASE = mean |error| / mean |weekly
  seasonal-naive in-sample error|; bias = Σ(forecast − actual) / Σ actual.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from stockflow.decisions import AlreadyDecided
from stockflow.events import ForecastReviewed
from stockflow.i18n import Explained

SEASON = 7
BACKTEST_WINDOWS = 2
REVIEW_BELOW = 0.85
#: How the review threshold learns from measured overrides (see the module's description).
REVIEW_STEP = 0.05
REVIEW_THRESHOLD_BOUNDS = (0.70, 0.95)
REVIEW_EVIDENCE = 5
REVIEW_CONSISTENT = 0.6
#: Syntetos–Boylan cut-offs.
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
LEVELS = (80, 95)
FORECAST_COLUMNS = ["unique_id", "ds", "forecast", "lo80", "hi80", "lo95", "hi95"]
#: The gradient-boosted candidate's name in backtests and results.
BOOSTED = "LightGBM"
#: The combined candidate: the mean of its members' forecasts.
COMBINED = "Combination"
COMBINED_MEMBERS = {False: ("AutoETS", "AutoTheta"), True: ("AutoETS", "ADIDA")}
#: How much lower another candidate's backtest WAPE must be to replace the combination.
COMBINED_MARGIN = 0.25
#: A series' id joins its location, SKU and (for a sales channel's series) channel.
SEPARATOR = "|"


def series_id(location: str, sku: str, channel: str | None = None) -> str:
    """The id of a location × SKU series, or of one sales channel's series of it."""
    return SEPARATOR.join([location, sku] if channel is None else [location, sku, channel])


def series_ids(frame: pd.DataFrame) -> pd.Series:
    """`series_id` of every row of a frame with location and sku columns (and channel, where a
    row's channel is not null)."""
    ids = frame["location"].astype(str) + SEPARATOR + frame["sku"].astype(str)
    if "channel" in frame:
        channel = frame["channel"]
        ids = ids.where(channel.isna(), ids + SEPARATOR + channel.astype(str))
    return ids


class Pattern(StrEnum):
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    NO_DEMAND = "no_demand"


def classify(history: Sequence[float]) -> Pattern:
    values = np.asarray(history, dtype=float)
    demand = values[values > 0]
    if demand.size == 0:
        return Pattern.NO_DEMAND
    days = np.flatnonzero(values > 0)
    adi = float(np.mean(np.diff(days))) if days.size > 1 else float(values.size)
    cv2 = float((demand.std() / demand.mean()) ** 2) if demand.size > 1 else 0.0
    if adi < ADI_CUTOFF:
        return Pattern.SMOOTH if cv2 < CV2_CUTOFF else Pattern.ERRATIC
    return Pattern.INTERMITTENT if cv2 < CV2_CUTOFF else Pattern.LUMPY


def ratio(error: Any, scale: Any) -> Any:
    """error / scale, elementwise. The rule every accuracy measure here follows where the scale is
    0 (no demand to miss): no error is perfect (0), any error is infinitely bad (±inf)."""
    e, sc = np.asarray(error, dtype=float), np.asarray(scale, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sc > 0, e / sc, np.where(e == 0, 0.0, np.copysign(np.inf, e)))
    return float(out) if out.ndim == 0 else out


def wape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    return ratio(np.abs(a - f).sum(), np.abs(a).sum())


def bias(actual: Sequence[float], forecast: Sequence[float]) -> float:
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    return ratio((f - a).sum(), np.abs(a).sum())


def interval_coverage(actual: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> float:
    """The share of actual values inside their intervals [lo, hi] (what a calibrated 80% interval
    holds about 80% of the time); NaN when there is none."""
    a, low, high = (np.asarray(v, dtype=float) for v in (actual, lo, hi))
    return float(((a >= low) & (a <= high)).mean()) if a.size else math.nan


def conformal_level(n: int, level: float) -> float:
    """The quantile level of `n` calibration errors that a split-conformal interval takes so that
    a new error falls inside it with probability `level` at least: the ⌈(n+1)·level⌉-th smallest
    (the largest where that exceeds n)."""
    if n <= 0:
        return level
    return min(1.0, math.ceil((n + 1) * level) / n)


def mase(
    actual: Sequence[float], forecast: Sequence[float], insample: Sequence[float], season: int = SEASON
) -> float:
    a, f, y = (np.asarray(v, dtype=float) for v in (actual, forecast, insample))
    m = season if y.size > season else 1
    if y.size <= m:
        return math.nan
    return ratio(np.abs(a - f).mean(), np.abs(y[m:] - y[:-m]).mean())


def realised_accuracy(realised: pd.DataFrame, insample: pd.DataFrame, season: int = SEASON) -> pd.DataFrame:
    """Accuracy of stored forecasts against the demand that has since happened, per series.

    `realised`: one row per series and elapsed day (unique_id, forecast, effective, actual), where
    `effective` is what planning used (a reviewer's override, else the forecast). `insample`: the
    series' daily history before the forecast (unique_id, y), for the MASE scale (the in-sample
    seasonal-naive error). Returns per series the days elapsed, the sums, WAPE, bias and MASE of
    the forecast, and WAPE of the effective forecast (what the reviews changed)."""
    r = realised.assign(
        error=(realised["forecast"] - realised["actual"]).abs(),
        signed=realised["forecast"] - realised["actual"],
        effective_error=(realised["effective"] - realised["actual"]).abs(),
    )
    out = r.groupby("unique_id", sort=True).agg(
        days=("actual", "size"),
        actual=("actual", "sum"),
        forecast=("forecast", "sum"),
        abs_error=("error", "sum"),
        signed_error=("signed", "sum"),
        effective_error=("effective_error", "sum"),
    )
    y = insample.sort_values("unique_id", kind="stable")
    scale = (y.groupby("unique_id")["y"].diff(season).abs()).groupby(y["unique_id"]).mean()
    out["wape"] = ratio(out["abs_error"], out["actual"])
    out["bias"] = ratio(out["signed_error"], out["actual"])
    scale = scale.reindex(out.index)
    out["mase"] = np.where(scale.notna(), ratio(out["abs_error"] / out["days"], scale.fillna(0)), math.nan)
    out["effective_wape"] = ratio(out["effective_error"], out["actual"])
    return out.reset_index()


def rolled_up_accuracy(series: pd.DataFrame) -> dict[str, float]:
    """WAPE and bias over many series (weighted by their demand) and their median MASE."""
    actual = float(series["actual"].sum())
    finite = series["mase"][np.isfinite(series["mase"])]
    return {
        "series": len(series),
        "actual": actual,
        "wape": ratio(float(series["abs_error"].sum()), actual),
        "bias": ratio(float(series["signed_error"].sum()), actual),
        "effective_wape": ratio(float(series["effective_error"].sum()), actual),
        "median_mase": float(finite.median()) if len(finite) else math.nan,
    }


#: Same weekdays before a stock-out day whose uncensored demand estimates it.
CENSORED_WEEKS = 4


def uncensored(history: pd.DataFrame) -> pd.DataFrame:
    """`history` (unique_id, ds, y, censored: the days the series was out of stock) with each
    censored day's demand taken as the larger of its sales and the mean of the same weekday's
    uncensored days among the `CENSORED_WEEKS` before it (its sales where there is none)."""
    frame = history.sort_values(["unique_id", "ds"], ignore_index=True)
    censored = frame["censored"].fillna(False).astype(bool)
    if not censored.any():
        return frame
    seen = frame["y"].where(~censored)
    weekday = frame["ds"].dt.dayofweek
    keys = [frame["unique_id"], weekday]
    earlier = seen.groupby(keys).shift(1)
    before = (
        earlier.groupby(keys)
        .rolling(CENSORED_WEEKS, min_periods=1)
        .mean()
        .reset_index(level=[0, 1], drop=True)
        .reindex(frame.index)
    )
    estimate = np.fmax(frame["y"], before.fillna(frame["y"]))
    return frame.assign(y=frame["y"].where(~censored, estimate))


def backtest_horizon(length: int, horizon: int) -> int:
    """Days ahead each backtest window looks, for a series of `length` days: the horizon where
    the history holds two windows of it after two weeks, else the most whole weeks that fit
    (a young series is still backtested, a week at least); 0 where not even that fits."""
    if length >= horizon * BACKTEST_WINDOWS + 2 * SEASON:
        return horizon
    weeks = (length - 2 * SEASON) // (BACKTEST_WINDOWS * SEASON)
    return min(weeks * SEASON, horizon) if weeks >= 1 else 0


def confidence(relative_width: float, weekly_wape: float) -> float:
    """See the module's definition; 0 when nothing is known (an infinite or missing error)."""
    if not (math.isfinite(weekly_wape) and math.isfinite(relative_width)):
        return 0.0
    return round(max(0.0, 1 - 0.5 * min(1.0, relative_width) - 0.5 * min(1.0, weekly_wape)), 4)


def horizon_width(mean_forecast: float, daily_half_width: float, horizon: int) -> float:
    """The 80% interval's half-width for the horizon's total, relative to that total."""
    total = mean_forecast * horizon
    half = daily_half_width * math.sqrt(horizon)
    if total <= 0:
        return 0.0 if half <= 0 else math.inf
    return half / total


class Decision(StrEnum):
    """A reviewer's decision on a forecast sent to review."""

    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"


class ReviewError(Explained, ValueError):
    """A review decision that cannot be taken (the message, in any language, says why)."""


class ReviewAlreadyDecided(AlreadyDecided, ReviewError):
    """Another decision took the review first: who, when, how (`status`)."""


def check_decision(decision: Decision, reviewer: str, reason: str, override_daily: float | None) -> None:
    """An override replaces the forecast with a daily quantity (0 or more) for the run's horizon;
    an accepted forecast has none; every decision names its reviewer and reason."""
    if decision is Decision.OVERRIDDEN and (override_daily is None or override_daily < 0):
        raise ReviewError("refusal.override_needs_quantity")
    if decision is Decision.ACCEPTED and override_daily is not None:
        raise ReviewError("refusal.accepted_has_no_override")
    if not reason.strip() or not reviewer.strip():
        raise ReviewError("refusal.decision_needs_reviewer_and_reason")


def review_outcomes(measured: pd.DataFrame, by: str) -> pd.DataFrame:
    """How decided reviews did against what happened, per `by` (a column: reviewer, category).

    `measured`: one row per decided and measured review, with `by`, decision ("accepted" or
    "overridden"), actual (the demand since), abs_error (the model's forecast's absolute error
    over those days) and effective_error (what planning used: the override, else the forecast).
    Returns per group: reviews, overrides, overrides that beat the model (`better`) and that
    made it worse (`worse`), and over the overridden series the model's WAPE and the
    overrides' WAPE."""
    columns = [by, "reviews", "overrides", "better", "worse", "model_wape", "override_wape"]
    if measured.empty:
        return pd.DataFrame(columns=columns)
    overridden = measured["decision"] == Decision.OVERRIDDEN.value
    m = measured.assign(
        overridden=overridden,
        better=overridden & (measured["effective_error"] < measured["abs_error"]),
        worse=overridden & (measured["effective_error"] > measured["abs_error"]),
        o_actual=measured["actual"].where(overridden, 0.0),
        o_model=measured["abs_error"].where(overridden, 0.0),
        o_override=measured["effective_error"].where(overridden, 0.0),
    )
    out = m.groupby(by, sort=True).agg(
        reviews=("decision", "size"),
        overrides=("overridden", "sum"),
        better=("better", "sum"),
        worse=("worse", "sum"),
        actual=("o_actual", "sum"),
        model_error=("o_model", "sum"),
        override_error=("o_override", "sum"),
    )
    some = out["overrides"] > 0
    out["model_wape"] = np.where(some, ratio(out["model_error"], out["actual"]), math.nan)
    out["override_wape"] = np.where(some, ratio(out["override_error"], out["actual"]), math.nan)
    return out.reset_index()[columns]


def adapted_review_threshold(overrides: int, better: int, worse: int, base: float = REVIEW_BELOW) -> float:
    """The review threshold for a group whose measured overrides beat the model `better` times
    and made it worse `worse` times (see the module's description)."""
    low, high = REVIEW_THRESHOLD_BOUNDS
    if overrides < REVIEW_EVIDENCE:
        return base
    if better >= REVIEW_CONSISTENT * overrides:
        return round(min(high, base + REVIEW_STEP), 4)
    if worse >= REVIEW_CONSISTENT * overrides:
        return round(max(low, base - REVIEW_STEP), 4)
    return base


def review_event_id(run_id: str, location: str, sku: str) -> str:
    """The id of a review decision's event (derived: sending it again is a duplicate)."""
    return f"review:{run_id}:{location}:{sku}"


def review_event(
    run_id: str,
    location: str,
    sku: str,
    decision: Decision,
    reviewer: str,
    reason: str,
    role: str,
    override_daily: float | None,
    decided_at: datetime,
) -> ForecastReviewed:
    """The `forecast_reviewed` event that puts a review decision on record in the stream."""
    return ForecastReviewed(
        event_id=review_event_id(run_id, location, sku),
        occurred_at=decided_at,
        source="planning",
        location=location,
        sku=sku,
        run_id=run_id,
        decision=decision.value,
        override_daily=override_daily,
        reviewer=reviewer,
        role=role,
        reason=reason,
    )


def _models(intermittent: bool) -> tuple[list, list]:
    """The candidates refitted at every backtest origin (cheap), and those fitted at the first
    and carried forward."""
    from statsforecast.models import ADIDA, TSB, AutoETS, AutoTheta, CrostonOptimized, SeasonalNaive

    # ETS without trend (a month ahead of daily demand, the weekly season carries the shape):
    # the error and season types are chosen by AIC. AutoARIMA does not fit the time budget.
    ets = AutoETS(season_length=SEASON, model="ZNA")
    if intermittent:
        return [SeasonalNaive(SEASON), CrostonOptimized(), TSB(alpha_d=0.2, alpha_p=0.2), ADIDA()], [ets]
    return [SeasonalNaive(SEASON)], [ets, AutoTheta(season_length=SEASON)]


def chosen_models(scores: pd.DataFrame) -> pd.DataFrame:
    """Per series, the combination, unless another statistical candidate's backtest WAPE is
    lower than the combination's by more than `COMBINED_MARGIN` (then the lowest), or the
    gradient-boosted model's is lower at all (it knows the signals of the days ahead): picking one
    model by two backtest windows chases their noise, and the mean of good models is the
    steadier forecast."""
    at_par = scores["model"].isin([COMBINED, BOOSTED])
    weighed = scores["wape"].where(at_par, scores["wape"] * (1 + COMBINED_MARGIN))
    return scores.loc[weighed.groupby(scores["unique_id"]).idxmin()].set_index("unique_id")


@dataclass(frozen=True)
class ForecastResult:
    """Per series and day: the forecast with intervals; per series: model, backtest, confidence."""

    forecasts: pd.DataFrame  # unique_id, ds, forecast, lo80, hi80, lo95, hi95
    series: pd.DataFrame  # unique_id, pattern, model, backtest_wape, backtest_mase, backtest_bias,
    #                       naive_wape, weekly_wape, confidence, needs_review
    backtest: pd.DataFrame  # unique_id, ds, cutoff, actual, forecast (the chosen model)


def forecast_demand(
    history: pd.DataFrame, horizon: int = 30, n_jobs: int = 1, signals: pd.DataFrame | None = None
) -> ForecastResult:
    """Forecast `horizon` days ahead for every series in `history` (unique_id, ds, y: daily,
    dense, zeros included; optionally censored: the days out of stock, see `uncensored`),
    choosing each series' model by rolling-origin backtest.

    `signals` (optional): the known future signals per series and day (unique_id, ds and numeric
    feature columns, as `SignalCalendar.features` builds them) over the history and the `horizon`
    days after it; with them, the gradient-boosted model competes too."""
    from statsforecast import StatsForecast

    if "censored" in history:
        history = uncensored(history)
    history = history[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"], ignore_index=True)
    by_series = history.groupby("unique_id", sort=False)["y"]
    last_day = history.groupby("unique_id", sort=False)["ds"].max()
    lengths = by_series.size()
    patterns = by_series.agg(lambda s: classify(s.to_numpy())).rename("pattern")
    windows = {i: backtest_horizon(int(n), horizon) for i, n in lengths.items()}
    long_enough = {i for i, h in windows.items() if h}
    frames, series_frames, backtests = [], [], []
    boosted_ahead = None
    if signals is not None and long_enough:
        boosted_ahead = _boosted_forecast(
            history[history["unique_id"].isin(long_enough)], signals, horizon, n_jobs
        )
    groups = [
        (window, intermittent)
        for window in sorted({h for h in windows.values() if h}, reverse=True)
        for intermittent in (False, True)
    ]
    boosted_cv = None
    for window, intermittent in groups:
        if signals is not None and not intermittent:  # one global backtest per window length
            same = [i for i in lengths.index if windows[i] == window]
            boosted_cv = _boosted_backtest(history[history["unique_id"].isin(same)], signals, window, n_jobs)
        ids = [
            i
            for i in lengths.index
            if windows[i] == window
            and (patterns[i] in (Pattern.INTERMITTENT, Pattern.LUMPY, Pattern.NO_DEMAND)) == intermittent
        ]
        if not ids:
            continue
        group = history[history["unique_id"].isin(ids)]
        refitted, carried = _models(intermittent)
        candidates = refitted + carried
        # every candidate from each origin: the cheap ones refitted at each, ETS and Theta
        # fitted at the first origin and carried forward over the later window
        cv = StatsForecast(models=refitted, freq="D", n_jobs=n_jobs).cross_validation(
            h=window, df=group, n_windows=BACKTEST_WINDOWS, step_size=window, refit=True
        )
        if carried:
            fitted_once = StatsForecast(models=carried, freq="D", n_jobs=n_jobs).cross_validation(
                h=window, df=group, n_windows=BACKTEST_WINDOWS, step_size=window, refit=False
            )
            cv = cv.merge(fitted_once.drop(columns="y"), on=["unique_id", "ds", "cutoff"], how="left")
        if boosted_cv is not None:
            cv = cv.merge(boosted_cv, on=["unique_id", "ds", "cutoff"], how="left")
        names = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")]
        cv[names] = cv[names].clip(lower=0)
        members = list(COMBINED_MEMBERS[intermittent])
        cv[COMBINED] = cv[members].mean(axis=1)
        names.append(COMBINED)
        scores = _scores(cv, names, group)
        best = chosen_models(scores)
        # the chosen model's backtest: its errors give the intervals
        pick = best["model"].reindex(cv["unique_id"]).to_numpy()
        columns = {name: i for i, name in enumerate(names)}
        cv["forecast"] = cv[names].to_numpy()[np.arange(len(cv)), [columns[m] for m in pick]]
        cv["error"] = (cv["y"] - cv["forecast"]).abs()
        # errors grow with the days ahead: each is scaled to the mean lead before the quantile
        lead = (cv["ds"] - cv["cutoff"]).dt.days.clip(lower=1)
        mean_lead = float(lead.mean())
        errors = (cv["error"] / np.sqrt(lead / mean_lead)).groupby(cv["unique_id"])
        n = int(errors.size().min())  # every series of a group has the same windows
        q = pd.DataFrame(
            {
                f"q{level}": errors.quantile(conformal_level(n, level / 100), interpolation="higher")
                for level in LEVELS
            }
        )
        week = (cv["ds"] - cv["cutoff"]).dt.days.sub(1) // 7
        weekly = cv.groupby([cv["unique_id"], cv["cutoff"], week])[["y", "forecast"]].sum()
        weekly_error = (weekly["y"] - weekly["forecast"]).abs().groupby(level=0).sum()
        weekly_total = weekly["y"].groupby(level=0).sum()
        weekly_wape = pd.Series(
            ratio(weekly_error.to_numpy(), weekly_total.to_numpy()), index=weekly_total.index
        )
        # then only the chosen model forecasts each series
        for model, chosen in best.groupby("model").groups.items():
            if model == BOOSTED:
                ahead = boosted_ahead[boosted_ahead["unique_id"].isin(chosen)]
            else:
                used = members if model == COMBINED else [model]
                fitted = [m for m in candidates if str(m) in used]
                ahead = StatsForecast(models=fitted, freq="D", n_jobs=n_jobs).forecast(
                    h=horizon, df=group[group["unique_id"].isin(chosen)]
                )
                if model == COMBINED:
                    ahead[COMBINED] = ahead[used].clip(lower=0).mean(axis=1)
            ahead = ahead.rename(columns={model: "forecast"})
            ahead["forecast"] = ahead["forecast"].clip(lower=0)
            ahead = ahead.join(q, on="unique_id")
            days_ahead = (ahead["ds"] - ahead["unique_id"].map(last_day)).dt.days
            widening = np.sqrt(days_ahead / mean_lead)
            for level, col in ((80, "q80"), (95, "q95")):
                ahead[f"lo{level}"] = (ahead["forecast"] - ahead[col] * widening).clip(lower=0)
                ahead[f"hi{level}"] = ahead["forecast"] + ahead[col] * widening
            frames.append(ahead[FORECAST_COLUMNS])
        naive = scores[scores["model"] == "SeasonalNaive"].set_index("unique_id")["wape"]
        series_frames.append(
            best.rename(columns={"wape": "backtest_wape", "mase": "backtest_mase", "bias": "backtest_bias"})
            .assign(
                pattern=patterns.reindex(best.index).astype(str),
                naive_wape=naive.reindex(best.index),
                weekly_wape=weekly_wape.reindex(best.index),
                q80=q["q80"].reindex(best.index),
            )
            .reset_index()
        )
        backtests.append(cv[["unique_id", "ds", "cutoff", "y", "forecast"]].rename(columns={"y": "actual"}))
    short = [i for i in lengths.index if i not in long_enough]
    if short:
        frames.append(_history_mean(history[history["unique_id"].isin(short)], horizon))
    forecasts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FORECAST_COLUMNS)
    series = pd.concat(series_frames, ignore_index=True) if series_frames else pd.DataFrame()
    if len(series):
        means = forecasts.groupby("unique_id")["forecast"].mean()
        series["confidence"] = [
            confidence(horizon_width(m, q80, horizon), w)
            for m, q80, w in zip(
                series["unique_id"].map(means), series["q80"], series["weekly_wape"], strict=True
            )
        ]
        series = series.drop(columns=["q80"])
    if short:
        unbacktested = pd.DataFrame(
            {
                "unique_id": short,
                "model": "HistoryMean",
                "pattern": [str(patterns[i]) for i in short],
                "confidence": 0.0,
            }
        )
        series = pd.concat([f for f in (series, unbacktested) if len(f)], ignore_index=True)
    series["needs_review"] = series["confidence"] < REVIEW_BELOW
    backtest = pd.concat(backtests, ignore_index=True) if backtests else pd.DataFrame()
    return ForecastResult(forecasts.sort_values(["unique_id", "ds"], ignore_index=True), series, backtest)


def _boosted_model(n_jobs: int) -> Any:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    return MLForecast(
        models={BOOSTED: lgb.LGBMRegressor(
            n_estimators=150, learning_rate=0.07, num_leaves=31, min_child_samples=50,
            objective="tweedie", n_jobs=n_jobs, deterministic=True, verbose=-1,
        )},
        freq="D",
        lags=[7, 14, 21, 28],
        lag_transforms={7: [RollingMean(7), RollingMean(28)]},
        date_features=["dayofweek"],
    )  # fmt: skip


@contextmanager
def _missing_values_expected() -> Iterator[None]:
    # the first weeks of a series have no lags yet, and a calendar may have no temperature:
    # LightGBM learns from the missing values (the rows are kept, not dropped)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found null values", category=UserWarning)
        yield


def _boosted_backtest(history: pd.DataFrame, signals: pd.DataFrame, window: int, n_jobs: int) -> pd.DataFrame:
    """The gradient-boosted candidate's backtest (unique_id, ds, cutoff, `BOOSTED`, clipped at
    0): one global model over the series, fitted at the first origin and carried over the later
    window, as ETS and Theta are."""
    data = history.merge(signals.drop_duplicates(["unique_id", "ds"]), on=["unique_id", "ds"], how="left")
    with _missing_values_expected():
        cv = _boosted_model(n_jobs).cross_validation(
            data, n_windows=BACKTEST_WINDOWS, h=window, step_size=window, refit=False,
            static_features=[], dropna=False,
        )  # fmt: skip
    cv[BOOSTED] = cv[BOOSTED].clip(lower=0)
    return cv[["unique_id", "ds", "cutoff", BOOSTED]]


def _boosted_forecast(
    history: pd.DataFrame, signals: pd.DataFrame, horizon: int, n_jobs: int
) -> pd.DataFrame:
    """The gradient-boosted model fitted on every series' whole history, forecasting `horizon`
    days past each with the signals of those days (unique_id, ds, `BOOSTED`, clipped at 0)."""
    signals = signals.drop_duplicates(["unique_id", "ds"])
    last = history.groupby("unique_id")["ds"].max()
    ends = signals["unique_id"].map(last)
    future = signals[(signals["ds"] > ends) & (signals["ds"] <= ends + pd.Timedelta(days=horizon))]
    known = future.groupby("unique_id").size().reindex(last.index, fill_value=0)
    if (known < horizon).any():
        missing = ", ".join(known.index[known < horizon][:5])
        raise ValueError(f"the signals do not cover the {horizon} days ahead of: {missing}")
    data = history.merge(signals, on=["unique_id", "ds"], how="left")
    with _missing_values_expected():
        ahead = (
            _boosted_model(n_jobs).fit(data, static_features=[], dropna=False).predict(horizon, X_df=future)
        )
    ahead[BOOSTED] = ahead[BOOSTED].clip(lower=0)
    return ahead[["unique_id", "ds", BOOSTED]]


def _scores(cv: pd.DataFrame, models: list[str], history: pd.DataFrame) -> pd.DataFrame:
    """WAPE, MASE and bias of every model on every series over all backtest windows (MASE
    scaled by the weekly seasonal-naive error in the history before the first origin)."""
    first_cutoff = cv.groupby("unique_id")["cutoff"].min()
    train = history[history["ds"] <= history["unique_id"].map(first_cutoff)]
    lagged = train.groupby("unique_id")["y"].shift(SEASON)
    scale = (train["y"] - lagged).abs().groupby(train["unique_id"]).mean()
    ids = first_cutoff.index
    series = cv["unique_id"]
    total = cv.groupby("unique_id")["y"].sum().reindex(ids).to_numpy()
    count = cv.groupby("unique_id")["y"].size().reindex(ids).to_numpy()
    scale = scale.reindex(ids).to_numpy()
    frames = []
    for model in models:
        error = cv[model] - cv["y"]  # forecast − actual
        abs_error = error.abs().groupby(series).sum().reindex(ids).to_numpy()
        signed = error.groupby(series).sum().reindex(ids).to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": ids,
                    "model": model,
                    "wape": ratio(abs_error, total),
                    "bias": ratio(signed, total),
                    "mase": ratio(abs_error / count, scale),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _history_mean(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Too short to backtest: the mean of what there is, with wide intervals (0 to 2× / 3×)."""
    stats = history.groupby("unique_id").agg(mean=("y", "mean"), last=("ds", "max"))
    days = pd.to_timedelta(np.arange(1, horizon + 1), unit="D")
    out = stats.loc[stats.index.repeat(horizon)].reset_index()
    out["ds"] = out["last"] + np.tile(days, len(stats))
    out["forecast"] = out["mean"].fillna(0.0)
    return out.assign(lo80=0.0, hi80=2 * out["forecast"], lo95=0.0, hi95=3 * out["forecast"])[
        FORECAST_COLUMNS
    ]
