"""Forecasting maths: accuracy metrics, demand patterns, confidence, and the model choice."""

import math

import numpy as np
import pandas as pd
import pytest

from stockflow.forecasting import (
    REVIEW_BELOW,
    Decision,
    Pattern,
    ReviewError,
    backtest_horizon,
    bias,
    check_decision,
    classify,
    confidence,
    forecast_demand,
    horizon_width,
    interval_coverage,
    mase,
    ratio,
    wape,
)


def test_interval_coverage_counts_the_ends_as_inside():
    # 10 in [8, 12]; 0 on its lower end; 5 above [1, 4]; 9 on its upper end
    assert interval_coverage([10, 0, 5, 9], [8, 0, 1, 2], [12, 3, 4, 9]) == 3 / 4
    assert math.isnan(interval_coverage([], [], []))


def test_metrics_golden_values():
    actual, forecast = [10, 0, 5, 5], [8, 1, 5, 9]
    assert wape(actual, forecast) == pytest.approx(7 / 20)
    assert bias(actual, forecast) == pytest.approx(3 / 20)
    # in-sample weekly naive errors of 0..13 shifted by 7 are all 7
    assert mase(actual, forecast, list(range(14))) == pytest.approx((7 / 4) / 7)
    assert wape([0, 0], [0, 0]) == 0 and math.isinf(wape([0, 0], [1, 0]))
    assert mase([1], [1], [3, 3, 3]) == 0  # too short for a weekly scale: lag 1, error 0
    # one rule where there is no demand to miss, for every measure and every series at once
    assert list(ratio([0, 2, -2, 3], [0, 0, 0, 4])) == [0, math.inf, -math.inf, 0.75]
    assert math.isinf(bias([0, 0], [1, 0])) and mase([0] * 9, [1], [5] * 9) == math.inf


def test_patterns_follow_syntetos_boylan():
    assert classify([5, 6, 5, 4, 5, 6, 5]) is Pattern.SMOOTH
    assert classify([1, 20, 2, 30, 1, 25, 3]) is Pattern.ERRATIC
    assert classify([0, 0, 3, 0, 0, 3, 0, 0, 4]) is Pattern.INTERMITTENT
    assert classify([0, 0, 1, 0, 0, 30, 0, 0, 2]) is Pattern.LUMPY
    assert classify([0, 0, 0]) is Pattern.NO_DEMAND


def test_confidence_falls_with_interval_width_and_backtest_error():
    assert confidence(0.05, 0.05) == pytest.approx(0.95)
    assert confidence(3.0, 0.05) == pytest.approx(0.475)  # interval wider than the forecast
    assert confidence(0.05, 2.0) == pytest.approx(0.475)  # error larger than the demand
    assert confidence(0.0, 0.0) == 1.0  # nothing sold, nothing forecast, nothing missed
    assert confidence(0.1, math.inf) == 0.0 and confidence(math.inf, 0.1) == 0.0
    assert confidence(0.2, 0.2) < REVIEW_BELOW < confidence(0.05, 0.1)


def test_the_interval_of_a_month_is_narrower_than_a_day_s_relative_to_demand():
    # 5 a day ± 3 (80%): a day's half-width is 60% of it; 30 days': 3·√30 of 150 = 11%
    assert horizon_width(5, 3, 30) == pytest.approx(3 * math.sqrt(30) / 150)
    assert horizon_width(0, 0, 30) == 0 and math.isinf(horizon_width(0, 1, 30))


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(7)
    days = 120
    ds = pd.date_range("2026-01-01", periods=days, freq="D")
    week = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.5])
    series = {
        "weekly": rng.poisson(20 * week[np.arange(days) % 7]),
        "sparse": (rng.random(days) < 0.15) * rng.poisson(4, days),
        "never": np.zeros(days, dtype=int),
    }
    frames = [pd.DataFrame({"unique_id": k, "ds": ds, "y": v.astype(float)}) for k, v in series.items()]
    # a new SKU: two weeks of history, one sale
    frames.append(pd.DataFrame({"unique_id": "new", "ds": ds[-14:], "y": [0.0] * 13 + [6.0]}))
    return forecast_demand(pd.concat(frames, ignore_index=True), horizon=30)


