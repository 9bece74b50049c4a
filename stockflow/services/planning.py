"""Planning's use cases: record a forecast run, measure earlier runs against the demand since,
decide a forecast review, run replenishment, and decide a replenishment suggestion.

They are written against small ports: planning's own declared here (the planning store, the
warehouse's demand, live stock), publishing an event and the audit trail shared
(`stockflow.services.ports`). The adapters live outside the core and are handed in by the
entry points (flows, CLI, dashboards).

A decision is taken inside the store's decision unit (`deciding_review`, `deciding_suggestion`),
one transaction, in this order:

1. the item is claimed: the store changes it only where it is still pending (a conditional
   update whose row count says whether this decision took it). Of two concurrent decisions on
   one item exactly one takes it; the other is refused with `ReviewAlreadyDecided` /
   `SuggestionAlreadyDecided`, saying who decided and when, and nothing of it is written or
   sent;
2. the audit entry is written (`stockflow.services.auditing.recorded_first`), with the
   decision's id (`decision_id`, and the `event_id` of what it sends);
3. the decision's event is published (its id is derived, so sending it again is a duplicate
   the stream ignores);
4. the claim is committed.

A failure at 3 or 4 rolls the claim back (the item is pending again) and is followed by a
`<action>.failed` entry; a crash there leaves an entry for a decision that did not take effect,
never a decision or an event without its entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from stockflow.forecasting import (
    REVIEW_BELOW,
    SEASON,
    SEPARATOR,
    Decision,
    ForecastResult,
    ReviewAlreadyDecided,
    ReviewError,
    adapted_review_threshold,
    check_decision,
    realised_accuracy,
    review_event,
    review_event_id,
    review_outcomes,
    rolled_up_accuracy,
    series_ids,
)
from stockflow.masterdata import Catalog
from stockflow.recipes import daily_means, planned_demand
from stockflow.replenishment import (
    DEFAULT_RADIUS_KM,
    DEFAULT_REVIEW_DAYS,
    DEFAULT_SERVICE_LEVEL,
    ApprovedOrder,
    OrderSuggestion,
    Plan,
    PurchaseOrderLine,
    StockCount,
    SuggestionAlreadyDecided,
    SuggestionError,
    SuggestionStatus,
    TransferSuggestion,
    approval_event,
    approval_reference,
    check_suggestion_decision,
    demand_window,
    forecast_window,
    observed_lead_times,
    on_order,
    plan,
    series_inputs,
)
from stockflow.services.auditing import recorded_first
from stockflow.services.ports import AuditTrail, EventPublisher
from stockflow.services.production import ProductionRecords, with_production

#: Forecast runs are measured against the demand since for this many days after their last day.
ACCURACY_RUNS_DAYS = 60
#: The in-sample history that scales a run's MASE: eight weeks up to its last day.
ACCURACY_INSAMPLE_DAYS = 8 * SEASON

SeriesKey = tuple[str, str]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- ports
class LiveStock(Protocol):
    """Stock as the stream counts it now, per (location, SKU) of the locations asked for."""

    def stock(self, locations: Sequence[str]) -> Mapping[SeriesKey, StockCount]: ...


class DemandHistory(Protocol):
    """The warehouse's demand, read-only. Frames: one row per series and day up to `through`,
    columns location, sku, [channel,] day, units, 0 on a day without any. The series are those
    given (then `dense`), else every one with units from `since`; with `dense` each has every
    day from `since`, without it each starts on its first day with units."""

    def last_business_day(self) -> date | None: ...

    def demand_days(self) -> tuple[date, date] | None: ...

    def stockout_days(self, through: date) -> pd.DataFrame:
        """The days up to `through` a location closed with none of a SKU on hand: location,
        sku, day."""

    def daily_demand(
        self,
        through: date,
        *,
        since: date | None = None,
        series: Sequence[SeriesKey] | None = None,
        dense: bool = False,
        by_channel: bool = False,
    ) -> pd.DataFrame: ...

    def daily_transfers_out(self, since: date, through: date) -> pd.DataFrame: ...

    def daily_recipe_use(self, since: date, through: date) -> pd.DataFrame:
        """What recipes took from each location's stock per day (the ingredients of the dishes
        sold, less those given back by refunds of untouched dishes, and of the semi-finished
        items made): location, sku, day, units, each series from its first day with units."""

    def purchase_order_lines(self) -> list[PurchaseOrderLine]: ...


class PendingReview(Protocol):
    """A review being decided. `row` (its status, reviewer, decided_at) is None where there is
    none; `status` is the row's status."""

    row: Mapping[str, Any] | None

    @property
    def status(self) -> str | None: ...

    def record(
        self,
        decision: Decision,
        reviewer: str,
        role: str,
        reason: str,
        decided_at: datetime,
        override_daily: float | None,
    ) -> bool:
        """Write the decision where the review is still open (not committed yet): True. False,
        with nothing written and `row` read again, where another decision took it first."""

    def commit(self) -> None: ...


