"""A restaurant's demand in a real warehouse build: a dish is demanded in portions, the
ingredients its recipe took are recipe use (replenishment's history), not their own demand;
ingredients sold as they are stay their own demand."""

from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from lake import LakeWriter, event_row, movement_row
from stockflow.ledger import Ledger
from stockflow.services.planning import planning_forecast_means
from stores import warehouse
from stores.demand import open_warehouse_demand
from tests.support.restaurant import prep, refund, restaurant_catalog, stock_in, ticket

pytestmark = pytest.mark.integration

EXPIRY = date(2026, 3, 9)


def test_dish_portions_are_demand_and_their_ingredients_are_recipe_use(tmp_path):
    catalog = restaurant_catalog()
    catalog.save(tmp_path / "masterdata.json")
    events = [
        stock_in("in-flour", "FLOUR", "20000", "F1", EXPIRY),
        stock_in("in-pork", "PORK", "10000", "P1", EXPIRY),
        stock_in("in-scallion", "SCALLION", "2000", "S1", EXPIRY),
        stock_in("in-bones", "BONES", "10000", "B1", EXPIRY),
        stock_in("in-ginger", "GINGER", "1000", None, None),
        stock_in("in-tea", "TEA-LEAF", "1000", None, None),
        prep("prep-1", "4000", minutes=5),  # 4,000 ml of broth: 3,750 g of bones, 80 g of ginger
        ticket("t1", ("DUMPLINGS", "3", "portion"), ("SET-A", "2", "portion"), ("TEA-LEAF", "50", "g")),
        ticket(
            "t2", ("NOODLES", "2", "portion"), ("DUMPLINGS", "1", "portion"), channel="delivery", minutes=12
        ),
        # the delivery's dumplings cancelled before they were made: the ingredients come back
        refund("r1", "t2", ("DUMPLINGS", "1", "portion"), restock=True, channel="delivery"),
        # one dine-in dumpling sent back after it was made: still made
        refund("r2", "t1", ("DUMPLINGS", "1", "portion"), minutes=25),
    ]
    writer, ledger = LakeWriter(tmp_path / "lake", "test"), Ledger(catalog)
    for offset, event in enumerate(events):
        result = ledger.apply(event)
        topic = event.topic.value
        writer.append(topic, event_row(event, b"", topic, 0, offset, writer.next_seq()))
        for mv in result.movements:
            writer.append("inventory_changed", movement_row(mv, 0, writer.next_seq(), datetime.now(UTC)))
    writer.flush()
    built = warehouse.build(tmp_path, catalog, full=True)
    assert built.success, built.failures

    with duckdb.connect(str(warehouse.warehouse_path(tmp_path)), read_only=True) as con:
        (day,) = con.execute("SELECT DISTINCT business_date FROM fct_daily_demand").fetchall()[0]
        demand = dict(con.execute("SELECT sku_id, units FROM fct_daily_demand").fetchall())
        channels = sorted(
            con.execute("SELECT sku_id, channel, units FROM fct_daily_channel_demand").fetchall()
        )
    # 3 + 1 delivered, less the 1 cancelled untouched (the one sent back after it was made still
    # counts; the set meals' are the set meals' demand); the tea leaves sold as they are, and
    # nothing else
    assert demand == {"DUMPLINGS": 3, "SET-A": 2, "NOODLES": 2, "TEA-LEAF": 50}
    assert channels == [
        ("DUMPLINGS", "delivery", 0),
        ("DUMPLINGS", "dine_in", 3),
        ("NOODLES", "delivery", 2),
        ("SET-A", "dine_in", 2),
        ("TEA-LEAF", "dine_in", 50),
    ]

    with open_warehouse_demand(tmp_path) as warehouse_demand:
        use = warehouse_demand.daily_recipe_use(day, day)
    taken = dict(zip(use["sku"], use["units"], strict=True))
    # the dishes made: 5 dumplings (2 in the set meals) and 2 noodles (the cancelled one's ingredients came back);
    # the set meals' 2 teas; the prep's bones and ginger; the noodles' 800 ml of broth
    assert taken == {
        "FLOUR": 5 * 120 + 2 * 150,
        "PORK": 5 * 100,
        "SCALLION": 5 * 20,
        "TEA-LEAF": 2 * 3,
        "BROTH": 800,
        "BONES": 3750,
        "GINGER": 80,
    }

    # the dishes' forecasts the same day a week on: the ingredients' planned demand
    ahead = day + timedelta(days=7)
    means, unexploded = planning_forecast_means(
        catalog, {("R1", sku, ahead): float(units) for sku, units in demand.items()}
    )
    assert unexploded == 0
    assert means[("R1", "FLOUR")] == 3 * 120 + 2 * 120 + 2 * 150
    assert means[("R1", "TEA-LEAF")] == 50 + 2 * 3 and ("R1", "DUMPLINGS") not in means
