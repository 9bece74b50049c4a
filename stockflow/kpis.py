"""The managers' KPIs: what each one means, how a period's value is formed from daily values,
and how a period compares with the one before.

Every KPI is a daily series (one value per business day). A period's value is, by the KPI's
`aggregate`:

* ``last``: the value on the period's last day that has one (stock value, dead-stock ratio:
  a level, not a flow);
* ``mean``: the mean of the daily values (turnover days, lag);
* ``ratio``: the sum of the daily numerators over the sum of the daily denominators (stockout
  rate = stocked-out SKU-days / active SKU-days; fill rate = filled / ordered), so a quiet day
  does not weigh as much as a busy one.

The current period is the `days` days ending on the latest day with data; the previous period
is the `days` days before it. `change` is current − previous; `improved` says whether that
change is good news given the KPI's direction (None when it has no direction or no change).

Data freshness and voucher lag describe live operation (`live_only`): they count the events
that arrived live and leave out history its producer sent after the fact, backfilled or
replayed (`stockflow.delivery`), such as the simulated history `stockflow up` writes at start.
What a day left out is its `excluded` count, and a comparison's `excluded` is the current
period's total, for the Overview to say how much it left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

#: stock with no outbound movement for this many days is dead stock
DEAD_STOCK_DAYS = 90
#: batches expiring within this many days count in the near-expiry value
NEAR_EXPIRY_VALUE_DAYS = 7
#: a store's SKU counts in the stockout rate on a day if it sold in this many days before
STOCKOUT_ACTIVE_DAYS = 28


class Aggregate(StrEnum):
    LAST = "last"
    MEAN = "mean"
    RATIO = "ratio"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher"
    LOWER_IS_BETTER = "lower"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class Kpi:
    key: str
    title: str
    unit: str  # "CNY", "%", "days", "s"
    aggregate: Aggregate
    direction: Direction
    definition: str
    #: counts live operation only: backfilled or replayed history is left out (`excluded`)
    live_only: bool = False


KPIS: dict[str, Kpi] = {
    k.key: k
    for k in (
        Kpi(
            "inventory_value", "Inventory value", "CNY", Aggregate.LAST, Direction.NEUTRAL,
            "Stock at cost at the end of the day, all locations.",
        ),
        Kpi(
            "turnover_days", "Turnover days", "days", Aggregate.RATIO, Direction.LOWER_IS_BETTER,
            "Average stock value / cost of sales per day: how many days of sales the stock covers.",
        ),
        Kpi(
            "stockout_rate", "Stockout rate", "%", Aggregate.RATIO, Direction.LOWER_IS_BETTER,
            f"Store SKUs sold in the {STOCKOUT_ACTIVE_DAYS} days before that ended the day with nothing on hand.",
        ),
        Kpi(
            "dead_stock_ratio", "Dead-stock ratio", "%", Aggregate.LAST, Direction.LOWER_IS_BETTER,
            f"Value of stock with no outbound movement in {DEAD_STOCK_DAYS} days / stock value.",
        ),
        Kpi(
            "near_expiry_value", "Near-expiry value", "CNY", Aggregate.LAST, Direction.LOWER_IS_BETTER,
            f"Value of batches expiring within {NEAR_EXPIRY_VALUE_DAYS} days (or expired) still on hand.",
        ),
        Kpi(
            "fill_rate", "Fill rate", "%", Aggregate.RATIO, Direction.HIGHER_IS_BETTER,
            "B2B quantity issued against sales orders / quantity ordered.",
        ),
        Kpi(
            "data_freshness", "Data freshness p95", "s", Aggregate.MEAN, Direction.LOWER_IS_BETTER,
            "95th percentile of event time → landed in the lake of the events that arrived live, per day"
            " (mean of days); backfilled or replayed history is left out.",
            live_only=True,
        ),
        Kpi(
            "voucher_lag", "Voucher lag p50", "s", Aggregate.MEAN, Direction.LOWER_IS_BETTER,
            "Median of event time → voucher posted for the events that arrived live, per day (mean of days);"
            " vouchers for backfilled or replayed history are left out.",
            live_only=True,
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class DailyValue:
    """One day of a KPI: `value`, or for a ratio KPI `numerator` / `denominator`; for a KPI
    that counts live operation only, `excluded`: the events (or vouchers) of backfilled or
    replayed history the day left out."""

    day: date
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    excluded: float | None = None


@dataclass(frozen=True)
class PeriodComparison:
    kpi: Kpi
    current: float | None
    previous: float | None
    current_period: tuple[date, date] | None
    previous_period: tuple[date, date] | None
    #: what the current period left out (a `live_only` KPI: events or vouchers of backfilled
    #: or replayed history); None when the series says nothing about it
    excluded: float | None = None

    @property
    def change(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def improved(self) -> bool | None:
        change = self.change
        if not change or self.kpi.direction is Direction.NEUTRAL:
            return None
        return (change > 0) == (self.kpi.direction is Direction.HIGHER_IS_BETTER)


def period_value(kpi: Kpi, days: Iterable[DailyValue]) -> float | None:
    """The KPI's value over the given days (None where no day has one)."""
    days = sorted(days, key=lambda d: d.day)
    if kpi.aggregate is Aggregate.RATIO:
        pairs = [(d.numerator, d.denominator) for d in days if d.numerator is not None and d.denominator]
        denominator = sum(p[1] for p in pairs)
        return sum(p[0] for p in pairs) / denominator if denominator else None
    values = [d.value for d in days if d.value is not None]
    if not values:
        return None
    if kpi.aggregate is Aggregate.LAST:
        return values[-1]
    return sum(values) / len(values)


def compare_periods(kpi: Kpi, series: Iterable[DailyValue], days: int = 7) -> PeriodComparison:
    """The last `days` days up to the latest day with data against the `days` days before."""
    if days < 1:
        raise ValueError("a period has at least one day")
    series = list(series)
    if not series:
        return PeriodComparison(kpi, None, None, None, None)
    last = max(d.day for d in series)
    current_first = last - timedelta(days=days - 1)
    previous_last = current_first - timedelta(days=1)
    previous_first = previous_last - timedelta(days=days - 1)
    current = [d for d in series if current_first <= d.day <= last]
    previous = [d for d in series if previous_first <= d.day <= previous_last]
    return PeriodComparison(
        kpi,
        period_value(kpi, current),
        period_value(kpi, previous),
        (current_first, last),
        (previous_first, previous_last),
        period_excluded(current),
    )


def period_excluded(days: Iterable[DailyValue]) -> float | None:
    """What the given days left out in all (None where no day says)."""
    counts = [d.excluded for d in days if d.excluded is not None]
    return sum(counts) if counts else None


def daily_values(rows: Iterable[Mapping[str, object]]) -> list[DailyValue]:
    """`DailyValue`s from rows with a `day` and `value` or `numerator` / `denominator` (and
    `excluded` where the KPI counts live operation only)."""
    return [
        DailyValue(
            day=row["day"],  # type: ignore[arg-type]
            value=_float(row.get("value")),
            numerator=_float(row.get("numerator")),
            denominator=_float(row.get("denominator")),
            excluded=_float(row.get("excluded")),
        )
        for row in rows
    ]


def _float(value: object) -> float | None:
    return None if value is None or value != value else float(value)  # type: ignore[arg-type]
