"""The Dishes and Recipe variance pages under Streamlit's AppTest, over store R1's built day
(tests/support/restaurant_lake.py) and over a warehouse whose restaurant marts are empty."""

import duckdb
import pytest

from stockflow.i18n import Language, catalogue
from stockflow.masking import Role
from tests.integration.test_dashboards import page

pytestmark = pytest.mark.integration
EN, ZH = catalogue(Language.EN), catalogue(Language.ZH_CN)


@pytest.fixture(scope="module")
def restaurant(editions_warehouse):
    return editions_warehouse


@pytest.fixture
def env(restaurant, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(restaurant))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    return restaurant


def marts(var, sql):
    with duckdb.connect(str(var / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_dishes_page_shows_margins_per_dish_and_channel(env):
    at = page(Role.FINANCE, "pages/dishes.py")
    assert at.title[0].value == EN["page.dishes"]
    ((revenue, margin),) = marts(env, "SELECT sum(revenue_net), sum(gross_margin) FROM fct_dish_sales")
    metrics = {m.label: m.value for m in at.metric}
    assert f"{revenue:,.2f}" in metrics[EN["dishes.revenue"]]
    assert f"{margin:,.2f}" in metrics[EN["dishes.margin"]]
    per_dish = at.table[0].value
    assert per_dish.index.name == EN["column.dish_sku_id"]
    # the largest margin first; each dish's margin as the mart sums it
    by_mart = marts(
        env, "SELECT dish_sku_id, sum(gross_margin) FROM fct_dish_sales GROUP BY 1 ORDER BY 2 DESC"
    )
    assert list(per_dish.index) == [d for d, _ in by_mart]
    for dish, value in by_mart:
        assert float(per_dish.loc[dish, EN["column.gross_margin"]]) == pytest.approx(float(value))
    per_channel = at.table[-1].value
    assert set(per_channel.index) == {EN["dishes.channel.dine_in"], EN["dishes.channel.takeout"]}
    assert [s.value for s in at.subheader] == [
        EN["dishes.by_dish"],
        EN["dishes.top"],
        EN["dishes.bottom"],
        EN["dishes.by_channel"],
    ]


def test_the_recipe_variance_page_marks_a_store_above_the_limit(env, monkeypatch):
    at = page(Role.WAREHOUSE, "pages/recipe_variance.py")
    assert at.title[0].value == EN["page.recipe_variance"]
    # R1: 4.90 of variance over 38.00 of theoretical usage (12.9%), above the 5% limit
    assert [w.value for w in at.warning] == [EN["variance.flagged"].format(stores="R1", limit="5.0%")]
    assert {m.label: m.value for m in at.metric}["R1"] == "12.9%"
    shown = at.dataframe[0].value
    assert len(shown) == marts(env, "SELECT count(*) FROM fct_ingredient_variance")[0][0] == 3
    assert set(shown[EN["column.sku_id"]]) == {"FLOUR", "PORK"}
    # a lenient limit: every store within it
    monkeypatch.setenv("STOCKFLOW_RECIPE_VARIANCE_LIMIT", "0.2")
    at = page(Role.WAREHOUSE, "pages/recipe_variance.py")
    assert not at.warning and [s.value for s in at.success] == [EN["variance.within"].format(limit="20.0%")]


def test_both_pages_speak_chinese(env, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "zh_CN")
    at = page(Role.MANAGER, "pages/dishes.py")
    assert at.title[0].value == ZH["page.dishes"]
    assert ZH["dishes.channel.dine_in"] in set(at.table[-1].value.index)
    at = page(Role.MANAGER, "pages/recipe_variance.py")
    assert at.title[0].value == ZH["page.recipe_variance"]
    assert ZH["column.theoretical_usage"] in at.dataframe[0].value.columns


@pytest.mark.parametrize("language", [Language.EN, Language.ZH_CN])
def test_without_restaurant_data_each_page_says_so(restaurant, tmp_path, monkeypatch, language):
    """A company that sells no dishes: the marts are there and empty."""
    var = tmp_path / "var"
    (var / "warehouse").mkdir(parents=True)
    (var / "masterdata.json").write_bytes((restaurant / "masterdata.json").read_bytes())
    with duckdb.connect(str(var / "warehouse" / "warehouse.duckdb")) as con:
        con.execute(f"ATTACH '{restaurant / 'warehouse' / 'warehouse.duckdb'}' AS built (READ_ONLY)")
        for mart in ("fct_dish_sales", "fct_ingredient_variance"):
            con.execute(f"CREATE TABLE {mart} AS SELECT * FROM built.{mart} LIMIT 0")
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", language.value)
    words = catalogue(language)
    at = page(Role.MANAGER, "pages/dishes.py")
    assert [i.value for i in at.info] == [words["dishes.none"]] and not at.table
    at = page(Role.MANAGER, "pages/recipe_variance.py")
    assert [i.value for i in at.info] == [words["variance.none"]] and not at.dataframe
