from datetime import date, timedelta

import pytest

from stockflow.kpis import KPIS, DailyValue, compare_periods, daily_values, period_value

D0 = date(2026, 9, 1)


def days(values, start=D0):
    return [DailyValue(start + timedelta(days=i), value=v) for i, v in enumerate(values)]


def test_a_level_takes_the_period_s_last_value_and_a_flow_its_mean():
    stock, lag = KPIS["inventory_value"], KPIS["voucher_lag"]
    assert period_value(stock, days([10, 20, None])) == 20  # the last day with a value
    assert period_value(lag, days([10, 20, None])) == 15
    assert period_value(stock, days([None, None])) is None


def test_a_ratio_weighs_busy_days_more_than_quiet_ones():
    rate = KPIS["stockout_rate"]
    series = [
        DailyValue(D0, numerator=1, denominator=1),  # a quiet day, all stocked out
        DailyValue(D0 + timedelta(days=1), numerator=0, denominator=99),
        DailyValue(D0 + timedelta(days=2), numerator=5, denominator=0),  # nothing active: ignored
    ]
    assert period_value(rate, series) == pytest.approx(0.01)  # not the mean of rates, 0.5


def test_the_last_days_compare_with_the_days_before_them():
    fill = KPIS["fill_rate"]
    series = [
        DailyValue(D0 + timedelta(days=i), numerator=i < 7 and 9 or 8, denominator=10) for i in range(14)
    ]
    comparison = compare_periods(fill, series, days=7)
    assert comparison.current_period == (D0 + timedelta(days=7), D0 + timedelta(days=13))
    assert comparison.previous_period == (D0, D0 + timedelta(days=6))
    assert (comparison.current, comparison.previous) == (pytest.approx(0.8), pytest.approx(0.9))
    assert comparison.change == pytest.approx(-0.1) and comparison.improved is False


def test_direction_decides_whether_a_change_is_good_news():
    up = days([1] * 7 + [2] * 7)
    assert compare_periods(KPIS["voucher_lag"], up).improved is False  # lower is better
    assert compare_periods(KPIS["inventory_value"], up).improved is None  # neutral
    flat = days([1] * 14)
    assert compare_periods(KPIS["near_expiry_value"], flat).improved is None  # no change


def test_too_little_history_has_no_previous_period():
    comparison = compare_periods(KPIS["dead_stock_ratio"], days([0.1, 0.2]), days=7)
    assert comparison.current == 0.2 and comparison.previous is None and comparison.change is None
    assert compare_periods(KPIS["dead_stock_ratio"], []).current is None
    with pytest.raises(ValueError):
        compare_periods(KPIS["fill_rate"], [], days=0)


def test_rows_become_daily_values_with_missing_numbers_as_none():
    rows = [{"day": D0, "value": float("nan")}, {"day": D0, "numerator": 1, "denominator": 2}]
    assert daily_values(rows) == [DailyValue(D0), DailyValue(D0, numerator=1.0, denominator=2.0)]


def test_live_only_kpis_say_what_the_current_period_left_out():
    freshness = KPIS["data_freshness"]
    assert freshness.live_only and KPIS["voucher_lag"].live_only
    assert not any(k.live_only for key, k in KPIS.items() if key not in ("data_freshness", "voucher_lag"))
    # history written at start on the first days (no live events: no value), then live days
    series = [
        DailyValue(D0, value=None, excluded=500),
        DailyValue(D0 + timedelta(days=1), value=None, excluded=400),
        DailyValue(D0 + timedelta(days=2), value=30.0, excluded=100),  # the day live began
        DailyValue(D0 + timedelta(days=3), value=10.0, excluded=0),
        DailyValue(D0 + timedelta(days=4), value=20.0, excluded=0),
    ]
    comparison = compare_periods(freshness, series, days=3)
    assert comparison.current_period == (D0 + timedelta(days=2), D0 + timedelta(days=4))
    assert comparison.current == 20.0  # (30 + 10 + 20) / 3: the live days only
    assert comparison.excluded == 100  # 100 + 0 + 0 in the current period
    assert comparison.previous is None  # its days had history only
    assert compare_periods(freshness, series, days=7).excluded == 1000
    # a series that says nothing about it
    assert compare_periods(freshness, days([1, 2, 3]), days=3).excluded is None


def test_rows_carry_what_a_day_left_out():
    rows = [{"day": D0, "value": 5.0, "excluded": 12}, {"day": D0, "value": None, "excluded": float("nan")}]
    assert daily_values(rows) == [DailyValue(D0, value=5.0, excluded=12.0), DailyValue(D0)]
