"""The planning calendar of known future signals and the features forecasting learns from."""

import math
from datetime import date

import pandas as pd
import pytest
from pydantic import ValidationError

from simulator.company import Simulation, build_catalog
from stockflow.signals import FEATURES, DaySignal, Promotion, SignalCalendar


def test_a_calendar_refuses_a_promotion_that_ends_before_it_starts_and_a_day_named_twice():
    with pytest.raises(ValidationError, match="ends"):
        Promotion(sku="MILK", first_day=date(2026, 5, 2), last_day=date(2026, 5, 1))
    with pytest.raises(ValidationError, match="twice"):
        SignalCalendar(days=[DaySignal(day=date(2026, 5, 1)), DaySignal(day=date(2026, 5, 1))])
    with pytest.raises(ValidationError):
        DaySignal(day=date(2026, 5, 1), holiday_factor=-1)


def test_features_golden_case():
    calendar = SignalCalendar(
        days=[
            DaySignal(day=date(2026, 5, 1), holiday_factor=1.6, temperature_c=24.5),
            DaySignal(day=date(2026, 5, 2), temperature_c=26.0),
        ],
        promotions=[
            Promotion(sku="MILK", first_day=date(2026, 4, 20), last_day=date(2026, 5, 1)),  # everywhere
            Promotion(sku="RICE", first_day=date(2026, 5, 2), last_day=date(2026, 5, 9), locations={"ST02"}),
        ],
    )
    series = pd.DataFrame(
        {
            "unique_id": ["ST01|MILK", "ST01|RICE", "ST02|RICE|online"],
            "location": ["ST01", "ST01", "ST02"],
            "sku": ["MILK", "RICE", "RICE"],
        }
    )
    f = calendar.features(series, date(2026, 5, 1), date(2026, 5, 3), cold_chain={"MILK"})
    assert list(f.columns) == ["unique_id", "ds", *FEATURES] and len(f) == 9
    at = f.set_index(["unique_id", "ds"])
    milk = at.loc["ST01|MILK"]
    assert list(milk["holiday_factor"]) == [1.6, 1.0, 1.0]  # 3 May is not in the calendar: ordinary
    assert list(milk["temperature_c"])[:2] == [24.5, 26.0] and math.isnan(milk["temperature_c"].iloc[2])
    assert list(milk["promotion"]) == [1.0, 0.0, 0.0] and set(milk["cold_chain"]) == {1.0}
    assert list(at.loc["ST01|RICE"]["promotion"]) == [0.0, 0.0, 0.0]  # promoted in ST02 only
    assert list(at.loc["ST02|RICE|online"]["promotion"]) == [0.0, 1.0, 1.0]
    assert set(at.loc["ST02|RICE|online"]["cold_chain"]) == {0.0}
    assert calendar.covers(date(2026, 5, 1), date(2026, 5, 2))
    assert not calendar.covers(date(2026, 5, 1), date(2026, 5, 3))


def test_the_simulated_calendar_is_what_drives_the_simulated_demand(tmp_path):
    sim = Simulation(build_catalog(3), 3)
    calendar = sim.signal_calendar(date(2026, 9, 28), date(2026, 10, 8))
    calendar.save(tmp_path / "signals.json")
    assert SignalCalendar.load(tmp_path / "signals.json") == calendar
    national_day = next(d for d in calendar.days if d.day == date(2026, 10, 1))
    assert national_day.holiday_factor == sim.signals(date(2026, 10, 1)).holiday_factor > 1
    promoted = {p.sku for p in calendar.promotions if p.first_day == date(2026, 10, 3)}
    assert promoted == set(sim.signals(date(2026, 10, 3)).promoted_skus)