class PendingSuggestion(Protocol):
    """A suggestion being decided, under the store's lock. `row` (its stored columns) and
    `suggestion` are None where there is none."""

    row: Mapping[str, Any] | None
    suggestion: OrderSuggestion | TransferSuggestion | None

    def record(
        self,
        status: SuggestionStatus,
        decided_at: datetime,
        reviewer: str,
        role: str,
        reason: str,
        event_id: str | None,
        reference: str | None,
    ) -> bool:
        """Write the decision where the suggestion is still proposed (not committed yet): True.
        False, with nothing written and `row` read again, where another decision took it first."""

    def commit(self) -> dict[str, Any]:
        """Commit; the suggestion as stored."""


class ReviewDecisions(Protocol):
    def deciding_review(self, run_id: str, location: str, sku: str) -> AbstractContextManager[PendingReview]:
        """The review, locked against other decisions until the context ends (uncommitted
        changes are rolled back then)."""


class SuggestionDecisions(Protocol):
    def deciding_suggestion(self, suggestion_id: str) -> AbstractContextManager[PendingSuggestion]:
        """The suggestion, locked against other decisions until the context ends (uncommitted
        changes are rolled back then)."""

    def suggestions(self, status: str | None) -> list[dict[str, Any]]: ...


class ForecastRuns(Protocol):
    def store_run(
        self, run_id: str, started_at: datetime, last_day: date, horizon: int, result: ForecastResult
    ) -> dict[str, int]:
        """A run's forecasts and series, and a review opened for each one under the threshold."""


class ReviewHistory(Protocol):
    def measured_reviews(self) -> pd.DataFrame:
        """Every decided review that has been measured against the demand since: run_id,
        location, sku, reviewer, decision, actual, abs_error (the model's), effective_error."""


class ForecastAccuracy(Protocol):
    def runs_to_measure(self, through: date, since_days: int) -> list[tuple[str, date]]:
        """(run id, last day) of the runs whose last day is before `through` and at most
        `since_days` days before it."""

    def run_forecasts(self, run_id: str, through: date) -> pd.DataFrame:
        """The run's location × SKU forecasts up to `through`: location, sku, day, forecast,
        effective (a reviewer's override where there is one, else the forecast)."""

    def run_series(self, run_id: str) -> list[SeriesKey]: ...

    def store_accuracy(
        self, through: date, measured: Sequence[tuple[str, pd.DataFrame, Mapping[str, float]]], at: datetime
    ) -> None:
        """Per run: its series' accuracy and the roll-up, replacing earlier measures of it."""


class ReplenishmentPlans(Protocol):
    def daily_forecasts(self, first_day: date, days: int) -> dict[tuple[str, str, date], float]:
        """The effective forecast per location × SKU × day over the window, latest run."""

    def approved_purchase_orders(self) -> list[ApprovedOrder]: ...

    def store_plan(
        self, run_id: str, started_at: datetime, business_date: date, plan: Plan
    ) -> dict[str, int]:
        """The run's suggestions, proposed; earlier proposals expire."""


