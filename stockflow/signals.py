"""Known future signals of demand: the planning calendar forecasting may use.

A company knows some drivers of its demand ahead of time:

* **holidays and events**: a demand factor per day (1 = an ordinary day, 2.2 = the eve of the
  Spring Festival), from the public calendar and the company's own experience;
* **weather**: the forecast temperature per day (°C), which moves cold drinks and chilled goods;
* **promotions**: which SKU is on promotion on which days, in which locations (none named: all).

The calendar is kept as JSON (`var/signals.json`; the simulated company writes its own) and turned
here into one row per series and day of numeric features: `holiday_factor`, `temperature_c`
(missing where the calendar has no forecast), `promotion` (0/1) and `cold_chain` (0/1, the SKU's
master data), the columns forecasting's gradient-boosted candidate learns from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stockflow.masterdata import Code

if TYPE_CHECKING:  # pandas is needed by `features` only (the simulator and the workers do without)
    import pandas as pd

#: The calendar's file name in the var directory.
CALENDAR_FILE = "signals.json"
FEATURES = ["holiday_factor", "temperature_c", "promotion", "cold_chain"]


class DaySignal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    day: date
    holiday_factor: float = Field(default=1.0, ge=0, le=20)
    temperature_c: float | None = Field(default=None, ge=-60, le=60)


class Promotion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Code
    first_day: date
    last_day: date
    locations: frozenset[Code] = frozenset()  # empty: every location

    @model_validator(mode="after")
    def _dates(self) -> Promotion:
        if self.last_day < self.first_day:
            raise ValueError(
                f"promotion of {self.sku} ends ({self.last_day}) before it starts ({self.first_day})"
            )
        return self


class SignalCalendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[DaySignal] = []
    promotions: list[Promotion] = []

    @model_validator(mode="after")
    def _one_row_a_day(self) -> SignalCalendar:
        seen: set[date] = set()
        for d in self.days:
            if d.day in seen:
                raise ValueError(f"the calendar names {d.day} twice")
            seen.add(d.day)
        return self

    def covers(self, first: date, last: date) -> bool:
        """Whether every day from `first` to `last` has a row (so the features are known there)."""
        known = {d.day for d in self.days}
        return all(first + timedelta(days=i) in known for i in range((last - first).days + 1))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> SignalCalendar:
        return cls.model_validate_json(path.read_text())

    def features(
        self, series: pd.DataFrame, first: date, last: date, cold_chain: Iterable[str] = ()
    ) -> pd.DataFrame:
        """One row per series and day from `first` to `last`: unique_id, ds and `FEATURES`.

        `series`: one row per series (unique_id, location, sku); `cold_chain`: the SKUs kept cold.
        A day the calendar does not name is an ordinary day with no known temperature."""
        import numpy as np
        import pandas as pd

        days = pd.date_range(first, last, freq="D")
        ids = series[["unique_id", "location", "sku"]].drop_duplicates("unique_id")
        n, k = len(ids), len(days)
        out = pd.DataFrame(
            {
                "unique_id": np.repeat(ids["unique_id"].to_numpy(), k),
                "ds": np.tile(days.to_numpy(), n),
                "location": np.repeat(ids["location"].to_numpy(), k),
                "sku": np.repeat(ids["sku"].to_numpy(), k),
            }
        )
        calendar = pd.DataFrame(
            [(pd.Timestamp(d.day), d.holiday_factor, d.temperature_c) for d in self.days],
            columns=["ds", "holiday_factor", "temperature_c"],
        ).astype({"holiday_factor": float, "temperature_c": float})
        out = out.merge(calendar, on="ds", how="left")
        out["holiday_factor"] = out["holiday_factor"].fillna(1.0)
        promoted = self._promoted_days(first, last)
        everywhere = promoted[promoted["location"] == ""][["sku", "ds"]].drop_duplicates()
        local = promoted[promoted["location"] != ""].drop_duplicates()
        on = out.merge(everywhere.assign(p1=1.0), on=["sku", "ds"], how="left").merge(
            local.assign(p2=1.0), on=["sku", "location", "ds"], how="left"
        )
        out["promotion"] = np.fmax(on["p1"].fillna(0).to_numpy(), on["p2"].fillna(0).to_numpy())
        out["cold_chain"] = out["sku"].isin(set(cold_chain)).astype(float)
        return out[["unique_id", "ds", *FEATURES]]

    def _promoted_days(self, first: date, last: date) -> pd.DataFrame:
        import pandas as pd

        rows = []
        for p in self.promotions:
            start, end = max(p.first_day, first), min(p.last_day, last)
            if end < start:
                continue
            for day in pd.date_range(start, end, freq="D"):
                rows += [(p.sku, loc, day) for loc in (p.locations or ("",))]
        return pd.DataFrame(rows, columns=["sku", "location", "ds"]).astype({"ds": "datetime64[ns]"})
