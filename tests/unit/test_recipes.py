"""Recipes: explosion, first-expired-first-out consumption at the till, preps, refunds, channel
quotas and sold-out dishes, group meals, their value and vouchers, and the master-data rules."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockflow.alerts import AlertType, Severity
from stockflow.events import ChannelQuota, GroupMealLine, GroupMealOrder
from stockflow.ledger import Ledger, PositionKey, StockRejected, order_holder, quota_holder
from stockflow.masterdata import NegativeStockPolicy, Recipe, RecipeComponent, SkuKind
from stockflow.masterdata_changes import SetRecipe, check_changes
from stockflow.processing import StockProcessor
from stockflow.recipes import consumption
from stockflow.valuation import Valuation
from stockflow.vouchers import AccountingPolicy, Role, VoucherRules
from tests.support.restaurant import (
    DAY,
    at,
    dish,
    prep,
    recipe,
    refund,
    restaurant_catalog,
    stock_in,
    ticket,
)

POLICY = AccountingPolicy.cn_small_enterprise()


@pytest.fixture
def catalog():
    return restaurant_catalog()


def stocked(catalog, extra=()):
    """A ledger with store R1 stocked: flour in two batches (the later-received expiring first),
    pork, scallion, bones, ginger, tea leaves."""
    ledger = Ledger(catalog)
    receipts = [
        ("FLOUR", "5000", "F-LATE", date(2026, 3, 20)),
        ("FLOUR", "800", "F-SOON", date(2026, 3, 5)),
        ("PORK", "3000", "P1", date(2026, 3, 4)),
        ("SCALLION", "1000", "S1", date(2026, 3, 5)),
        ("BONES", "10000", "B1", date(2026, 3, 4)),
        ("GINGER", "1000", None, None),
        ("TEA-LEAF", "500", None, None),
        *extra,
    ]
    for n, (sku, qty, batch, expiry) in enumerate(receipts):
        ledger.apply(stock_in(f"in-{n}", sku, qty, batch, expiry))
    return ledger


def on_hand(ledger, sku, batch="", store="R1"):
    return ledger.position(PositionKey(store, sku, batch)).on_hand


def total(ledger, sku, store="R1"):
    return sum(p.on_hand for p in ledger.batches_at(store, sku).values())


# ---------------------------------------------------------------------- explosion
def test_a_dish_line_takes_its_recipe_with_losses_and_a_set_meal_its_dishes(catalog):
    # dumplings: 120 g flour, 90 g pork at 10% loss (100 g), 15 g scallion at 25% loss (20 g)
    assert consumption(catalog, "DUMPLINGS", 3, "R1", DAY) == {"FLOUR": 360, "PORK": 300, "SCALLION": 60}
    # a set meal is one dumpling portion and one tea (3 g leaves)
    assert consumption(catalog, "SET-A", 2, "R1", DAY) == {
        "FLOUR": 240,
        "PORK": 200,
        "SCALLION": 40,
        "TEA-LEAF": 6,
    }
    # broth: one round of 1,500 g bones at 20% loss and 40 g ginger makes 2,000 ml
    assert consumption(catalog, "BROTH", 500, "R1", DAY) == {"BONES": 469, "GINGER": 10}


def test_the_sale_takes_ingredients_first_expired_first_out_and_books_each_line_apart(catalog):
    ledger = stocked(catalog)
    result = ledger.apply(ticket("t1", ("DUMPLINGS", "10", "portion"), ("TEA-LEAF", "10", "g")))
    rows = {(m.event_id, m.sku, m.batch): m for m in result.movements}
    # 1,200 g flour: the 800 g expiring first, then 400 g of the later batch
    assert rows[("t1:1", "FLOUR", "F-SOON")].on_hand_delta == -800
    assert rows[("t1:1", "FLOUR", "F-LATE")].on_hand_delta == -400
    dish_row = rows[("t1:1", "DUMPLINGS", "")]
    assert (dish_row.portions, dish_row.on_hand_delta, dish_row.unit_price) == (10, 0, D("28"))
    assert all(m.dish == "DUMPLINGS" for (eid, _, _), m in rows.items() if eid == "t1:1")
    # a plain line keeps the event's own id and takes the SKU itself
    assert rows[("t1", "TEA-LEAF", "")].on_hand_delta == -10 and rows[("t1", "TEA-LEAF", "")].dish == ""
    assert on_hand(ledger, "PORK", "P1") == 3000 - 1000
    assert not ledger.batches_at("R1", "DUMPLINGS")  # a dish is never kept


def test_two_lines_taking_one_batch_each_say_where_the_event_left_it(catalog):
    ledger = stocked(catalog)
    result = ledger.apply(
        ticket("t1", ("DUMPLINGS", "1", "portion"), ("NOODLES", "1", "portion"), ("FLOUR", "5", "g"))
    )
    flour = [m for m in result.movements if m.sku == "FLOUR"]
    assert sorted((m.event_id, m.on_hand_delta) for m in flour) == [
        ("t1", -5),
        ("t1:1", -120),
        ("t1:2", -150),
    ]
    assert {m.after.on_hand for m in flour} == {on_hand(ledger, "FLOUR", "F-SOON")} == {800 - 275}


def test_a_dish_without_a_recipe_at_that_day_is_refused(catalog):
    ledger = stocked(catalog)
    early = ticket("t0", ("TEA", "1", "portion"), minutes=-60 * 24 * 3)  # before the recipe's day
    with pytest.raises(StockRejected) as refused:
        ledger.apply(early)
    assert refused.value.reason == "no_recipe"


def test_a_store_variant_wins_at_its_store_only(catalog):
    variant = recipe("TEA", ("TEA-LEAF", "5"), store="R2")
    catalog.recipes[variant.key] = variant
    assert consumption(catalog, "TEA", 2, "R2", DAY) == {"TEA-LEAF": 10}
    assert consumption(catalog, "TEA", 2, "R1", DAY) == {"TEA-LEAF": 6}


def test_a_newer_version_takes_effect_on_its_day(catalog):
    later = recipe("TEA", ("TEA-LEAF", "4"), effective_from=DAY + timedelta(days=2))
    catalog.recipes[later.key] = later
    assert consumption(catalog, "TEA", 1, "R1", DAY + timedelta(days=1)) == {"TEA-LEAF": 3}
    assert consumption(catalog, "TEA", 1, "R1", DAY + timedelta(days=2)) == {"TEA-LEAF": 4}


# ---------------------------------------------------------------------- the property
_INGREDIENTS = ("FLOUR", "PORK", "SCALLION", "GINGER", "TEA-LEAF")


@st.composite
def menus_and_tickets(draw):
    components = {}
    for name in ("DISH-A", "DISH-B", "DISH-C"):
        chosen = draw(st.lists(st.sampled_from(_INGREDIENTS), min_size=1, max_size=4, unique=True))
        components[name] = [
            (
                code,
                D(draw(st.integers(1, 5000))) / 10,
                D(draw(st.integers(0, 40))) / 100,
            )
            for code in chosen
        ]
    yields = {name: D(draw(st.integers(1, 40))) / 4 for name in components}
    tickets = draw(
        st.lists(
            st.lists(
                st.tuples(st.sampled_from(sorted(components)), st.integers(1, 12)), min_size=1, max_size=4
            ),
            min_size=1,
            max_size=8,
        )
    )
    return components, yields, tickets


@settings(max_examples=60, deadline=None)
@given(menus_and_tickets())
def test_ingredients_consumed_equal_the_dishes_times_their_recipes_over_their_yield(drawn):
    components, yields, tickets = drawn
    catalog = restaurant_catalog()
    for name, parts in components.items():
        catalog.skus[name] = dish(name)
        made = Recipe(
            product=name,
            effective_from=DAY,
            yield_qty=yields[name],
            components=[RecipeComponent(sku=c, qty=q, loss_rate=loss) for c, q, loss in parts],
        )
        catalog.recipes[made.key] = made
    ledger = Ledger(catalog)
    before = {code: 10**9 for code in _INGREDIENTS}
    for code in _INGREDIENTS:
        batch = None if code in ("GINGER", "TEA-LEAF") else "LOT"
        ledger.apply(stock_in(f"in-{code}", code, str(before[code]), batch, date(2026, 4, 1)))
    expected = defaultdict(int)
    for n, lines in enumerate(tickets):
        ledger.apply(ticket(f"t{n}", *((name, str(qty), "portion") for name, qty in lines), minutes=n))
        for name, qty in lines:  # the oracle: exact fractions, rounded half up once per line
            for code, q, loss in components[name]:
                exact = Fraction(qty) * Fraction(q) / Fraction(yields[name]) / (1 - Fraction(loss))
                whole = int(exact)
                expected[code] += whole + (1 if exact - whole >= Fraction(1, 2) else 0)
    for code in _INGREDIENTS:
        assert before[code] - total(ledger, code) == expected[code], code


# ---------------------------------------------------------------------- preps and refunds
def test_a_prep_makes_a_batch_with_its_shelf_life_from_its_ingredients(catalog):
    ledger = stocked(catalog)
    result = ledger.apply(prep("p1", "4000"))
    assert on_hand(ledger, "BROTH", "BR1") == 4000
    assert ledger.batch_expiry("R1", "BROTH", "BR1") == date(2026, 3, 3)  # made 2 March, 1 day
    assert on_hand(ledger, "BONES", "B1") == 10000 - 3750 and total(ledger, "GINGER") == 1000 - 80
    assert [m.sku for m in result.movements] == ["BONES", "GINGER", "BROTH"]  # ingredients first
    ledger.apply(ticket("t1", ("NOODLES", "2", "portion")))
    assert on_hand(ledger, "BROTH", "BR1") == 4000 - 800


def test_a_prep_is_refused_without_stock_and_for_what_is_not_semi_finished(catalog):
    catalog.skus["BONES"] = catalog.skus["BONES"].model_copy(
        update={"negative_stock": NegativeStockPolicy.REJECT}
    )
    ledger = stocked(catalog)
    with pytest.raises(StockRejected) as refused:
        ledger.apply(prep("p1", "40000"))
    assert refused.value.reason == "negative_stock"
    assert on_hand(ledger, "GINGER") == 1000  # nothing of it was booked
    wrong = prep("p2", "1").model_copy(update={"sku": "DUMPLINGS", "unit": "portion", "batch": None})
    with pytest.raises(StockRejected) as refused:
        ledger.apply(wrong)
    assert refused.value.reason == "not_semi_finished"


def test_a_refund_gives_the_ingredients_back_only_when_the_dish_was_untouched(catalog):
    ledger = stocked(catalog)
    ledger.apply(ticket("t1", ("DUMPLINGS", "2", "portion")))
    pork = on_hand(ledger, "PORK", "P1")
    kept = ledger.apply(refund("f1", "t1", ("DUMPLINGS", "1", "portion")))
    assert on_hand(ledger, "PORK", "P1") == pork
    assert [(m.sku, m.portions) for m in kept.movements] == [("DUMPLINGS", 1)]
    ledger.apply(refund("f2", "t1", ("DUMPLINGS", "1", "portion"), restock=True))
    assert on_hand(ledger, "PORK", "P1") == pork + 100


# ---------------------------------------------------------------------- channel quotas
def quota(event_id, channel, portions, dish_code="DUMPLINGS", minutes=1):
    return ChannelQuota(
        event_id=event_id,
        occurred_at=at(minutes),
        source="manager",
        location="R1",
        channel=channel,
        dish=dish_code,
        portions=portions,
    )


def test_a_quota_running_out_sells_the_dish_out_for_its_channel_only(catalog):
    proc = StockProcessor(catalog)
    for n, (sku, qty, batch, expiry) in enumerate(
        [("FLOUR", "5000", "F1", date(2026, 3, 9)), ("PORK", "2000", "P1", date(2026, 3, 4))]
        + [("SCALLION", "1000", "S1", date(2026, 3, 5))]
    ):
        proc.process(stock_in(f"in-{n}", sku, qty, batch, expiry))
    kept = proc.process(quota("q1", "delivery", 3))
    assert not kept.menu
    assert proc.ledger.allocation("R1", quota_holder("delivery", "DUMPLINGS")) == {
        "FLOUR": 360,
        "PORK": 300,
        "SCALLION": 60,
    }
    assert proc.ledger.position(PositionKey("R1", "PORK", "P1")).reserved == 300
    for n in range(2):
        assert not proc.process(ticket(f"d{n}", ("DUMPLINGS", "1", "portion"), channel="delivery")).menu
    last = proc.process(ticket("d2", ("DUMPLINGS", "1", "portion"), channel="delivery"))
    (change,) = last.menu
    assert (change.dish, change.channel, change.sold_out) == ("DUMPLINGS", "delivery", True)
    (raised,) = [a for a in last.alerts if a.alert_type is AlertType.SOLD_OUT]
    assert raised.severity is Severity.WARNING and raised.details["channel"] == "delivery"
    assert proc.ledger.sold_out("R1") == {("DUMPLINGS", "delivery")}
    # the quota's own ingredients are gone; dine-in still sells from stock nobody keeps
    assert proc.ledger.position(PositionKey("R1", "PORK", "P1")).reserved == 0
    dine = proc.process(ticket("x1", ("DUMPLINGS", "1", "portion"), channel="dine_in"))
    assert not dine.menu and ("DUMPLINGS", "dine_in") not in proc.ledger.sold_out("R1")


def test_replenishment_tops_the_quota_up_and_brings_the_dish_back(catalog):
    proc = StockProcessor(catalog)
    for n, (sku, qty, batch) in enumerate(
        [("FLOUR", "5000", "F1"), ("PORK", "300", "P1"), ("SCALLION", "60", "S1")]
    ):
        proc.process(stock_in(f"in-{n}", sku, qty, batch, date(2026, 3, 9)))
    proc.process(quota("q1", "delivery", 3))
    for n in range(3):
        proc.process(ticket(f"d{n}", ("DUMPLINGS", "1", "portion"), channel="delivery"))
    assert ("DUMPLINGS", "delivery") in proc.ledger.sold_out("R1")
    # pork arrives, scallion still lacks: the quota takes the pork, the dish stays out
    assert not proc.process(stock_in("in-p", "PORK", "1000", "P2", date(2026, 3, 9), minutes=30)).menu
    back = proc.process(stock_in("in-s", "SCALLION", "1000", "S2", date(2026, 3, 9), minutes=31))
    (change,) = [c for c in back.menu if c.channel == "delivery"]
    assert not change.sold_out and change.portions_left == 3
    assert proc.ledger.allocation("R1", quota_holder("delivery", "DUMPLINGS"))["PORK"] == 300
    # the channels nobody keeps for had nothing left either: they are back too
    assert sorted((c.channel, c.sold_out) for c in back.menu) == [("", False), ("delivery", False)]
    assert {a.severity for a in back.alerts if a.alert_type is AlertType.SOLD_OUT} == {Severity.INFO}


def test_the_open_channels_sell_out_when_unkept_stock_cannot_make_a_portion(catalog):
    ledger = Ledger(catalog)
    for n, (sku, qty, batch) in enumerate(
        [("FLOUR", "5000", "F1"), ("PORK", "500", "P1"), ("SCALLION", "500", "S1")]
    ):
        ledger.apply(stock_in(f"in-{n}", sku, qty, batch, date(2026, 3, 9)))
    ledger.apply(quota("q1", "delivery", 4))  # 400 g pork kept: 100 g left for the others
    out = ledger.apply(ticket("x1", ("DUMPLINGS", "1", "portion"), channel="dine_in"))
    assert [(c.channel, c.sold_out) for c in out.menu] == [("", True)]
    ended = ledger.apply(quota("q2", "delivery", 0, minutes=40))
    assert [(c.channel, c.sold_out) for c in ended.menu] == [("", False)]
    assert ledger.quotas("R1") == {} and ledger.position(PositionKey("R1", "PORK", "P1")).reserved == 0


def test_quotas_survive_a_snapshot(catalog):
    ledger = stocked(catalog)
    ledger.apply(quota("q1", "delivery", 2))
    again = Ledger.from_snapshot(catalog, ledger.snapshot())
    assert again.quotas("R1") == {("delivery", "DUMPLINGS"): 2}
    for copy in (ledger, again):
        copy.apply(ticket("d1", ("DUMPLINGS", "2", "portion"), channel="delivery"))
    assert ledger.snapshot() == again.snapshot()


# ---------------------------------------------------------------------- group meals
def group(event_id, action="confirm", lines=(("DUMPLINGS", 20),), minutes=2):
    return GroupMealOrder(
        event_id=event_id,
        occurred_at=at(minutes),
        source="manager",
        location="R1",
        order="G1",
        customer=None,
        serve_date=DAY + timedelta(days=2),
        action=action,
        lines=[GroupMealLine(dish=d, portions=p) for d, p in lines] if action == "confirm" else [],
    )


def test_a_confirmed_group_meal_reserves_its_ingredients_and_its_ticket_takes_them(catalog):
    ledger = stocked(catalog)
    ledger.apply(group("g1"))
    assert ledger.allocation("R1", order_holder("G1")) == {"FLOUR": 2400, "PORK": 2000, "SCALLION": 400}
    assert ledger.position(PositionKey("R1", "PORK", "P1")).unrestricted == 1000
    served = ticket("s1", ("DUMPLINGS", "20", "portion"), channel="group_meal").model_copy(
        update={"order": "G1"}
    )
    ledger.apply(served)
    assert ledger.allocation("R1", order_holder("G1")) == {}
    assert ledger.position(PositionKey("R1", "PORK", "P1")).reserved == 0
    assert on_hand(ledger, "PORK", "P1") == 1000
    ledger.apply(group("g2", action="close", minutes=5))  # nothing left: closing is harmless


def test_a_revised_group_meal_replaces_its_reservation_and_a_cancelled_one_releases_it(catalog):
    ledger = stocked(catalog)
    ledger.apply(group("g1"))
    ledger.apply(group("g2", lines=(("DUMPLINGS", 5), ("SET-A", 5)), minutes=3))
    assert ledger.allocation("R1", order_holder("G1")) == {
        "FLOUR": 1200,
        "PORK": 1000,
        "SCALLION": 200,
        "TEA-LEAF": 15,
    }
    ledger.apply(group("g3", action="cancel", minutes=4))
    assert ledger.allocation("R1", order_holder("G1")) == {}
    assert all(p.reserved == 0 for _, p in ledger.positions())
    with pytest.raises(StockRejected) as refused:
        ledger.apply(group("g4", action="cancel", minutes=5))
    assert refused.value.reason == "unknown_group_meal"


# ---------------------------------------------------------------------- value and vouchers
def test_a_dish_is_booked_at_its_vat_with_the_cost_of_its_ingredients(catalog):
    ledger, valuation = Ledger(catalog), Valuation(catalog)
    for n, (sku, batch) in enumerate([("FLOUR", "F1"), ("PORK", "P1"), ("SCALLION", "S1")]):
        event = stock_in(f"in-{n}", sku, "10000", batch, date(2026, 3, 9), cost="0.03")
        valuation.value_all(ledger.apply(event).movements)
    valued = valuation.value_all(ledger.apply(ticket("t1", ("DUMPLINGS", "2", "portion"))).movements)
    (voucher,) = VoucherRules(catalog, POLICY).vouchers_for([v for v in valued if v.event_id == "t1:1"])
    booked = defaultdict(lambda: [D(0), D(0)])
    for line in voucher.lines:
        booked[line.account_code][0] += line.debit
        booked[line.account_code][1] += line.credit
    # 2 portions at 28.00 incl. 6% VAT: 52.83 net + 3.17 VAT; cost (240 + 200 + 40 g) × 0.03
    assert booked[POLICY.account(Role.REVENUE).code][1] == D("52.83")
    assert booked[POLICY.account(Role.OUTPUT_VAT).code][1] == D("3.17")
    assert booked[POLICY.account(Role.COST_OF_SALES).code][0] == D("14.40")
    assert booked[POLICY.inventory_account("ingredients").code][1] == D("14.40")
    assert voucher.total_debit == voucher.total_credit


def test_a_prep_moves_its_ingredients_cost_into_the_item(catalog):
    fresh = Ledger(catalog)
    valuation = Valuation(catalog)
    for n, (sku, cost) in enumerate([("BONES", "0.02"), ("GINGER", "0.05")]):
        batch = "B1" if sku == "BONES" else None
        valuation.value_all(
            fresh.apply(stock_in(f"in-{n}", sku, "10000", batch, date(2026, 3, 9), cost=cost)).movements
        )
    valued = valuation.value_all(fresh.apply(prep("p1", "2000")).movements)
    made = [v for v in valued if v.sku == "BROTH"][0]
    # one round: 1,875 g bones × 0.02 + 40 g ginger × 0.05
    assert made.value_change == D("37.50") + D("2.00")
    (voucher,) = VoucherRules(catalog, POLICY).vouchers_for(valued)
    assert voucher.total_debit == voucher.total_credit == D("39.50")


# ---------------------------------------------------------------------- master-data rules
def test_recipe_rules(catalog):
    today = DAY + timedelta(days=5)

    def reasons(*recipes):
        return [p.reason for p in check_changes(catalog, [SetRecipe(r, today) for r in recipes]).problems]

    assert reasons(recipe("FLOUR", ("PORK", "1"), effective_from=today)) == ["recipe_product_kind"]
    assert reasons(recipe("TEA", ("NOPE", "1"), effective_from=today)) == ["recipe_unknown_component"]
    assert reasons(recipe("TEA", ("TEA-LEAF", "1"), store="CK1", effective_from=today)) == [
        "recipe_unknown_store"
    ]
    assert reasons(recipe("BROTH", ("DUMPLINGS", "1"), effective_from=today)) == ["recipe_dish_in_prep"]
    # dumplings made with a set meal that contains dumplings
    assert reasons(recipe("DUMPLINGS", ("SET-A", "1"), effective_from=today)) == ["recipe_cycle"]
    # the version in effect since before today never changes; a new version may start today
    assert reasons(recipe("TEA", ("TEA-LEAF", "4"))) == ["recipe_in_effect"]
    assert reasons(recipe("TEA", ("TEA-LEAF", "4"), effective_from=today)) == []
    assert reasons(recipe("TEA", ("TEA-LEAF", "3"))) == []  # the same again: nothing to change
    unit = Recipe(
        product="TEA",
        effective_from=today,
        components=[RecipeComponent(sku="TEA-LEAF", qty=D(1), unit="case")],
    )
    assert reasons(unit) == ["recipe_component_unit"]


def test_a_dish_is_never_kept(catalog):
    with pytest.raises(ValueError, match="never kept"):
        dish("X", SkuKind.DISH, batch_managed=True)