# ----------------------------------------------------------------------------- forecasting
def demand_series(demand: DemandHistory, through: date, by_channel: bool = False) -> pd.DataFrame:
    """Every series' daily demand (unique_id, ds, y: dense, zeros included) from its first
    demand to `through`, as forecasting takes it, with the days its location was out of the
    SKU (censored); per sales channel with `by_channel`."""
    frame = demand.daily_demand(through, by_channel=by_channel)
    days = pd.MultiIndex.from_arrays([frame["location"], frame["sku"], pd.to_datetime(frame["day"])])
    out = demand.stockout_days(through)
    stockouts = pd.MultiIndex.from_arrays([out["location"], out["sku"], pd.to_datetime(out["day"])])
    return pd.DataFrame(
        {
            "unique_id": series_ids(frame),
            "ds": pd.to_datetime(frame["day"]),
            "y": frame["units"].astype(float),
            "censored": days.isin(stockouts),
        }
    )


def recent_demand(demand: DemandHistory, location: str, sku: str, days: int) -> pd.DataFrame:
    """One series' demand per day (day, units) over the last `days` days with recorded demand,
    none before the first: 0 on a day without any."""
    recorded = demand.demand_days()
    if recorded is None:
        return pd.DataFrame({"day": [], "units": []})
    first, last = recorded
    since = max(first, last - timedelta(days=days - 1))
    frame = demand.daily_demand(last, since=since, series=[(location, sku)], dense=True)
    return frame[["day", "units"]].reset_index(drop=True)


Forecaster = Callable[[pd.DataFrame, int, "pd.DataFrame | None"], ForecastResult]
SignalsFor = Callable[[pd.DataFrame, date, int], "pd.DataFrame | None"]


@dataclass(frozen=True)
class ReviewLearning:
    """What the measured reviews say (`stockflow.forecasting.review_outcomes`): per reviewer,
    and per category with the review threshold it has earned (`threshold`)."""

    by_reviewer: pd.DataFrame
    by_category: pd.DataFrame

    def thresholds(self, categories: Mapping[str, str]) -> dict[str, float]:
        """The review threshold of each SKU (`categories`: SKU → category) whose category's
        threshold has moved."""
        moved = {
            c: t for c, t in zip(self.by_category["category"], self.by_category["threshold"], strict=True)
            if t != REVIEW_BELOW
        }  # fmt: skip
        return {sku: moved[c] for sku, c in categories.items() if c in moved}


def learn_from_reviews(store: ReviewHistory, categories: Mapping[str, str]) -> ReviewLearning:
    """Measure the decided reviews per reviewer and per category (`categories`: SKU → category;
    a SKU no longer in the catalogue counts under ""), and each category's review threshold."""
    measured = store.measured_reviews()
    measured = measured.assign(category=measured["sku"].map(categories).fillna(""))
    by_category = review_outcomes(measured, "category")
    by_category["threshold"] = [
        adapted_review_threshold(int(o), int(b), int(w))
        for o, b, w in zip(by_category["overrides"], by_category["better"], by_category["worse"], strict=True)
    ]
    return ReviewLearning(review_outcomes(measured, "reviewer"), by_category)


