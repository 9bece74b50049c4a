"""Learning from reviews (`stockflow.forecasting.review_outcomes`, `adapted_review_threshold`):
figures worked out by hand from the rows below."""

import math

import pandas as pd
import pytest

from stockflow.forecasting import (
    REVIEW_BELOW,
    REVIEW_THRESHOLD_BOUNDS,
    adapted_review_threshold,
    review_outcomes,
)

# reviewer, category, decision, actual, model's absolute error, effective (used) absolute error
ROWS = [
    ("王经理", "dairy", "overridden", 100.0, 40.0, 10.0),  # better
    ("王经理", "dairy", "overridden", 50.0, 20.0, 30.0),  # worse
    ("王经理", "dairy", "accepted", 80.0, 8.0, 8.0),  # accepted: not an override
    ("李会计", "snacks", "overridden", 10.0, 5.0, 5.0),  # neither
    ("李会计", "dairy", "accepted", 30.0, 3.0, 3.0),
]


def measured() -> pd.DataFrame:
    return pd.DataFrame(
        ROWS, columns=["reviewer", "category", "decision", "actual", "abs_error", "effective_error"]
    )


def test_outcomes_per_reviewer():
    out = review_outcomes(measured(), "reviewer").set_index("reviewer")
    wang = out.loc["王经理"]
    assert (wang["reviews"], wang["overrides"], wang["better"], wang["worse"]) == (3, 2, 1, 1)
    # over the two overridden series only: model (40 + 20) / 150, overrides (10 + 30) / 150
    assert wang["model_wape"] == pytest.approx(60 / 150)
    assert wang["override_wape"] == pytest.approx(40 / 150)
    li = out.loc["李会计"]
    assert (li["reviews"], li["overrides"], li["better"], li["worse"]) == (2, 1, 0, 0)
    assert li["model_wape"] == li["override_wape"] == pytest.approx(0.5)


def test_outcomes_per_category_and_a_group_without_overrides():
    rows = measured()
    rows.loc[len(rows)] = ("李会计", "frozen", "accepted", 20.0, 2.0, 2.0)
    out = review_outcomes(rows, "category").set_index("category")
    assert list(out.index) == ["dairy", "frozen", "snacks"]
    assert (out.loc["dairy", "reviews"], out.loc["dairy", "overrides"]) == (4, 2)
    assert out.loc["frozen", "overrides"] == 0
    assert math.isnan(out.loc["frozen", "model_wape"]) and math.isnan(out.loc["frozen", "override_wape"])


def test_no_measured_review_gives_an_empty_table():
    empty = measured().iloc[0:0]
    assert review_outcomes(empty, "reviewer").empty


@pytest.mark.parametrize(
    ("overrides", "better", "worse", "expected"),
    [
        (4, 4, 0, REVIEW_BELOW),  # too few to go on
        (5, 3, 1, REVIEW_BELOW + 0.05),  # 3 of 5 beat the model: more reviews
        (5, 2, 3, REVIEW_BELOW - 0.05),  # 3 of 5 made it worse: fewer reviews
        (10, 5, 5, REVIEW_BELOW),  # no consistent direction
        (10, 2, 2, REVIEW_BELOW),  # most changed nothing
    ],
)
def test_the_threshold_moves_one_step_with_consistent_evidence(overrides, better, worse, expected):
    assert adapted_review_threshold(overrides, better, worse) == pytest.approx(expected)


def test_the_threshold_stays_within_its_bounds():
    low, high = REVIEW_THRESHOLD_BOUNDS
    assert adapted_review_threshold(9, 9, 0, base=high) == high
    assert adapted_review_threshold(9, 0, 9, base=low) == low
