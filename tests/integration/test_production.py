"""Production on a real build: the plant's week (tests/support/factory_lake.py) landed,
posted to the books and built; the work-order marts against hand-computed costs, the books'
cost in production against the open orders, and the production page under Streamlit's
AppTest with its kitting of the open orders."""

from decimal import Decimal as D

import duckdb
import pytest

from stockflow.i18n import Language, catalogue
from stockflow.masking import Role
from stockflow.vouchers import AccountingPolicy
from stockflow.vouchers import Role as AccountRole
from tests.integration.test_dashboards import page

pytestmark = pytest.mark.integration
EN, ZH = catalogue(Language.EN), catalogue(Language.ZH_CN)
POLICY = AccountingPolicy.cn_small_enterprise()


@pytest.fixture(scope="module")
def plant(editions_warehouse):
    return editions_warehouse


@pytest.fixture
def env(plant, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(plant))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    return plant


def rows(var, sql):
    with duckdb.connect(str(var / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def test_the_work_orders_cost_what_went_into_them(plant):
    found = {r["work_order_id"]: r for r in rows(plant, "SELECT * FROM fct_work_orders")}
    base = found["BASE-1"]
    # 275 dm² of steel at 0.04, 42 screws at 0.02, 10 cables at 3.00; 2 h pressing at 35 + 25
    assert (base["material_cost"], base["labour_cost"], base["overhead_cost"]) == (D("41.84"), 70, 50)
    assert (base["goods_value"], base["variance"], base["wip_value"], base["status"]) == (
        D("161.84"),
        0,
        0,
        "closed",
    )
    painted = found["SC-1"]
    assert (painted["material_cost"], painted["service_fee"], painted["goods_value"]) == (
        D("16.74"),
        60,
        D("76.74"),
    )
    assert painted["subcontractor_id"] == "SC1"
    lamps = found["LAMP-1"]
    # backflushed for 4 lamps: 4 bases at the bases' average (238.58 ÷ 14), 4 shades, 5 bulbs
    bases = (D("161.84") + D("76.74")) / 14 * 4
    materials = round(bases, 2) + 4 * D("8.00") + 5 * D("2.00")
    held = materials + 2 * (40 + 20)
    assert lamps["material_cost"] == materials
    assert lamps["goods_value"] == round(held * 4 / 6, 2)  # 4 of the 6 to make, by share
    assert lamps["wip_value"] == held - round(held * 4 / 6, 2)
    assert (lamps["status"], lamps["received_units"], lamps["open_units"]) == ("in_progress", 4, 2)
    assert found["LAMP-2"]["status"] == "released"


def test_the_books_hold_in_production_what_the_open_orders_hold(plant):
    wip = sum(
        r["wip_value"] for r in rows(plant, "SELECT wip_value FROM fct_work_orders WHERE status <> 'closed'")
    )
    accounts = {
        r["account_code"]: r["balance"]
        for r in rows(
            plant,
            "SELECT account_code, sum(debit) - sum(credit) AS balance FROM fct_voucher_lines GROUP BY 1",
        )
    }
    in_production = accounts.get(POLICY.roles[AccountRole.WORK_IN_PROCESS], 0) + accounts.get(
        POLICY.roles[AccountRole.SUBCONTRACTED], 0
    )
    assert in_production == wip > 0
    stock_value = rows(
        plant,
        "SELECT sum(stock_value_after) AS v FROM (SELECT stock_value_after FROM fct_stock_movements"
        " QUALIFY row_number() OVER (PARTITION BY location_id, sku_id ORDER BY apply_seq DESC) = 1)",
    )[0]["v"]
    inventory = sum(balance for code, balance in accounts.items() if POLICY.is_inventory_account(code))
    assert inventory == stock_value


def test_the_production_page_shows_the_orders_their_kitting_and_what_is_short(env):
    at = page(Role.WAREHOUSE, "pages/production.py")
    assert not at.exception
    assert at.title[0].value == EN["page.production"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[EN["production.open_orders"]] == "2"
    wip = rows(env, "SELECT sum(wip_value) AS v FROM fct_work_orders")[0]["v"]
    assert f"{wip:,.2f}" in metrics[EN["production.wip"]]
    # LAMP-1 needs 2 more of each line and gets them; LAMP-2's 20 lamps are short of bases,
    # shades (10 on order by its day, 4 left in stock) and bulbs
    assert metrics[EN["production.kitted"]].startswith("50")
    shortages = {
        r[EN["column.sku_id"]]: r[EN["column.quantity"]] for r in at.dataframe[1].value.to_dict("records")
    }
    assert shortages == {"BASE": 12, "SHADE": 6, "BULB": 18}
    to_buy = {
        r[EN["column.sku_id"]]: r[EN["column.quantity"]] for r in at.dataframe[-1].value.to_dict("records")
    }
    # the 12 bases to make take 12 cables (6 in stock after the kitting), steel and screws in stock
    assert to_buy == {"BULB": 18, "SHADE": 6, "CABLE": 6}


def test_the_production_page_speaks_chinese(env, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "zh_CN")
    at = page(Role.MANAGER, "pages/production.py")
    assert not at.exception
    assert at.title[0].value == ZH["page.production"]
    assert {m.label for m in at.metric} == {
        ZH[k]
        for k in ("production.open_orders", "production.wip", "production.kitted", "production.lines_covered")
    }
    headers = list(at.dataframe[0].value.columns)
    assert ZH["column.work_order_id"] in headers and ZH["column.wip_value"] in headers
    assert ZH["value.status.closed"] in set(at.dataframe[0].value[ZH["column.status"]])
