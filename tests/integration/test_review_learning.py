"""Learning from reviews on the planning store (DuckDB, no stream): reviews decided through the
use case and measured against what happened move their categories' review thresholds, and the
next run sends its forecasts to review under them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from stockflow.forecasting import REVIEW_BELOW, Decision, ForecastResult
from stockflow.services.planning import (
    decide_review,
    learn_from_reviews,
    record_forecasts,
    with_review_thresholds,
)
from stores.audit_log import AuditLog
from stores.planning import Planning

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 31)
CATEGORIES = {f"MILK-{i}": "dairy" for i in range(6)} | {f"CHIPS-{i}": "snacks" for i in range(6)}
CATEGORIES |= {"SOAP-1": "household"}


def result(confidence: dict[str, float]) -> ForecastResult:
    """A run of one day ahead per SKU at store S1, with these confidences."""
    ids = [f"S1|{sku}" for sku in confidence]
    forecasts = pd.DataFrame(
        {
            "unique_id": ids,
            "ds": pd.Timestamp(DAY) + pd.Timedelta(days=1),
            "forecast": 10.0,
            "lo80": 5.0,
            "hi80": 15.0,
            "lo95": 2.0,
            "hi95": 18.0,
        }
    )
    series = pd.DataFrame(
        {
            "unique_id": ids,
            "pattern": "smooth",
            "model": "AutoETS",
            "backtest_wape": 0.3,
            "backtest_mase": 0.8,
            "backtest_bias": 0.0,
            "naive_wape": 0.4,
            "weekly_wape": 0.2,
            "confidence": list(confidence.values()),
        }
    )
    series["needs_review"] = series["confidence"] < REVIEW_BELOW
    return ForecastResult(forecasts, series, pd.DataFrame())


def measured(planning: Planning, run_id: str, errors: dict[str, tuple[float, float]]) -> None:
    """What happened since: the model's and the used forecast's absolute error per SKU, of 100
    units sold (written as the accuracy measure stores them)."""
    rows = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "location": "S1",
                "sku": sku,
                "days": 7,
                "actual": 100.0,
                "forecast": 100.0,
                "abs_error": model,
                "signed_error": 0.0,
                "effective_error": used,
                "wape": model / 100,
                "bias": 0.0,
                "mase": 1.0,
                "effective_wape": used / 100,
                "measured_at": datetime.now(UTC),
            }  # fmt: skip
            for sku, (model, used) in errors.items()
        ]
    )
    total = {"series": len(rows), "actual": 100.0 * len(rows), "wape": 0.1, "bias": 0.0}
    planning.store_accuracy(
        DAY, [(run_id, rows, total | {"effective_wape": 0.1, "median_mase": 1.0})], datetime.now(UTC)
    )


def test_measured_overrides_move_their_categories_thresholds_for_the_next_run(tmp_path):
    planning, audit = Planning(tmp_path), AuditLog(tmp_path)
    first = result({sku: 0.5 for sku in CATEGORIES})  # every forecast goes to review
    record_forecasts(planning, "run-1", datetime.now(UTC), DAY, 1, first)
    for sku in CATEGORIES:
        if sku == "SOAP-1":
            decide_review(planning, audit, "run-1", "S1", sku, Decision.ACCEPTED, "李会计", "looks right")
            continue
        reviewer = "王经理" if sku.startswith("MILK") else "李会计"
        decide_review(
            planning,
            audit,
            "run-1",
            "S1",
            sku,
            Decision.OVERRIDDEN,
            reviewer,
            "promotion",
            override_daily=12.0,
        )
    # the dairy overrides beat the model five times of six; the snack ones lost four of six
    errors = {f"MILK-{i}": (30.0, 10.0) for i in range(5)} | {"MILK-5": (10.0, 20.0)}
    errors |= {f"CHIPS-{i}": (10.0, 25.0) for i in range(4)} | {f"CHIPS-{i}": (20.0, 5.0) for i in (4, 5)}
    measured(planning, "run-1", errors | {"SOAP-1": (5.0, 5.0)})

    learning = learn_from_reviews(planning, CATEGORIES)
    by_reviewer = learning.by_reviewer.set_index("reviewer")
    assert by_reviewer.loc["王经理", ["reviews", "overrides", "better", "worse"]].tolist() == [6, 6, 5, 1]
    assert by_reviewer.loc["李会计", ["reviews", "overrides", "better", "worse"]].tolist() == [7, 6, 2, 4]
    # 王经理: model (5 × 30 + 10) / 600, overrides (5 × 10 + 20) / 600
    assert by_reviewer.loc["王经理", "model_wape"] == pytest.approx(160 / 600)
    assert by_reviewer.loc["王经理", "override_wape"] == pytest.approx(70 / 600)
    thresholds = learning.by_category.set_index("category")["threshold"].to_dict()
    assert thresholds == pytest.approx({"dairy": 0.90, "household": REVIEW_BELOW, "snacks": 0.80})

    # the next run: the same confidence is reviewed for dairy, not for snacks, as before elsewhere
    adapted = learning.thresholds(CATEGORIES)
    assert set(adapted) == {s for s in CATEGORIES if s != "SOAP-1"}
    second = result({"MILK-0": 0.87, "CHIPS-0": 0.82, "SOAP-1": 0.84})
    record_forecasts(planning, "run-2", datetime.now(UTC), DAY, 1, with_review_thresholds(second, adapted))
    assert {r["sku"] for r in planning.open_reviews("run-2")} == {"MILK-0", "SOAP-1"}


def test_without_measured_reviews_nothing_moves(tmp_path):
    planning = Planning(tmp_path)
    record_forecasts(planning, "run-1", datetime.now(UTC), DAY, 1, result({"MILK-0": 0.5}))
    learning = learn_from_reviews(planning, CATEGORIES)
    assert learning.by_reviewer.empty and learning.thresholds(CATEGORIES) == {}
