"""Kitting: stock, on-order by the due date and substitutes by priority allocated to work orders
in due-date order; shortages; short sub-assemblies exploded into purchase suggestions.

The factory (tests/support/factory.py): LAMP = 1 BASE + 1 SHADE + 1 BULB (2 % scrap); BASE =
0.25 m² (25 dm²) of STEEL with 10 % scrap (27.5 dm² a base) + 4 SCREW with 5 % (4.2 a base)
+ 1 CABLE, or 1 CABLE-B, or 2 WIRE. Every expected figure below is worked out from those."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockflow.kitting import OrderDemand, Supply, kit, planned_demand, shortages
from stockflow.masterdata import BomSubstitute
from stockflow.production import BomError
from tests.support.factory import DAY, PLANT, SUBCONTRACTOR, bom, factory_catalog, line, material

DUE = date(2026, 5, 20)
CATALOG = factory_catalog()


def order(name: str, product: str, qty: int, due: date = DUE, **kw: object) -> OrderDemand:
    return OrderDemand(
        order=name,
        location=kw.pop("location", PLANT),
        product=product,
        qty=qty,
        due=due,
        bom_day=kw.pop("bom_day", DAY),
        **kw,
    )


def stock(**qty: int) -> dict[tuple[str, str], int]:
    return {(PLANT, sku.replace("_", "-")): n for sku, n in qty.items()}


def lines_of(result, name):
    found = next(o for o in result.orders if o.demand.order == name)
    return {line.material: line for line in found.lines}


# ---------------------------------------------------------------------- kitting
def test_an_order_with_everything_in_stock_is_kitted():
    supply = Supply(stock(BASE=10, SHADE=12, BULB=11))
    result = kit(CATALOG, [order("WO-1", "LAMP", 10)], supply)
    lines = lines_of(result, "WO-1")
    # 10 lamps: 10 bases, 10 shades, 10 × 1.02 = 10.2 bulbs → 11
    assert {m: (x.need, x.from_stock, x.short) for m, x in lines.items()} == {
        "BASE": (10, 10, 0),
        "SHADE": (10, 10, 0),
        "BULB": (11, 11, 0),
    }
    assert result.orders[0].kitted and result.orders[0].rate == 1
    assert result.kitted_rate == 1 and result.line_rate == 1
    assert result.remaining.available == {(PLANT, "BASE"): 0, (PLANT, "SHADE"): 2, (PLANT, "BULB"): 0}
    assert shortages(result) == []
    # the caller's supply is untouched
    assert supply.available[(PLANT, "SHADE")] == 12


def test_on_order_stock_counts_only_when_it_arrives_by_the_due_date():
    bulbs = {
        (PLANT, "BULB"): [
            (DUE + timedelta(days=1), 100),
            (DUE - timedelta(days=2), 4),
            (DUE, 1),
        ]
    }
    supply = Supply(stock(BASE=10, SHADE=10, BULB=5), bulbs)
    result = kit(CATALOG, [order("WO-1", "LAMP", 10)], supply)
    bulb = lines_of(result, "WO-1")["BULB"]
    # 11 bulbs: 5 in stock, 4 then 1 on order by the due date; the 100 a day later do not count
    assert bulb.from_stock == 5
    assert bulb.from_on_order == ((DUE - timedelta(days=2), 4), (DUE, 1))
    assert bulb.short == 1
    assert not result.orders[0].kitted
    assert result.orders[0].rate == F(2, 3)
    assert result.remaining.on_order == {(PLANT, "BULB"): [(DUE + timedelta(days=1), 100)]}

    # the same order due before any of it arrives: only the stock
    early = kit(CATALOG, [order("WO-2", "LAMP", 10, due=DUE - timedelta(days=3))], supply)
    bulb = lines_of(early, "WO-2")["BULB"]
    assert (bulb.from_stock, bulb.from_on_order, bulb.short) == (5, (), 6)

    # due after the late lot: it arrives in time and covers the rest
    late = kit(CATALOG, [order("WO-3", "LAMP", 10, due=DUE + timedelta(days=5))], supply)
    bulb = lines_of(late, "WO-3")["BULB"]
    assert bulb.from_on_order == ((DUE - timedelta(days=2), 4), (DUE, 1), (DUE + timedelta(days=1), 1))
    assert bulb.short == 0


def test_substitutes_by_priority_at_their_ratio():
    plenty = stock(STEEL=1000, SCREW=1000)
    supply = Supply({**plenty, **stock(CABLE=1, WIRE=10)}, {(PLANT, "CABLE-B"): [(DUE, 1)]})
    result = kit(CATALOG, [order("WO-1", "BASE", 5)], supply)
    cable = lines_of(result, "WO-1")["CABLE"]
    # 5 cables: 1 in stock, then CABLE-B (priority 1) 1 on order, then WIRE (2 a cable) for 3
    assert cable.need == 5 and cable.from_stock == 1
    assert cable.from_substitutes == (("CABLE-B", 1), ("WIRE", 6))
    assert cable.substituted == 4 and cable.short == 0
    assert result.remaining.available[(PLANT, "WIRE")] == 4

    # only 3 WIRE: they stand for 1.5 cables, 1.5 short (2 once rounded up)
    short = kit(CATALOG, [order("WO-2", "BASE", 5)], Supply({**plenty, **stock(CABLE=1, WIRE=3)}))
    cable = lines_of(short, "WO-2")["CABLE"]
    assert cable.from_substitutes == (("WIRE", 3),)
    assert cable.substituted == F(3, 2) and cable.short == F(5, 2)
    assert [(s.sku, s.qty, s.exact) for s in shortages(short)] == [("CABLE", 3, F(5, 2))]


def test_a_substitute_is_used_only_on_the_days_it_is_valid():
    fresh = factory_catalog()  # a copy keeps the original's index of BOMs: copy one never read
    base = next(b for b in fresh.boms.values() if b.product == "BASE")
    expired = BomSubstitute(sku="CABLE-B", priority=1, ratio=Decimal(1), valid_to=DAY - timedelta(days=1))
    wire = BomSubstitute(sku="WIRE", priority=2, ratio=Decimal(2))
    lines = [
        ln if ln.sku != "CABLE" else ln.model_copy(update={"substitutes": [expired, wire]})
        for ln in base.lines
    ]
    catalog = fresh.model_copy(
        update={"boms": {**fresh.boms, base.key: base.model_copy(update={"lines": lines})}}
    )
    supply = Supply(stock(STEEL=1000, SCREW=1000, CABLE_B=10, WIRE=10))
    cable = lines_of(kit(catalog, [order("WO-1", "BASE", 2)], supply), "WO-1")["CABLE"]
    assert cable.from_substitutes == (("WIRE", 4),)


def test_the_earlier_due_date_wins_shared_stock():
    supply = Supply(stock(BASE=100, SHADE=6, BULB=100))
    orders = [
        order("WO-A", "LAMP", 4, due=DUE + timedelta(days=5)),
        order("WO-B", "LAMP", 4, due=DUE + timedelta(days=2)),
    ]
    result = kit(CATALOG, orders, supply)
    assert [o.demand.order for o in result.orders] == ["WO-B", "WO-A"]
    assert lines_of(result, "WO-B")["SHADE"].from_stock == 4
    a = lines_of(result, "WO-A")["SHADE"]
    assert (a.from_stock, a.short) == (2, 2)
    assert result.kitted_rate == F(1, 2) and result.line_rate == F(5, 6)
    [shade] = shortages(result)
    assert (shade.location, shade.sku, shade.qty, shade.needed_by) == (
        PLANT,
        "SHADE",
        2,
        DUE + timedelta(days=5),
    )

    # on the same due date, the order id decides
    tie = kit(CATALOG, [order("WO-B", "LAMP", 4), order("WO-A", "LAMP", 4)], supply)
    assert lines_of(tie, "WO-A")["SHADE"].from_stock == 4
    assert lines_of(tie, "WO-B")["SHADE"].short == 2


def test_a_partly_issued_order_needs_only_the_rest():
    supply = Supply(stock(STEEL=1000, SCREW=1000, CABLE=100))
    issued = {"STEEL": 100, "SCREW": 50, "WIRE": 5}
    lines = lines_of(kit(CATALOG, [order("WO-1", "BASE", 10, issued=issued)], supply), "WO-1")
    # 10 bases may issue 275 dm² of steel, 42 screws and 10 cables; 100 dm², 50 screws (more
    # than allowed) and 5 WIRE (2.5 cables) were issued: 175, 0, and 7.5 → 8 cables
    assert {m: x.need for m, x in lines.items()} == {"STEEL": 175, "SCREW": 0, "CABLE": 8}
    assert lines["STEEL"].from_stock == 175 and lines["SCREW"].covered


def test_an_order_without_a_bom_on_its_day_is_refused():
    with pytest.raises(BomError) as refused:
        kit(CATALOG, [order("WO-1", "LAMP", 1, bom_day=DAY - timedelta(days=1))], Supply({}))
    assert refused.value.reason == "no_bom"
    with pytest.raises(ValueError):
        order("WO-2", "LAMP", -1)


def test_supply_from_positions_never_goes_below_zero():
    supply = Supply.from_positions(
        stock(BULB=10, SHADE=3), reserved=stock(BULB=4, SHADE=2), quarantined=stock(SHADE=5)
    )
    assert supply.available == {(PLANT, "BULB"): 6, (PLANT, "SHADE"): 0}


# ---------------------------------------------------------------------- planning
def pair_catalog():
    """PAIR = 2 LAMP: three levels below it (LAMP → BASE → STEEL, SCREW, CABLE)."""
    fresh = factory_catalog()
    skus = {**fresh.skus, "PAIR": material("PAIR", category="finished_goods")}
    pair = bom("PAIR", line("LAMP", "2"))
    return fresh.model_copy(update={"skus": skus, "boms": {**fresh.boms, pair.key: pair}})


def test_a_short_sub_assembly_is_exploded_into_purchases_level_by_level():
    catalog = pair_catalog()
    supply = Supply(
        stock(LAMP=1, BASE=2, SHADE=10, STEEL=50, CABLE=1),
        {
            (PLANT, "BULB"): [(DUE - timedelta(days=1), 2), (DUE + timedelta(days=1), 50)],
            (PLANT, "SCREW"): [(DUE + timedelta(days=1), 50)],
        },
    )
    result = kit(catalog, [order("WO-1", "PAIR", 3)], supply)
    # 3 pairs: 6 lamps, 1 in stock, 5 short
    assert lines_of(result, "WO-1")["LAMP"].short == 5
    planned = planned_demand(catalog, result)
    # 5 lamps: 5 bases (2 in stock → make 3), 5 shades (in stock), 5 × 1.02 = 5.1 bulbs (2 on
    # order by the due date → 3.1); 3 bases: 3 × 27.5 = 82.5 dm² of steel (50 in stock →
    # 32.5), 3 × 4.2 = 12.6 screws (none arrive in time), 3 cables (1 in stock → 2)
    assert [(s.sku, s.qty, s.exact) for s in planned.make] == [("BASE", 3, F(3)), ("LAMP", 5, F(5))]
    assert {s.sku: (s.qty, s.exact, s.needed_by, s.location) for s in planned.buy} == {
        "BULB": (4, F(31, 10), DUE, PLANT),
        "STEEL": (33, F(65, 2), DUE, PLANT),
        "SCREW": (13, F(63, 5), DUE, PLANT),
        "CABLE": (2, F(2), DUE, PLANT),
    }


def test_purchases_are_rounded_up_once_per_location_and_sku():
    supply = Supply(stock(SHADE=10, BULB=10))
    orders = [order("WO-1", "LAMP", 1, due=DUE + timedelta(days=3)), order("WO-2", "LAMP", 1)]
    planned = planned_demand(CATALOG, kit(CATALOG, orders, supply))
    # two bases short: 2 × 4.2 = 8.4 screws → 9 (not 5 + 5), 2 × 27.5 = 55 dm² of steel
    assert {s.sku: (s.qty, s.needed_by) for s in planned.buy} == {
        "STEEL": (55, DUE),
        "SCREW": (9, DUE),
        "CABLE": (2, DUE),
    }
    assert [(s.sku, s.qty) for s in planned.make] == [("BASE", 2)]


# ---------------------------------------------------------------------- properties
SKUS = ("BASE", "SHADE", "BULB", "STEEL", "SCREW", "CABLE", "CABLE-B", "WIRE")
RATIO = {"CABLE-B": F(1), "WIRE": F(2)}
LOCATIONS = (PLANT, SUBCONTRACTOR)


def expected_needs(product: str, qty: int, issued: dict[str, int]) -> dict[str, int]:
    """What an order may still issue per line, from the factory's figures."""
    if product == "LAMP":
        allowed = {"BASE": qty, "SHADE": qty, "BULB": math.ceil(F(qty) * F(102, 100))}
        as_line = {sku: F(issued.get(sku, 0)) for sku in allowed}
    else:
        allowed = {
            "STEEL": math.ceil(F(qty) * F(55, 2)),
            "SCREW": math.ceil(F(qty) * F(21, 5)),
            "CABLE": qty,
        }
        as_line = {sku: F(issued.get(sku, 0)) for sku in allowed}
        as_line["CABLE"] += sum(F(issued.get(sub, 0)) / ratio for sub, ratio in RATIO.items())
    return {sku: max(0, math.ceil(allowed[sku] - as_line[sku])) for sku in allowed}