def test_every_series_gets_30_days_with_ordered_intervals(result):
    f = result.forecasts
    assert f.groupby("unique_id").size().to_dict() == {"new": 30, "never": 30, "sparse": 30, "weekly": 30}
    assert (f["lo95"] <= f["lo80"]).all() and (f["lo80"] <= f["forecast"]).all()
    assert (f["forecast"] <= f["hi80"]).all() and (f["hi80"] <= f["hi95"]).all()
    assert (f["lo95"] >= 0).all()
    assert f[f["unique_id"] == "never"]["forecast"].eq(0).all()


def test_each_series_gets_a_model_of_its_pattern(result):
    s = result.series.set_index("unique_id")
    assert s.loc["weekly", "pattern"] == "smooth"
    assert s.loc["weekly", "backtest_wape"] <= s.loc["weekly", "naive_wape"]  # chosen: the best one
    # 20 a day with a weekly season is predictable over a month; 0.6 a day, now and then, is not
    assert not s.loc["weekly", "needs_review"] and s.loc["weekly", "confidence"] >= REVIEW_BELOW
    assert s.loc["sparse", "needs_review"]
    assert s.loc["sparse", "pattern"] in ("intermittent", "lumpy")
    assert s.loc["sparse", "model"] in ("CrostonOptimized", "TSB", "ADIDA", "SeasonalNaive")
    # a new SKU cannot be backtested: the mean of its history, sent to review
    assert s.loc["new", "model"] == "HistoryMean" and s.loc["new", "confidence"] == 0
    assert bool(s.loc["new", "needs_review"])
    weekly = result.forecasts[result.forecasts["unique_id"] == "weekly"]["forecast"]
    assert weekly.mean() == pytest.approx(20 * 8.1 / 7, rel=0.2)
    assert set(result.backtest.columns) >= {"unique_id", "ds", "cutoff", "actual", "forecast"}


def test_a_review_decision_names_who_and_why_and_an_override_a_quantity():
    check_decision(Decision.OVERRIDDEN, "王经理", "promotion", 12.0)
    check_decision(Decision.ACCEPTED, "王经理", "looks right", None)
    with pytest.raises(ReviewError, match="daily quantity"):
        check_decision(Decision.OVERRIDDEN, "王经理", "promotion", None)
    with pytest.raises(ReviewError, match="daily quantity"):
        check_decision(Decision.OVERRIDDEN, "王经理", "promotion", -1)
    with pytest.raises(ReviewError, match="no override"):
        check_decision(Decision.ACCEPTED, "王经理", "fine", 3.0)
    with pytest.raises(ReviewError, match="reason"):
        check_decision(Decision.ACCEPTED, "王经理", "  ", None)


def test_realised_accuracy_golden_case_and_roll_up():
    from stockflow.forecasting import realised_accuracy, rolled_up_accuracy

    realised = pd.DataFrame(
        {
            "unique_id": ["A"] * 3 + ["B"] * 2 + ["C"],
            "forecast": [10.0, 10.0, 10.0, 2.0, 2.0, 1.0],
            "effective": [12.0, 12.0, 12.0, 2.0, 2.0, 1.0],  # A was overridden upwards
            "actual": [12.0, 8.0, 13.0, 0.0, 0.0, 0.0],
        }
    )
    # A's history alternates by the week: |y_t - y_{t-7}| = 4 every day
    insample = pd.DataFrame({"unique_id": ["A"] * 14, "y": [10.0] * 7 + [14.0] * 7})
    out = realised_accuracy(realised, insample).set_index("unique_id")
    a = out.loc["A"]
    assert (a["days"], a["actual"], a["forecast"]) == (3, 33, 30)
    assert a["wape"] == pytest.approx(7 / 33) and a["bias"] == pytest.approx(-3 / 33)
    assert a["mase"] == pytest.approx((7 / 3) / 4)
    assert a["effective_wape"] == pytest.approx((0 + 4 + 1) / 33)
    b = out.loc["B"]  # no demand, some forecast: infinitely wrong by the ratio rule; no history: no MASE
    assert b["wape"] == np.inf and b["bias"] == np.inf and np.isnan(b["mase"])
    total = rolled_up_accuracy(out.reset_index())
    assert total["series"] == 3 and total["wape"] == pytest.approx((7 + 4 + 1) / 33)
    assert total["bias"] == pytest.approx((-3 + 4 + 1) / 33) and total["median_mase"] == pytest.approx(7 / 12)


