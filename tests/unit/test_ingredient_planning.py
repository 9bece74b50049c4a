"""Ingredient demand from dish forecasts (`stockflow.recipes.planned_demand`) and what
replenishment makes of it: the quantities below are worked out by hand from the restaurant's
recipes in tests/support/restaurant.py."""

from datetime import date, timedelta

from stockflow.recipes import planned_demand
from stockflow.replenishment import SeriesInput, StockPosition, plan
from stockflow.services.planning import planning_forecast_means
from tests.support.restaurant import DAY, recipe, restaurant_catalog


def test_dish_forecasts_explode_into_exact_grams_rounded_once_per_store_ingredient_and_day():
    # 10 dumplings, 4 set meals (dumplings and tea), 3.35 bowls of noodles (flour and broth made
    # in store from bones and ginger), and 50.5 g of tea leaves sold as they are
    forecasts = {
        ("R1", "DUMPLINGS", DAY): 10.0,
        ("R1", "SET-A", DAY): 4.0,
        ("R1", "NOODLES", DAY): 3.35,
        ("R1", "TEA-LEAF", DAY): 50.5,
    }
    planned = planned_demand(restaurant_catalog(), forecasts)
    assert planned.unexploded == []
    assert planned.demand == {
        ("R1", "FLOUR", DAY): 2183,  # 14 × 120 + 3.35 × 150 = 2,182.5
        ("R1", "PORK", DAY): 1400,  # 14 × 90 ÷ 0.9
        ("R1", "SCALLION", DAY): 280,  # 14 × 15 ÷ 0.75
        ("R1", "TEA-LEAF", DAY): 63,  # 4 × 3 in the set meals + 50.5 sold as they are
        ("R1", "BROTH", DAY): 1340,  # 3.35 × 400 ml, kept in store
        ("R1", "BONES", DAY): 1256,  # 1,340 ÷ 2,000 × 1,500 ÷ 0.8 = 1,256.25
        ("R1", "GINGER", DAY): 27,  # 1,340 ÷ 2,000 × 40 = 26.8
    }


def test_rounding_is_once_per_day_not_per_dish():
    # 0.5 g of flour sold as it is and 3.35 noodles' 502.5 g: 503 g, not 1 + 503
    planned = planned_demand(restaurant_catalog(), {("R1", "FLOUR", DAY): 0.5, ("R1", "NOODLES", DAY): 3.35})
    assert planned.demand[("R1", "FLOUR", DAY)] == 503


def test_direct_sales_of_an_ingredient_count_without_any_dish():
    planned = planned_demand(restaurant_catalog(), {("R1", "TEA-LEAF", DAY): 7.0, ("R1", "TEA", DAY): 0.0})
    assert planned.demand == {("R1", "TEA-LEAF", DAY): 7}


def test_a_store_variant_changes_that_store_s_demand_only_from_its_first_day():
    catalog = restaurant_catalog()
    variant = recipe(
        "DUMPLINGS",
        ("FLOUR", "100"),
        ("PORK", "90", "0.1"),
        store="R2",
        effective_from=DAY + timedelta(days=1),
    )
    catalog.recipes[variant.key] = variant
    later = DAY + timedelta(days=1)
    forecasts = {(store, "DUMPLINGS", day): 10.0 for store in ("R1", "R2") for day in (DAY, later)}
    demand = planned_demand(catalog, forecasts).demand
    assert {k: v for k, v in demand.items() if k[1] == "FLOUR"} == {
        ("R1", "FLOUR", DAY): 1200,
        ("R1", "FLOUR", later): 1200,
        ("R2", "FLOUR", DAY): 1200,  # the common recipe until the variant's first day
        ("R2", "FLOUR", later): 1000,
    }
    assert ("R2", "SCALLION", later) not in demand and demand[("R1", "SCALLION", later)] == 200


def test_a_bought_semi_finished_item_is_not_exploded_and_a_dish_without_a_recipe_is_listed():
    catalog = restaurant_catalog()
    catalog.skus["BROTH"] = catalog.skus["BROTH"].model_copy(update={"supplier": "FARM"})
    before = DAY - timedelta(days=1)  # no recipe is in effect yet
    planned = planned_demand(catalog, {("R1", "NOODLES", DAY): 5.0, ("R1", "DUMPLINGS", before): 2.0})
    assert planned.demand == {("R1", "FLOUR", DAY): 750, ("R1", "BROTH", DAY): 2000}
    assert planned.unexploded == [("R1", "DUMPLINGS", before, "no_recipe")]


def test_replenishment_plans_an_ingredient_with_its_exploded_mean_and_never_buys_a_dish():
    catalog = restaurant_catalog()
    # a dish with a supplier and a reorder point still is never kept, so never bought
    catalog.skus["DUMPLINGS"] = catalog.skus["DUMPLINGS"].model_copy(
        update={"supplier": "FARM", "reorder_point": 50}
    )
    days = [DAY + timedelta(days=i) for i in range(14)]
    forecasts = {("R1", "DUMPLINGS", d): 10.0 for d in days}
    forecasts.update({("R1", "TEA-LEAF", d): 3.0 if i % 2 else 0.0 for i, d in enumerate(days)})
    means, unexploded = planning_forecast_means(catalog, forecasts)
    assert unexploded == 0
    assert means == {
        ("R1", "FLOUR"): 1200.0,
        ("R1", "PORK"): 1000.0,
        ("R1", "SCALLION"): 200.0,
        ("R1", "TEA-LEAF"): 1.5,
    }
    items = [
        SeriesInput("R1", "DUMPLINGS", [10.0] * 7, StockPosition(0), 10.0),
        SeriesInput("R1", "FLOUR", [1200.0] * 7, StockPosition(0), means[("R1", "FLOUR")]),
    ]
    result = plan(catalog, items, DAY + timedelta(days=-1))
    assert [s.sku for s in result.series] == ["FLOUR"]
    assert [(o.sku, o.supplier) for o in result.orders] == [("FLOUR", "FARM")]
    assert result.orders[0].quantity >= 1200 * 7  # a review period of the exploded demand at least


def test_half_a_gram_rounds_up():
    assert planned_demand(restaurant_catalog(), {("R1", "TEA", date(2026, 3, 1)): 0.5}).demand == {
        ("R1", "TEA-LEAF", date(2026, 3, 1)): 2  # 1.5 rounded half up
    }
