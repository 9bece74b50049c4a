"""The restaurant marts on a real build: one hand-computed day of a store's dish sales and of
its ingredients' theoretical against actual usage, and the quality check that flags a store
whose kitchen uses more than its recipes say."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import duckdb
import pytest

from expectations.checks import frames_from_warehouse, validate
from stockflow.config import Settings
from stores import warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def restaurant(editions_warehouse):
    return editions_warehouse


def rows(var, sql):
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def test_the_variance_mart_matches_a_hand_computed_day(restaurant):
    found = {
        (r["sku_id"], r["count_id"]): r
        for r in rows(restaurant, "SELECT * FROM fct_ingredient_variance WHERE location_id = 'R1'")
    }
    # only the ingredients counted twice, each count after the first
    assert set(found) == {("FLOUR", "EOD"), ("PORK", "EOD"), ("FLOUR", "LATE")}

    flour = found[("FLOUR", "EOD")]
    # recipes: dumplings 3 × 120 g, noodles 2 × 150 g, the set meal's dumplings 2 × 120 g, less
    # the refunded, untouched dumplings' 120 g given back
    theoretical = 3 * 120 + 2 * 150 + 2 * 120 - 120
    opening, received, closing = 10000, 2000, 9100 + 2000
    actual = opening + received - closing
    assert (flour["opening_qty"], flour["net_other"], flour["closing_qty"]) == (opening, received, closing)
    assert (flour["theoretical_usage"], flour["actual_usage"]) == (780, 900) == (theoretical, actual)
    assert flour["variance_qty"] == 120
    assert flour["variance_pct"] == pytest.approx(120 / 780, abs=1e-4)
    assert flour["recorded_waste"] == 0
    assert flour["variance_value"] == D("2.40")  # 120 g at 0.02
    assert flour["business_date"] == date(2026, 3, 2)

    pork = found[("PORK", "EOD")]
    # 90 g a portion at 10% loss = 100 g: 3 + 2 portions, one given back; 50 g damaged (known waste)
    assert (pork["opening_qty"], pork["net_other"], pork["closing_qty"]) == (5000, -50, 4500)
    assert (pork["theoretical_usage"], pork["actual_usage"], pork["variance_qty"]) == (400, 450, 50)
    assert pork["recorded_waste"] == 50
    assert pork["variance_pct"] == pytest.approx(0.125)
    assert pork["variance_value"] == D("2.50")

    # after the end-of-day count its difference was booked: the counts already say it, so the
    # next interval holds the one ticket (120 g) and nothing else
    late = found[("FLOUR", "LATE")]
    assert (late["opening_qty"], late["net_other"], late["closing_qty"]) == (11100, 0, 10980)
    assert (late["theoretical_usage"], late["actual_usage"], late["variance_qty"]) == (120, 120, 0)


def test_dish_sales_are_priced_net_of_vat_and_cost_their_own_ingredients(restaurant):
    found = {
        (r["dish_sku_id"], r["channel"]): r
        for r in rows(restaurant, "SELECT * FROM fct_dish_sales WHERE location_id = 'R1'")
    }
    assert set(found) == {("DUMPLINGS", "dine_in"), ("NOODLES", "dine_in"), ("SET-A", "takeout")}
    dumplings = found[("DUMPLINGS", "dine_in")]
    # sold 3 + 1 at 28.00 (84.00 → 79.25 net at 6%, 28.00 → 26.42), refunded 1 (26.42)
    assert (dumplings["portions_sold"], dumplings["portions_refunded"]) == (4, 1)
    assert dumplings["revenue_net"] == D("79.25")
    # a portion: 120 g flour at 0.02, 100 g pork at 0.05, 20 g scallion at 0.01 = 7.60
    assert dumplings["ingredient_cost"] == D("7.60") * 3
    assert dumplings["gross_margin"] == D("79.25") - D("22.80")
    set_meal = found[("SET-A", "takeout")]
    # two dumplings (15.20) and two teas (3 g tea leaves at 0.10 each: 0.60)
    assert set_meal["revenue_net"] == D("52.83")
    assert set_meal["ingredient_cost"] == D("15.80")
    noodles = found[("NOODLES", "dine_in")]
    # 300 g flour (6.00) and 800 ml of broth made of 1,875 g bones (56.25) and 40 g ginger (1.60)
    # for 2,000 ml
    assert noodles["ingredient_cost"] == D("6.00") + (D("57.85") * 800 / 2000).quantize(D("0.01"))
    assert noodles["margin_pct"] == pytest.approx(
        float((D("52.83") - noodles["ingredient_cost"]) / D("52.83")), abs=1e-4
    )


def test_a_store_above_the_variance_limit_is_flagged_and_one_below_is_not(restaurant, tmp_path):
    # R1: flour 2.40 and pork 2.50 over 38.00 of theoretical value (12.9%): flagged at 5%, not at 20%
    now = datetime(2026, 3, 3, 12, tzinfo=UTC)
    path = warehouse.warehouse_path(restaurant)
    strict = frames_from_warehouse(path, now, Settings(recipe_variance_limit=D("0.05")))
    lenient = frames_from_warehouse(path, now, Settings(recipe_variance_limit=D("0.20")))
    assert list(strict["recipe_variance"]["location_id"]) == ["R1"]
    assert not strict["recipe_variance"]["within_limit"].iloc[0]
    assert lenient["recipe_variance"]["within_limit"].iloc[0]
    flagged = validate(strict, tmp_path / "strict")
    assert any("recipe_variance" in w and "R1" in w for w in flagged.warnings), flagged.warnings
    passed = validate(lenient, tmp_path / "lenient")
    assert not any("recipe_variance" in w for w in passed.warnings), passed.warnings
    # counts older than the window are not judged
    later = frames_from_warehouse(path, now + timedelta(days=8), Settings(recipe_variance_limit=D("0.05")))
    assert later["recipe_variance"].empty
