"""The planning store (`var/planning.duckdb`): forecast runs, their forecasts, the review queue,
and replenishment suggestions.

A forecast run stores, per location × SKU, the daily forecast with its intervals and the series'
model, backtest and confidence; the same per sales channel where a store sells a SKU through
several (`channel_forecasts`, `channel_series`: for the dashboard, not reviewed). Forecasts
under the review threshold open a review (置信度<85% 人工复核). A reviewer accepts the forecast
or overrides it with a daily quantity of their own, with a reason; `effective_forecasts` is what
planning then uses: the override for that run's horizon where there is one, else the forecast.

Forecast accuracy is measured again as demand happens: per run and series against the days
elapsed (`forecast_accuracy`), and rolled up per run (`forecast_accuracy_runs`), what the
dashboard reads next to the backtest scores.

A replenishment run stores its suggestions (purchase orders and transfers) as ``proposed`` and
expires the proposals of earlier runs. A person approves one (the event that carries it out is
produced, and its id kept) or rejects it with a reason.

This module is persistence only, the adapter behind the planning use cases' ports
(`stockflow.services.planning`): they decide, measure and plan; this stores and reads. A
decision is taken in a decision unit (`deciding_review`, `deciding_suggestion`) that holds the
store's writer lock from reading the item's status until it commits or rolls back; the decision
itself is a conditional update (`... WHERE status = 'open'` / `'proposed'`) whose row count
says whether it took the item, so two decisions on one item never both go through, whichever
process or connection they come from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from stockflow.forecasting import SEPARATOR, Decision, ForecastResult
from stockflow.replenishment import (
    ApprovedOrder,
    OrderSuggestion,
    Plan,
    SuggestionStatus,
    TransferSuggestion,
)
from stores import duck

_DDL = """
CREATE TABLE IF NOT EXISTS forecast_runs (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL,
    last_day DATE, horizon INTEGER NOT NULL, series INTEGER NOT NULL, to_review INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forecasts (
    run_id VARCHAR NOT NULL, location VARCHAR NOT NULL, sku VARCHAR NOT NULL, day DATE NOT NULL,
    forecast DOUBLE NOT NULL, lo80 DOUBLE, hi80 DOUBLE, lo95 DOUBLE, hi95 DOUBLE,
    PRIMARY KEY (run_id, location, sku, day)
);
CREATE TABLE IF NOT EXISTS forecast_series (
    run_id VARCHAR NOT NULL, location VARCHAR NOT NULL, sku VARCHAR NOT NULL, pattern VARCHAR,
    model VARCHAR NOT NULL, backtest_wape DOUBLE, backtest_mase DOUBLE, backtest_bias DOUBLE,
    naive_wape DOUBLE, weekly_wape DOUBLE, confidence DOUBLE NOT NULL, needs_review BOOLEAN NOT NULL,
    PRIMARY KEY (run_id, location, sku)
);
CREATE TABLE IF NOT EXISTS channel_forecasts (
    run_id VARCHAR NOT NULL, location VARCHAR NOT NULL, sku VARCHAR NOT NULL, channel VARCHAR NOT NULL,
    day DATE NOT NULL, forecast DOUBLE NOT NULL, lo80 DOUBLE, hi80 DOUBLE, lo95 DOUBLE, hi95 DOUBLE,
    PRIMARY KEY (run_id, location, sku, channel, day)
);
CREATE TABLE IF NOT EXISTS channel_series (
    run_id VARCHAR NOT NULL, location VARCHAR NOT NULL, sku VARCHAR NOT NULL, channel VARCHAR NOT NULL,
    pattern VARCHAR, model VARCHAR NOT NULL, backtest_wape DOUBLE, backtest_mase DOUBLE,
    backtest_bias DOUBLE, naive_wape DOUBLE, weekly_wape DOUBLE, confidence DOUBLE NOT NULL,
    PRIMARY KEY (run_id, location, sku, channel)
);
CREATE TABLE IF NOT EXISTS reviews (
    run_id VARCHAR NOT NULL, location VARCHAR NOT NULL, sku VARCHAR NOT NULL,
    status VARCHAR NOT NULL, confidence DOUBLE NOT NULL, opened_at TIMESTAMPTZ NOT NULL,
    reviewer VARCHAR, role VARCHAR, reason VARCHAR, decided_at TIMESTAMPTZ, override_daily DOUBLE,
    PRIMARY KEY (run_id, location, sku)
);
CREATE TABLE IF NOT EXISTS suggestions (
    suggestion_id VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    location VARCHAR NOT NULL, sku VARCHAR NOT NULL, supplier VARCHAR, from_location VARCHAR,
    batch VARCHAR, expiry DATE, distance_km DOUBLE, quantity BIGINT NOT NULL, order_by DATE,
    expected_arrival DATE, inventory_position BIGINT, reorder_point BIGINT, safety_stock DOUBLE,
    status VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, decided_at TIMESTAMPTZ,
    reviewer VARCHAR, role VARCHAR, reason VARCHAR, event_id VARCHAR, reference VARCHAR
);
CREATE TABLE IF NOT EXISTS replenishment_runs (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL,
    business_date DATE NOT NULL, series INTEGER NOT NULL, orders INTEGER NOT NULL,
    transfers INTEGER NOT NULL, expired INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forecast_accuracy (
    run_id VARCHAR NOT NULL, location VARCHAR NOT NULL, sku VARCHAR NOT NULL, days INTEGER NOT NULL,
    actual DOUBLE, forecast DOUBLE, abs_error DOUBLE, signed_error DOUBLE, effective_error DOUBLE,
    wape DOUBLE, bias DOUBLE, mase DOUBLE, effective_wape DOUBLE, measured_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, location, sku)
);
CREATE TABLE IF NOT EXISTS forecast_accuracy_runs (
    run_id VARCHAR PRIMARY KEY, through_day DATE NOT NULL, series INTEGER NOT NULL, actual DOUBLE,
    wape DOUBLE, bias DOUBLE, effective_wape DOUBLE, median_mase DOUBLE, measured_at TIMESTAMPTZ NOT NULL
);
CREATE OR REPLACE VIEW effective_forecasts AS
SELECT f.run_id, f.location, f.sku, f.day,
       coalesce(r.override_daily, f.forecast) AS forecast,
       r.override_daily IS NOT NULL AS overridden,
       f.forecast AS model_forecast, f.lo80, f.hi80, f.lo95, f.hi95
FROM forecasts AS f
LEFT JOIN reviews AS r
  ON r.run_id = f.run_id AND r.location = f.location AND r.sku = f.sku AND r.status = 'overridden';
"""


class Planning:
    """The planning store, behind the planning use cases' ports (`stockflow.services.planning`)."""

    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / "planning.duckdb"

    def connect(self, read_only: bool = False, timeout: float = 60.0):  # noqa: ANN201
        return duck.connect(self.path, _DDL, read_only, timeout)

    # ------------------------------------------------------------ forecasts and reviews
    def store_run(
        self, run_id: str, started_at: datetime, last_day: Any, horizon: int, result: ForecastResult
    ) -> dict[str, int]:
        """One forecast run, its forecasts and series, and a review opened for each forecast under
        the threshold (one transaction)."""
        now = datetime.now(UTC)
        forecasts = _split_ids(result.forecasts).rename(columns={"ds": "day"})
        forecasts.insert(0, "run_id", run_id)
        forecasts["day"] = pd.to_datetime(forecasts["day"]).dt.date
        series = _split_ids(result.series)
        series.insert(0, "run_id", run_id)
        # series per sales channel (location|sku|channel) are stored apart and not reviewed
        by_channel_forecasts = forecasts[forecasts["channel"].notna()]
        by_channel_series = series[series["channel"].notna()].reindex(
            columns=["run_id", "location", "sku", "channel", *_SERIES_COLUMNS]
        )
        forecasts = forecasts[forecasts["channel"].isna()]
        series = series[series["channel"].isna()]
        columns = ["run_id", "location", "sku", *_SERIES_COLUMNS, "needs_review"]
        series = series.reindex(columns=columns)
        reviews = series[series["needs_review"]][["run_id", "location", "sku", "confidence"]]
        with self.connect() as con:
            con.execute("BEGIN")
            con.register("new_forecasts", forecasts)
            con.execute(
                "INSERT INTO forecasts SELECT run_id, location, sku, day, forecast, lo80, hi80, lo95, hi95"
                " FROM new_forecasts"
            )
            con.register("new_series", series)
            con.execute(f"INSERT INTO forecast_series SELECT {', '.join(columns)} FROM new_series")
            con.register("new_reviews", reviews)
            con.execute(
                "INSERT INTO reviews (run_id, location, sku, status, confidence, opened_at)"
                " SELECT run_id, location, sku, 'open', confidence, ? FROM new_reviews",
                [now],
            )
            con.register("new_channel_forecasts", by_channel_forecasts)
            con.execute(
                "INSERT INTO channel_forecasts SELECT run_id, location, sku, channel, day, forecast,"
                " lo80, hi80, lo95, hi95 FROM new_channel_forecasts"
            )
            con.register("new_channel_series", by_channel_series)
            con.execute(
                "INSERT INTO channel_series SELECT run_id, location, sku, channel, pattern, model,"
                " backtest_wape, backtest_mase, backtest_bias, naive_wape, weekly_wape, confidence"
                " FROM new_channel_series"
            )
            con.execute(
                "INSERT INTO forecast_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [run_id, started_at, now, last_day, horizon, len(series), len(reviews)],
            )
            con.execute("COMMIT")
        return {
            "series": len(series),
            "forecast_days": len(forecasts),
            "to_review": len(reviews),
            "channel_series": len(by_channel_series),
        }

    def open_reviews(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Reviews waiting for a person, lowest confidence first."""
        with self.connect(read_only=True) as con:
            run_id = run_id or self.latest_run(con)
            rows = con.execute(
                "SELECT location, sku, confidence, opened_at FROM reviews"
                " WHERE run_id = ? AND status = 'open' ORDER BY confidence, location, sku",
                [run_id],
            ).fetchall()
        return [
            {"run_id": run_id, "location": r[0], "sku": r[1], "confidence": r[2], "opened_at": r[3]}
            for r in rows
        ]

    @contextmanager
    def deciding_review(self, run_id: str, location: str, sku: str) -> Iterator[PendingReview]:
        """The review under the writer's lock (one decision at a time); what is not committed
        when the context ends is rolled back."""
        with self.connect() as con:
            pending = PendingReview(con, run_id, location, sku)
            try:
                yield pending
            finally:
                pending.rollback_unless_committed()

    def effective_forecast(
        self, location: str, sku: str, run_id: str | None = None
    ) -> list[tuple[Any, float, bool]]:
        """(day, forecast, overridden) for the series in the run (the latest by default)."""
        with self.connect(read_only=True) as con:
            run_id = run_id or self.latest_run(con)
            return [
                (r[0], r[1], r[2])
                for r in con.execute(
                    "SELECT day, forecast, overridden FROM effective_forecasts"
                    " WHERE run_id = ? AND location = ? AND sku = ? ORDER BY day",
                    [run_id, location, sku],
                ).fetchall()
            ]

    # ------------------------------------------------------------ forecast accuracy
    def runs_to_measure(self, through: date, since_days: int) -> list[tuple[str, date]]:
        """(run id, last day) of the runs whose last day is before `through`, at most
        `since_days` days before it."""
        with self.connect(read_only=True) as con:
            return [
                (r[0], r[1])
                for r in con.execute(
                    "SELECT run_id, last_day FROM forecast_runs"
                    " WHERE last_day < ? AND last_day >= CAST(? AS DATE) - ? ORDER BY started_at",
                    [through, through, since_days],
                ).fetchall()
            ]

    def run_forecasts(self, run_id: str, through: date) -> pd.DataFrame:
        """The run's location × SKU forecasts up to `through`: location, sku, day, forecast, and
        effective (the override where a reviewer gave one)."""
        with self.connect(read_only=True) as con:
            frame = con.execute(
                "SELECT location, sku, day, model_forecast AS forecast, forecast AS effective"
                " FROM effective_forecasts WHERE run_id = ? AND day <= ? ORDER BY location, sku, day",
                [run_id, through],
            ).df()
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
        return frame

    def run_series(self, run_id: str) -> list[tuple[str, str]]:
        """The run's location × SKU series."""
        with self.connect(read_only=True) as con:
            return [
                (r[0], r[1])
                for r in con.execute(
                    "SELECT location, sku FROM forecast_series WHERE run_id = ? ORDER BY 1, 2", [run_id]
                ).fetchall()
            ]

    def measured_reviews(self) -> pd.DataFrame:
        """Every decided review measured against the demand since (`ReviewHistory`)."""
        columns = [
            "run_id",
            "location",
            "sku",
            "reviewer",
            "decision",
            "actual",
            "abs_error",
            "effective_error",
        ]
        if not self.path.exists():
            return pd.DataFrame(columns=columns)
        with self.connect(read_only=True) as con:
            return con.execute(
                "SELECT r.run_id, r.location, r.sku, r.reviewer, r.status AS decision, a.actual,"
                " a.abs_error, a.effective_error FROM reviews AS r JOIN forecast_accuracy AS a"
                " USING (run_id, location, sku) WHERE r.status IN ('accepted', 'overridden')"
                " ORDER BY r.run_id, r.location, r.sku"
            ).df()

    def store_accuracy(
        self, through: date, measured: Sequence[tuple[str, pd.DataFrame, Mapping[str, Any]]], at: datetime
    ) -> None:
        """Per run: its series' accuracy and the roll-up, replacing earlier measures of the run
        (one transaction)."""
        with self.connect() as con:
            con.execute("BEGIN")
            for run_id, series, total in measured:
                con.execute("DELETE FROM forecast_accuracy WHERE run_id = ?", [run_id])
                con.register("new_accuracy", series)
                con.execute(
                    "INSERT INTO forecast_accuracy SELECT run_id, location, sku, days, actual, forecast,"
                    " abs_error, signed_error, effective_error, wape, bias, mase, effective_wape, measured_at"
                    " FROM new_accuracy"
                )
                con.unregister("new_accuracy")
                con.execute(
                    "INSERT OR REPLACE INTO forecast_accuracy_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, through, total["series"], total["actual"], total["wape"], total["bias"],
                     total["effective_wape"], total["median_mase"], at],
                )  # fmt: skip
            con.execute("COMMIT")

    # ------------------------------------------------------------ replenishment
    def daily_forecasts(self, first_day: Any, days: int) -> dict[tuple[str, str, Any], float]:
        """The effective forecast per location × SKU × day over `days` days from `first_day`,
        from the latest forecast run (empty without one)."""
        if not self.path.exists():
            return {}
        with self.connect(read_only=True) as con:
            run_id = self.latest_run(con)
            rows = con.execute(
                "SELECT location, sku, day, forecast FROM effective_forecasts WHERE run_id = ?"
                " AND day >= ? AND day < CAST(? AS DATE) + ?",
                [run_id, first_day, first_day, days],
            ).fetchall()
        return {(r[0], r[1], r[2]): float(r[3]) for r in rows}

    def store_plan(self, run_id: str, started_at: datetime, business_date: Any, plan: Plan) -> dict[str, int]:
        """A replenishment run's suggestions, proposed; earlier proposals expire (one transaction)."""
        now = datetime.now(UTC)
        rows = [
            _suggestion_row(f"{run_id}-{i:05d}", run_id, s, now)
            for i, s in enumerate([*plan.transfers, *plan.orders])
        ]
        columns = list(_SUGGESTION_COLUMNS)
        with self.connect() as con:
            con.execute("BEGIN")
            expired = con.execute(
                "UPDATE suggestions SET status = 'expired', decided_at = ?,"
                " reason = 'replaced by run ' || ? WHERE status = 'proposed'",
                [now, run_id],
            ).fetchall()[0][0]
            if rows:
                con.register("new_suggestions", pd.DataFrame(rows, columns=columns))
                con.execute(f"INSERT INTO suggestions ({', '.join(columns)}) SELECT * FROM new_suggestions")
            con.execute(
                "INSERT INTO replenishment_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    started_at,
                    now,
                    business_date,
                    len(plan.series),
                    len(plan.orders),
                    len(plan.transfers),
                    expired,
                ],
            )
            con.execute("COMMIT")
        return {
            "series": len(plan.series),
            "orders": len(plan.orders),
            "transfers": len(plan.transfers),
            "expired": expired,
        }

    def suggestions(self, status: str | None = SuggestionStatus.PROPOSED.value) -> list[dict[str, Any]]:
        """Suggestions with this status (all with None), transfers first, then by order-by date."""
        with self.connect(read_only=True) as con:
            cursor = con.execute(
                "SELECT * FROM suggestions WHERE ? IS NULL OR status = ?"
                " ORDER BY kind DESC, order_by NULLS FIRST, location, sku, suggestion_id",
                [status, status],
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def approved_purchase_orders(self) -> list[ApprovedOrder]:
        """The purchase order of every approved purchase suggestion."""
        if not self.path.exists():
            return []
        with self.connect(read_only=True) as con:
            return [
                ApprovedOrder(r[0], r[1], r[2], int(r[3]))
                for r in con.execute(
                    "SELECT reference, location, sku, quantity FROM suggestions"
                    " WHERE kind = 'purchase' AND status = 'approved'"
                ).fetchall()
            ]

    @contextmanager
    def deciding_suggestion(self, suggestion_id: str) -> Iterator[PendingSuggestion]:
        """The suggestion under the writer's lock (one decision at a time); what is not
        committed when the context ends is rolled back."""
        with self.connect() as con:
            pending = PendingSuggestion(con, suggestion_id)
            try:
                yield pending
            finally:
                pending.rollback_unless_committed()

    @staticmethod
    def latest_run(con: Any) -> str | None:
        row = con.execute("SELECT run_id FROM forecast_runs ORDER BY started_at DESC LIMIT 1").fetchall()
        return row[0][0] if row else None


class _Pending:
    """A decision's transaction on a writer's connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._open = False

    def _begin(self) -> None:
        self.con.begin()
        self._open = True

    def _commit(self) -> None:
        self.con.commit()
        self._open = False

    def rollback_unless_committed(self) -> None:
        if self._open:
            self._open = False
            self.con.rollback()

    def _claim(self, sql: str, params: list[Any]) -> bool:
        """Run a conditional update in a new transaction: True where it changed exactly one row.
        Otherwise (none left to change, or a concurrent transaction's conflicting write) it is
        rolled back: False."""
        self._begin()
        try:
            changed = self.con.execute(sql, params).fetchall()[0][0]
        except duckdb.TransactionException:
            changed = 0
        if changed != 1:
            self.rollback_unless_committed()
            return False
        return True


class PendingReview(_Pending):
    """A review being decided (`status` None: there is no such review)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str, location: str, sku: str) -> None:
        super().__init__(con)
        self.key = [run_id, location, sku]
        self.row = self._row()

    @property
    def status(self) -> str | None:
        return self.row["status"] if self.row else None

    def _row(self) -> dict[str, Any] | None:
        rows = self.con.execute(
            "SELECT status, reviewer, decided_at FROM reviews WHERE run_id = ? AND location = ? AND sku = ?",
            self.key,
        ).fetchall()
        return dict(zip(("status", "reviewer", "decided_at"), rows[0], strict=True)) if rows else None

    def record(
        self,
        decision: Decision,
        reviewer: str,
        role: str,
        reason: str,
        decided_at: datetime,
        override_daily: float | None,
    ) -> bool:
        taken = self._claim(
            "UPDATE reviews SET status = ?, reviewer = ?, role = ?, reason = ?, decided_at = ?,"
            " override_daily = ? WHERE run_id = ? AND location = ? AND sku = ? AND status = 'open'",
            [Decision(decision).value, reviewer, role, reason, decided_at, override_daily, *self.key],
        )
        if not taken:
            self.row = self._row()
        return taken

    def commit(self) -> None:
        self._commit()


class PendingSuggestion(_Pending):
    """A suggestion being decided (`row` and `suggestion` None: there is no such suggestion)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, suggestion_id: str) -> None:
        super().__init__(con)
        self.suggestion_id = suggestion_id
        self.row = self._row()
        self.suggestion = _suggestion_from_row(self.row) if self.row else None

    def _row(self) -> dict[str, Any] | None:
        cursor = self.con.execute("SELECT * FROM suggestions WHERE suggestion_id = ?", [self.suggestion_id])
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        return dict(zip(names, rows[0], strict=True)) if rows else None

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
        taken = self._claim(
            "UPDATE suggestions SET status = ?, decided_at = ?, reviewer = ?, role = ?, reason = ?,"
            " event_id = ?, reference = ? WHERE suggestion_id = ? AND status = 'proposed'",
            [SuggestionStatus(status).value, decided_at, reviewer, role, reason, event_id, reference,
             self.suggestion_id],
        )  # fmt: skip
        if not taken:
            self.row = self._row()
        return taken

    def commit(self) -> dict[str, Any]:
        self._commit()
        row = self._row()
        assert row is not None
        return row


def _split_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """location|sku[|channel] ids into columns (channel None for a location × SKU series)."""
    frame = frame.copy()
    parts = frame["unique_id"].str.split(SEPARATOR, n=2, expand=True).reindex(columns=[0, 1, 2])
    frame.insert(0, "location", parts[0])
    frame.insert(1, "sku", parts[1])
    frame.insert(2, "channel", parts[2])
    return frame.drop(columns=["unique_id"])


_SERIES_COLUMNS = (
    "pattern", "model", "backtest_wape", "backtest_mase", "backtest_bias", "naive_wape",
    "weekly_wape", "confidence",
)  # fmt: skip
_SUGGESTION_COLUMNS = (
    "suggestion_id", "run_id", "kind", "location", "sku", "supplier", "from_location", "batch",
    "expiry", "distance_km", "quantity", "order_by", "expected_arrival", "inventory_position",
    "reorder_point", "safety_stock", "status", "created_at",
)  # fmt: skip


def _suggestion_row(
    suggestion_id: str, run_id: str, s: OrderSuggestion | TransferSuggestion, now: datetime
) -> tuple[Any, ...]:
    if isinstance(s, TransferSuggestion):
        return (
            suggestion_id, run_id, "transfer", s.to_location, s.sku, None, s.from_location, s.batch,
            s.expiry, s.distance_km, s.quantity, None, None, None, None, None, "proposed", now,
        )  # fmt: skip
    return (
        suggestion_id, run_id, "purchase", s.location, s.sku, s.supplier, None, None, None, None,
        s.quantity, s.order_by, s.expected_arrival, s.inventory_position, s.reorder_point,
        s.safety_stock, "proposed", now,
    )  # fmt: skip


def _suggestion_from_row(row: Mapping[str, Any]) -> OrderSuggestion | TransferSuggestion:
    if row["kind"] == "transfer":
        return TransferSuggestion(
            row["sku"], row["from_location"], row["location"], row["batch"] or "", int(row["quantity"]),
            row["distance_km"], row["expiry"],
        )  # fmt: skip
    return OrderSuggestion(
        row["location"], row["sku"], row["supplier"], int(row["quantity"]), row["order_by"],
        row["expected_arrival"], row["inventory_position"], row["reorder_point"], row["safety_stock"],
    )  # fmt: skip