def forecast_and_record(
    store: ForecastRuns,
    demand: DemandHistory,
    forecaster: Forecaster,
    horizon: int,
    signals_for: SignalsFor | None = None,
    run_id: str | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Forecast every location × SKU series `horizon` days ahead of the last business day, and
    every sales channel's series where a store sells a SKU through several (one call: the
    forecaster starts its workers once), with the known signals where `signals_for` gives them;
    record the run (reviews open for the forecasts under the threshold: `REVIEW_BELOW`, or the
    SKU's own where `thresholds` has one, as `learn_from_reviews` finds them)."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    last_day = demand.last_business_day()
    history = demand_series(demand, last_day) if last_day is not None else pd.DataFrame()
    if history.empty:
        return {"series": 0, "forecast_days": 0, "to_review": 0, "seconds": 0.0, "signals": False}
    everything = pd.concat([history, demand_series(demand, last_day, by_channel=True)], ignore_index=True)
    signals = signals_for(everything, last_day, horizon) if signals_for else None
    result = forecaster(everything, horizon, signals)
    if thresholds:
        result = with_review_thresholds(result, thresholds)
    run_id = run_id or f"forecast-{time.time_ns()}"
    stored = record_forecasts(store, run_id, started_at, last_day, horizon, result)
    return {
        "run_id": run_id,
        **stored,
        "signals": signals is not None,
        "models": result.series["model"].value_counts().to_dict(),
        "seconds": round(time.perf_counter() - started, 2),
    }


def with_review_thresholds(result: ForecastResult, thresholds: Mapping[str, float]) -> ForecastResult:
    """The result with each series sent to review under its SKU's threshold (`REVIEW_BELOW`
    where `thresholds` has none)."""
    series = result.series
    skus = series["unique_id"].str.split(SEPARATOR, n=2).str[1]
    below = skus.map(thresholds).fillna(REVIEW_BELOW)
    return replace(result, series=series.assign(needs_review=series["confidence"] < below))


def record_forecasts(
    store: ForecastRuns,
    run_id: str,
    started_at: datetime,
    last_day: date,
    horizon: int,
    result: ForecastResult,
) -> dict[str, int]:
    """Store a forecast run; the forecasts under the review threshold wait for a person."""
    return store.store_run(run_id, started_at, last_day, horizon, result)


def measure_accuracy(
    store: ForecastAccuracy, demand: DemandHistory, runs_since_days: int = ACCURACY_RUNS_DAYS
) -> dict[str, Any]:
    """Measure the forecast runs of the last `runs_since_days` days against the demand that has
    happened since (complete business days: up to the day before the last), per series and
    rolled up per run."""
    now = datetime.now(UTC)
    last = demand.last_business_day()
    if last is None:
        return {"runs": 0, "through_day": None}
    through = last - timedelta(days=1)
    measured = []
    for run_id, last_day in store.runs_to_measure(through, runs_since_days):
        forecasts = store.run_forecasts(run_id, through)
        if forecasts.empty:
            continue
        keys = sorted(set(zip(forecasts["location"], forecasts["sku"], strict=True)))
        actual = demand.daily_demand(through, since=last_day + timedelta(days=1), series=keys, dense=True)
        realised = forecasts.merge(actual, on=["location", "sku", "day"], how="left")
        realised = pd.DataFrame(
            {
                "unique_id": series_ids(realised),
                "forecast": realised["forecast"],
                "effective": realised["effective"],
                "actual": realised["units"].fillna(0.0),
            }
        )
        history = demand.daily_demand(
            last_day,
            since=last_day - timedelta(days=ACCURACY_INSAMPLE_DAYS - 1),
            series=store.run_series(run_id),
            dense=True,
        )
        insample = pd.DataFrame({"unique_id": series_ids(history), "y": history["units"]})
        series = realised_accuracy(realised, insample)
        parts = series["unique_id"].str.split(SEPARATOR, n=1, expand=True)
        series.insert(0, "run_id", run_id)
        series.insert(1, "location", parts[0])
        series.insert(2, "sku", parts[1])
        series = series.drop(columns=["unique_id"])
        series["measured_at"] = now
        measured.append((run_id, series, rolled_up_accuracy(series)))
    store.store_accuracy(through, measured, now)
    return {"runs": len(measured), "through_day": through}


def decide_review(
    store: ReviewDecisions,
    audit: AuditTrail,
    run_id: str,
    location: str,
    sku: str,
    decision: Decision,
    reviewer: str,
    reason: str,
    role: str = "",
    override_daily: float | None = None,
    publish: EventPublisher | None = None,
) -> None:
    """Accept the forecast under review, or override it with a daily quantity for the run's
    horizon. With `publish`, the decision also goes into the stream as a `forecast_reviewed`
    event. Taken once: a review another decision took first is refused with
    `ReviewAlreadyDecided` (who, when)."""
    check_decision(decision, reviewer, reason, override_daily)
    item = f"the review of {location} × {sku} in run {run_id}"
    with store.deciding_review(run_id, location, sku) as review:
        if review.status is None:
            raise ReviewError("refusal.no_such_review", location=location, sku=sku, run=run_id)
        if review.status != "open":
            raise _review_taken(item, review.row)
        now = datetime.now(UTC)
        if not review.record(decision, reviewer, role, reason, now, override_daily):
            raise _review_taken(item, review.row)
        decision_id = review_event_id(run_id, location, sku)
        with recorded_first(
            audit,
            reviewer,
            f"forecast_review.{decision.value}",
            f"forecast {location} × {sku} ({run_id})",
            role,
            reason,
            {
                "run_id": run_id,
                "location": location,
                "sku": sku,
                "override_daily": override_daily,
                "decision_id": decision_id,
                "event_id": decision_id if publish is not None else None,
            },
        ):
            if publish is not None:
                publish.publish(
                    review_event(run_id, location, sku, decision, reviewer, reason, role, override_daily, now)
                )
            review.commit()


def _review_taken(item: str, row: Mapping[str, Any] | None) -> ReviewAlreadyDecided:
    if row is None or row.get("status") in (None, "open"):
        return ReviewAlreadyDecided(item, "being decided", note="another decision on it is under way")
    return ReviewAlreadyDecided(item, row["status"], row.get("reviewer"), row.get("decided_at"))


# ----------------------------------------------------------------------------- replenishment
def run_replenishment(
    store: ReplenishmentPlans,
    demand: DemandHistory,
    stock: LiveStock,
    catalog: Catalog,
    service_level: float = DEFAULT_SERVICE_LEVEL,
    review_days: int = DEFAULT_REVIEW_DAYS,
    radius_km: float = DEFAULT_RADIUS_KM,
    run_id: str | None = None,
    production: ProductionRecords | None = None,
) -> dict[str, Any]:
    """Suggest transfers and purchase orders for every location × SKU from live stock, recent
    demand (sales and issues, what recipes took) and transfers out, units on order, observed
    lead times and the latest effective forecast, the dishes' exploded into their ingredients
    (`planning_forecast_means`); store them as proposed (earlier proposals expire). With
    `production` (a company that makes things): made items become planned work orders, and the
    materials the released and planned work orders are short of are purchase orders too
    (`stockflow.services.production.with_production`)."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    approved = store.approved_purchase_orders()
    last_day = demand.last_business_day()
    if last_day is None:
        return {"series": 0, "orders": 0, "transfers": 0, "expired": 0, "seconds": 0.0}
    since, _ = demand_window(last_day)
    history = _values_by_series(
        _added_up(demand.daily_demand(last_day, since=since), demand.daily_recipe_use(since, last_day))
    )
    transfers_out = _values_by_series(demand.daily_transfers_out(since, last_day))
    lines = demand.purchase_order_lines()
    counts = stock.stock(sorted(catalog.locations))
    first_day, days = forecast_window(last_day)
    means, unexploded = planning_forecast_means(catalog, store.daily_forecasts(first_day, days))
    items = series_inputs(counts, history, transfers_out, on_order(lines, approved), means)
    result = plan(
        catalog,
        items,
        last_day,
        observed_lead_times(lines, last_day),
        service_level=service_level,
        review_days=review_days,
        radius_km=radius_km,
    )
    made: dict[str, int] = {}
    if production is not None:
        with_made = with_production(catalog, result, production, last_day)
        result = with_made.plan
        made = {
            "planned_work_orders": len(with_made.planned_orders),
            "materials_short": len(with_made.report.planned.buy),
        }
    run_id = run_id or f"replenish-{time.time_ns()}"
    stored = store.store_plan(run_id, started_at, last_day, result)
    return {
        "run_id": run_id,
        **stored,
        **made,
        "unexploded": unexploded,
        "seconds": round(time.perf_counter() - started, 2),
    }


def planning_forecast_means(
    catalog: Catalog, forecasts: Mapping[tuple[str, str, date], float]
) -> tuple[dict[SeriesKey, float], int]:
    """The daily demand replenishment plans with per location × SKU, from the daily forecasts:
    each SKU's own forecast plus what the dishes' forecasts take through their recipes, day by
    day (`stockflow.recipes.planned_demand`), averaged over the days the location's forecasts
    cover; dishes have none. And how many location × product × day forecasts could not be
    exploded (no recipe in effect: logged)."""
    planned = planned_demand(catalog, forecasts)
    covered: dict[str, set[date]] = {}
    for location, _, day in forecasts:
        covered.setdefault(location, set()).add(day)
    for location, product, day, reason in planned.unexploded[:20]:
        log.warning("forecast of %s at %s on %s not exploded: %s", product, location, day, reason)
    return daily_means(planned, {loc: len(days) for loc, days in covered.items()}), len(planned.unexploded)


def _values_by_series(frame: pd.DataFrame) -> dict[SeriesKey, list[float]]:
    """Daily units per (location, SKU), oldest first, from a frame ordered by series and day."""
    return {
        (location, sku): [float(v) for v in group["units"]]
        for (location, sku), group in frame.groupby(["location", "sku"], sort=False)
    }


def _added_up(*frames: pd.DataFrame) -> pd.DataFrame:
    """Daily units per location × SKU of several frames (location, sku, day, units) added up,
    ordered by series and day; a series runs from its earliest first day in any of them."""
    present = [f[["location", "sku", "day", "units"]] for f in frames if len(f)]
    if not present:
        return pd.DataFrame({"location": [], "sku": [], "day": [], "units": []})
    both = pd.concat(present, ignore_index=True)
    return both.groupby(["location", "sku", "day"], as_index=False, sort=True)["units"].sum()


def list_suggestions(
    store: SuggestionDecisions, status: str | None = SuggestionStatus.PROPOSED.value
) -> list[dict[str, Any]]:
    """Suggestions with this status (every one with None), transfers first, then by order-by date."""
    return store.suggestions(status)


def decide_suggestion(
    store: SuggestionDecisions,
    audit: AuditTrail,
    suggestion_id: str,
    decision: SuggestionStatus | str,
    reviewer: str,
    reason: str = "",
    role: str = "",
    publish: EventPublisher | None = None,
) -> dict[str, Any]:
    """Approve or reject a proposed suggestion; approving sends the event that carries it out
    (its purchase order or transfer). Taken once: a suggestion another decision took first is
    refused with `SuggestionAlreadyDecided` (who, when). The suggestion as stored."""
    with store.deciding_suggestion(suggestion_id) as pending:
        if pending.row is None or pending.suggestion is None:
            raise SuggestionError("refusal.no_such_suggestion", suggestion=suggestion_id)
        row = pending.row
        item = f"{row['kind']} suggestion {suggestion_id}"
        if row["status"] != SuggestionStatus.PROPOSED.value:
            raise _suggestion_taken(item, row)
        decision = check_suggestion_decision(row["status"], decision, reviewer, reason)
        now = datetime.now(UTC)
        event = None
        if decision is SuggestionStatus.APPROVED:
            if publish is None:
                raise SuggestionError("refusal.approval_needs_stream")
            event = approval_event(suggestion_id, pending.suggestion, now, reviewer)
        event_id = event.event_id if event else None
        reference = approval_reference(event) if event else None
        if not pending.record(decision, now, reviewer, role, reason, event_id, reference):
            raise _suggestion_taken(item, pending.row)
        with recorded_first(
            audit,
            reviewer,
            f"suggestion.{decision.value}",
            item,
            role,
            reason,
            {
                "location": row["location"],
                "sku": row["sku"],
                "quantity": row["quantity"],
                "decision_id": f"suggestion:{suggestion_id}",
                "event_id": event_id,
            },
        ):
            if event is not None:
                assert publish is not None
                publish.publish(event)
            return pending.commit()


def _suggestion_taken(item: str, row: Mapping[str, Any] | None) -> SuggestionAlreadyDecided:
    if row is None or row.get("status") == SuggestionStatus.PROPOSED.value:
        return SuggestionAlreadyDecided(item, "being decided", note="another decision on it is under way")
    if row["status"] == SuggestionStatus.EXPIRED.value:
        return SuggestionAlreadyDecided(
            item, row["status"], None, row.get("decided_at"), row.get("reason") or ""
        )
    return SuggestionAlreadyDecided(item, row["status"], row.get("reviewer"), row.get("decided_at"))