offsets = st.integers(min_value=0, max_value=20)
quantities = st.integers(min_value=0, max_value=40)
supplies = st.tuples(
    st.dictionaries(st.tuples(st.sampled_from(LOCATIONS), st.sampled_from(SKUS)), quantities, max_size=16),
    st.dictionaries(
        st.tuples(st.sampled_from(LOCATIONS), st.sampled_from(SKUS)),
        st.lists(st.tuples(offsets, quantities), max_size=3),
        max_size=10,
    ),
)
demands = st.lists(
    st.tuples(
        st.sampled_from(("LAMP", "BASE")),
        st.integers(min_value=0, max_value=15),
        offsets,
        st.sampled_from(LOCATIONS),
        st.dictionaries(st.sampled_from(SKUS), st.integers(min_value=0, max_value=30), max_size=3),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(supplies, demands)
def test_allocation_never_exceeds_the_supply_and_every_line_adds_up(supply_spec, demand_spec):
    available, lots = supply_spec
    on_order = {key: [(DAY + timedelta(days=d), q) for d, q in entries] for key, entries in lots.items()}
    orders = [
        order(
            f"WO-{i}",
            product,
            qty,
            due=DAY + timedelta(days=due),
            location=loc,
            issued=issued,
            planned=planned,
        )
        for i, (product, qty, due, loc, issued, planned) in enumerate(demand_spec)
    ]
    result = kit(CATALOG, orders, Supply(available, on_order))

    from_stock: dict[tuple[str, str], int] = defaultdict(int)
    from_lot: dict[tuple[str, str, date], int] = defaultdict(int)
    handed: dict[tuple[str, str], int] = defaultdict(int)
    for done in result.orders:
        demand = done.demand
        needs = expected_needs(demand.product, demand.qty, dict(demand.issued))
        assert {x.material: x.need for x in done.lines} == needs
        for x in done.lines:
            key = (demand.location, x.material)
            on_order_qty = sum(q for _d, q in x.from_on_order)
            assert all(d <= demand.due for d, _q in x.from_on_order)
            from_stock[key] += x.from_stock
            handed[key] += x.from_stock + on_order_qty
            for d, q in x.from_on_order:
                from_lot[(*key, d)] += q
            converted = sum((F(q) / RATIO[sku] for sku, q in x.from_substitutes), F(0))
            for sku, q in x.from_substitutes:
                handed[(demand.location, sku)] += q
            missing = x.need - x.from_stock - on_order_qty
            assert missing >= 0
            assert x.substituted == min(converted, F(missing))
            assert x.short >= 0
            assert x.need == x.from_stock + on_order_qty + x.substituted + x.short
        assert done.kitted == all(x.short == 0 for x in done.lines)

    for key, qty in from_stock.items():
        assert qty <= available.get(key, 0)
    lot_totals: dict[tuple[str, str, date], int] = defaultdict(int)
    for key, entries in on_order.items():
        for d, q in entries:
            lot_totals[(*key, d)] += q
    for lot, qty in from_lot.items():
        assert qty <= lot_totals[lot]
    for key, qty in handed.items():
        held = available.get(key, 0) + sum(q for _d, q in on_order.get(key, []))
        left = result.remaining.available.get(key, 0) + sum(
            q for _d, q in result.remaining.on_order.get(key, [])
        )
        assert qty <= held
        assert qty == held - left