def _promoted_demand(n_series: int, days: int, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Demand that triples on promotion days (known ahead): history, and the signals over the
    history and the horizon."""
    rng = np.random.default_rng(11)
    ds = pd.date_range("2026-01-01", periods=days + horizon, freq="D")
    week = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.5])
    history, signals = [], []
    for i in range(n_series):
        promotion = (rng.random(days + horizon) < 0.15).astype(float)
        y = rng.poisson(8 * week[np.arange(days + horizon) % 7] * (1 + 2 * promotion)).astype(float)
        uid = f"S{i}"
        history.append(pd.DataFrame({"unique_id": uid, "ds": ds[:days], "y": y[:days]}))
        signals.append(pd.DataFrame({"unique_id": uid, "ds": ds, "promotion": promotion}))
    return pd.concat(history, ignore_index=True), pd.concat(signals, ignore_index=True)


def test_known_signals_win_the_backtest_where_demand_follows_them():
    history, signals = _promoted_demand(40, 100, 30)
    result = forecast_demand(history, horizon=30, signals=signals)
    models = result.series["model"].value_counts()
    assert models.get("LightGBM", 0) >= 30, models  # no statistical model knows the promotions
    f = result.forecasts.merge(signals, on=["unique_id", "ds"])
    assert len(f) == 40 * 30
    boosted = f[f["unique_id"].isin(result.series.query("model == 'LightGBM'")["unique_id"])]
    on, off = boosted.groupby("promotion")["forecast"].mean().loc[[1.0, 0.0]]
    assert on > 2 * off  # the promotion days are forecast higher, as they will sell
    assert (f["lo80"] <= f["forecast"]).all() and (f["forecast"] <= f["hi80"]).all()
    # without the signals the same series get statistical models only
    plain = forecast_demand(history, horizon=30)
    assert "LightGBM" not in set(plain.series["model"])


def test_signals_that_stop_short_of_the_horizon_are_refused():
    history, signals = _promoted_demand(3, 100, 30)
    short = signals[signals["ds"] < history["ds"].max() + pd.Timedelta(days=20)]
    with pytest.raises(ValueError, match="do not cover the 30 days ahead"):
        forecast_demand(history, horizon=30, signals=short)


def test_young_series_are_backtested_on_shorter_windows_in_whole_weeks():
    assert backtest_horizon(120, 30) == 30 and backtest_horizon(74, 30) == 30
    assert backtest_horizon(73, 30) == 28 and backtest_horizon(60, 30) == 21
    assert backtest_horizon(28, 30) == 7 and backtest_horizon(27, 30) == 0
    assert backtest_horizon(40, 5) == 5  # never longer than the horizon


def test_sixty_days_of_history_still_get_a_chosen_model_and_a_30_day_forecast():
    rng = np.random.default_rng(3)
    ds = pd.date_range("2026-01-01", periods=60, freq="D")
    week = np.array([1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.5])
    history = pd.DataFrame(
        {"unique_id": "young", "ds": ds, "y": rng.poisson(20 * week[np.arange(60) % 7]).astype(float)}
    )
    result = forecast_demand(history, horizon=30)
    s = result.series.set_index("unique_id").loc["young"]
    assert s["model"] != "HistoryMean" and s["backtest_wape"] < 0.3 and s["confidence"] > 0
    assert len(result.forecasts) == 30
    # two windows of 21 days each
    assert result.backtest.groupby("cutoff").size().tolist() == [21, 21]


def test_the_combination_is_kept_unless_another_candidate_is_clearly_better():
    from stockflow.forecasting import COMBINED, COMBINED_MARGIN, chosen_models

    scores = pd.DataFrame(
        [
            ("a", COMBINED, 0.30), ("a", "AutoETS", 0.26), ("a", "SeasonalNaive", 0.40),
            ("b", COMBINED, 0.30), ("b", "AutoETS", 0.28), ("b", "SeasonalNaive", 0.20),
            ("c", COMBINED, 0.0), ("c", "TSB", 0.0),
        ],
        columns=["unique_id", "model", "wape"],
    )  # fmt: skip
    assert 0.26 * (1 + COMBINED_MARGIN) > 0.30 > 0.20 * (1 + COMBINED_MARGIN)
    best = chosen_models(scores)
    assert best["model"].to_dict() == {"a": COMBINED, "b": "SeasonalNaive", "c": COMBINED}
    assert best.loc["b", "wape"] == 0.20  # its own backtest WAPE, not the weighed one


def test_the_combination_forecasts_the_mean_of_ets_and_theta():
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    from stockflow.forecasting import COMBINED

    rng = np.random.default_rng(3)
    days = 150
    week = np.array([1.0, 0.8, 0.9, 1.1, 1.3, 1.7, 1.4])
    y = rng.poisson(30 * week[np.arange(days) % 7]) + np.linspace(0, 6, days).round()
    history = pd.DataFrame(
        {"unique_id": "s", "ds": pd.date_range("2026-01-01", periods=days, freq="D"), "y": y.astype(float)}
    )
    out = forecast_demand(history, horizon=30)
    assert out.series.set_index("unique_id").loc["s", "model"] == COMBINED
    direct = StatsForecast(
        models=[AutoETS(season_length=7, model="ZNA"), AutoTheta(season_length=7)], freq="D"
    ).forecast(h=30, df=history)
    expected = direct[["AutoETS", "AutoTheta"]].clip(lower=0).mean(axis=1).to_numpy()
    assert out.forecasts["forecast"].to_numpy() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("n", "level", "expected"),
    [(60, 0.8, 49 / 60), (60, 0.95, 58 / 60), (10, 0.95, 1.0), (19, 0.95, 1.0), (39, 0.95, 38 / 39)],
)
def test_the_conformal_level_is_the_finite_sample_one(n, level, expected):
    from stockflow.forecasting import conformal_level

    # ⌈(n + 1)·level⌉ of n: 61 × 0.8 = 48.8 → 49; 61 × 0.95 = 57.95 → 58; 11 × 0.95 → 11 > 10
    assert conformal_level(n, level) == pytest.approx(expected)


def test_a_day_out_of_stock_counts_as_its_weekday_s_usual_demand():
    from stockflow.forecasting import uncensored

    ds = pd.date_range("2026-03-02", periods=35, freq="D")  # a Monday
    y = np.array([10.0 + d.dayofweek for d in ds])  # Monday 10 … Sunday 16
    y[[28, 29, 30]] = [2.0, 0.0, 25.0]  # out of stock on the fifth Monday, Tuesday, Wednesday
    censored = np.zeros(35, dtype=bool)
    censored[[28, 29, 30]] = True
    censored[22] = True  # the fourth Tuesday too, with its sales as they were (11)
    frame = pd.DataFrame({"unique_id": "a", "ds": ds, "y": y, "censored": censored})
    # a new SKU out of stock from its first day: nothing to go on, its sales stay
    frame = pd.concat(
        [frame, pd.DataFrame({"unique_id": "b", "ds": ds[:3], "y": [1.0, 0.0, 0.0], "censored": True})]
    )
    out = uncensored(frame).set_index(["unique_id", "ds"])["y"]
    a = out.loc["a"].to_numpy()
    assert a[28] == 10.0  # the four Mondays before: 10 each
    assert a[29] == 11.0  # the Tuesdays before but the censored fourth: 11 each
    assert a[30] == 25.0  # sold more than the usual 12: its sales are a floor, kept
    assert a[22] == 11.0 and (np.delete(a, [22, 28, 29, 30]) == np.delete(y, [22, 28, 29, 30])).all()
    assert out.loc["b"].tolist() == [1.0, 0.0, 0.0]


def test_stock_outs_do_not_pull_the_forecast_down():
    rng = np.random.default_rng(11)
    days = 120
    ds = pd.date_range("2026-01-01", periods=days, freq="D")
    y = rng.poisson(20, days).astype(float)
    out = np.zeros(days, dtype=bool)
    out[-14:] = True  # out of stock for the last two weeks
    y[out] = 0.0
    frame = pd.DataFrame({"unique_id": "s", "ds": ds, "y": y})
    as_zero = forecast_demand(frame, horizon=14).forecasts["forecast"].mean()
    as_censored = forecast_demand(frame.assign(censored=out), horizon=14).forecasts["forecast"].mean()
    assert as_censored == pytest.approx(20, rel=0.15) and as_zero < 0.8 * as_censored


def test_intervals_widen_with_the_square_root_of_the_days_ahead(result):
    weekly = result.forecasts[result.forecasts["unique_id"] == "weekly"].reset_index(drop=True)
    half = weekly["hi80"] - weekly["forecast"]
    assert half.iloc[29] / half.iloc[0] == pytest.approx(math.sqrt(30))
    assert half.iloc[3] / half.iloc[0] == pytest.approx(2.0)
    assert (half.diff().dropna() > 0).all()
