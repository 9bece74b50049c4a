"""Discrete manufacturing: BOM explosion with scrap and substitutes, work orders through the
ledger (issues, returns, operations, receipts, backflush, subcontracting, closing) with their
refusals, their cost in production and vouchers, and the BOM rules."""

import math
from collections import defaultdict
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockflow.events import (
    MaterialIssued,
    OperationReported,
    ProductionReceipt,
    WorkOrderClosed,
    WorkOrderReleased,
)
from stockflow.ledger import Ledger, StockRejected
from stockflow.masterdata import Bom, BomLine, BomSubstitute
from stockflow.production import bom_problems, explode, explode_levels
from stockflow.valuation import Valuation
from stockflow.vouchers import AccountingPolicy, Role, VoucherRules
from tests.support.factory import DAY, PLANT, SUBCONTRACTOR, at, bom, factory_catalog, line, stock_in

POLICY = AccountingPolicy.cn_small_enterprise()


@pytest.fixture
def catalog():
    return factory_catalog()


def event(cls, event_id, minute, **kw):
    return cls(event_id=event_id, occurred_at=at(minute), source="test", location=PLANT, **kw)


def release(order, product, qty, minute=10, **kw):
    return event(
        WorkOrderReleased,
        f"rel-{order}",
        minute,
        work_order=order,
        product=product,
        qty=D(qty),
        due_date=DAY,
        **kw,
    )


def issue(event_id, order, sku, qty, unit="each", minute=20, **kw):
    return event(MaterialIssued, event_id, minute, work_order=order, sku=sku, qty=D(qty), unit=unit, **kw)


def receive(event_id, order, qty, batch="B1", minute=40, **kw):
    return event(ProductionReceipt, event_id, minute, work_order=order, qty=D(qty), batch=batch, **kw)


def close(order, minute=50):
    return event(WorkOrderClosed, f"close-{order}", minute, work_order=order)


def stocked(catalog):
    """The plant with steel (at 0.04 a dm²), screws, cables, wire, shades and bulbs."""
    ledger = Ledger(catalog)
    receipts = [
        ("STEEL", "10000", "0.04", "dm2"),
        ("SCREW", "1000", "0.02", "each"),
        ("CABLE", "30", "3.00", "each"),
        ("CABLE-B", "30", "3.50", "each"),
        ("WIRE", "100", "1.60", "each"),
        ("SHADE", "50", "8.00", "each"),
        ("BULB", "100", "2.00", "each"),
    ]
    events = [
        stock_in(f"in-{n}", sku, qty, cost, unit=unit) for n, (sku, qty, cost, unit) in enumerate(receipts)
    ]
    for e in events:
        ledger.apply(e)
    return ledger, events


class Books:
    """The ledger, the valuation and the vouchers of a sequence of events, side by side."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.ledger, events = stocked(catalog)
        self.valuation = Valuation(catalog)
        self.rules = VoucherRules(catalog, POLICY)
        self.balances = defaultdict(D)
        self.vouchers = []
        replay = Ledger(catalog)
        for e in events:
            self._book(replay.apply(e).movements)

    def apply(self, ev):
        result = self.ledger.apply(ev)
        self._book(result.movements)
        return result

    def _book(self, movements):
        valued = self.valuation.value_all(movements)
        for voucher in self.rules.vouchers_for(valued):
            assert voucher.total_debit == voucher.total_credit
            self.vouchers.append(voucher)
            for ln in voucher.lines:
                self.balances[ln.account_code] += ln.debit - ln.credit

    def account(self, role):
        return self.balances[POLICY.roles[role]]

    def inventory(self):
        return sum(v for code, v in self.balances.items() if POLICY.is_inventory_account(code))


# ---------------------------------------------------------------------- explosion
def test_explosion_goes_through_the_levels_with_scrap_at_each(catalog):
    levels = explode_levels(catalog, "LAMP", 10, DAY)
    assert [level.depth for level in levels] == [1, 2]
    assert levels[0].gross == {"BASE": 10, "SHADE": 10, "BULB": D("10.2")}
    # 10 bases: 0.25 m² = 25 dm² each, 10 % scrap; 4 screws, 5 % scrap; one cable
    assert levels[1].gross == {"STEEL": 275, "SCREW": 42, "CABLE": 10}
    assert explode(catalog, "LAMP", 10, DAY) == {
        "SHADE": 10,
        "BULB": D("10.2"),
        "STEEL": 275,
        "SCREW": 42,
        "CABLE": 10,
    }


def test_a_bom_that_would_close_a_cycle_is_refused_with_its_path(catalog):
    looping = bom("STEEL", line("LAMP", "1"))
    problems = bom_problems(catalog, looping, DAY)
    assert [(p.reason, p.detail) for p in problems] == [("bom_cycle", "STEEL → LAMP → BASE → STEEL")]
    through_a_substitute = bom("WIRE", line("SCREW", "1", "0", ("BASE", 1, "1")))
    assert [p.reason for p in bom_problems(catalog, through_a_substitute, DAY)] == ["bom_cycle"]
    assert bom_problems(catalog, bom("CABLE", line("WIRE", "2")), DAY) == []


def test_a_bom_in_effect_changes_only_by_a_new_version(catalog):
    changed = bom("LAMP", line("BASE", "1"), line("SHADE", "2"))
    assert [p.reason for p in bom_problems(catalog, changed, date(2026, 6, 1))] == ["bom_in_effect"]
    later = changed.model_copy(update={"effective_from": date(2026, 7, 1)})
    assert bom_problems(catalog, later, date(2026, 6, 1)) == []


# ---------------------------------------------------------------------- work orders
def test_a_work_order_takes_its_bom_and_refuses_what_is_not_on_it(catalog):
    books = Books(catalog)
    books.apply(release("WO1", "BASE", 10))
    assert books.apply(issue("i1", "WO1", "STEEL", "275", "dm2")).movements[0].on_hand_delta == -275
    refusals = {}
    for ev in (
        issue("i2", "WO1", "STEEL", "1", "dm2"),  # 275 is the whole need with scrap
        issue("i3", "WO1", "BULB", "1"),  # not on the BOM
        issue("i4", "WO9", "SCREW", "1"),  # no such order
        receive("r0", "WO1", "11"),  # beyond the order
        event(OperationReported, "op0", 30, work_order="WO1", operation="PAINT", hours=D(1)),
    ):
        with pytest.raises(StockRejected) as refused:
            books.apply(ev)
        refusals[ev.event_id] = refused.value.reason
    assert refusals == {
        "i2": "over_issue",
        "i3": "not_on_bom",
        "i4": "unknown_work_order",
        "r0": "completion_beyond_order",
        "op0": "unknown_operation",
    }


def test_substitutes_count_at_their_ratio_against_the_line(catalog):
    books = Books(catalog)
    books.apply(release("WO1", "BASE", 10))
    books.apply(issue("c1", "WO1", "CABLE", "4"))
    books.apply(issue("c2", "WO1", "CABLE-B", "2"))  # ratio 1: two cables' worth
    books.apply(issue("c3", "WO1", "WIRE", "8"))  # ratio 2: four cables' worth
    with pytest.raises(StockRejected) as refused:
        books.apply(issue("c4", "WO1", "WIRE", "1"))  # half a cable beyond the ten
    assert refused.value.reason == "over_issue"
    books.apply(issue("c5", "WO1", "WIRE", "2", returned=True))  # one cable's worth back
    books.apply(issue("c6", "WO1", "CABLE", "1"))
    assert books.ledger.work_order("WO1").issued == {"CABLE": 5, "CABLE-B": 2, "WIRE": 6}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.decimals("0.01", "9", places=2), st.decimals("0", "0.3", places=2)),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 500),
    st.integers(1, 4),
)
def test_a_completed_backflushed_order_issued_its_bom_times_quantity_times_scrap(lines, qty, receipts):
    """Components issued for a completed order = BOM quantity × order quantity × (1 + scrap),
    rounded up once per line, however many receipts it came in."""
    catalog = factory_catalog()
    codes = ["SCREW", "CABLE", "WIRE", "BULB"][: len(lines)]
    widget = Bom(
        product="SHADE",
        effective_from=DAY,
        lines=[BomLine(sku=c, qty=q, scrap_rate=s) for c, (q, s) in zip(codes, lines, strict=True)],
    )
    catalog = catalog.model_copy(update={"boms": {**catalog.boms, widget.key: widget}})
    ledger = Ledger(catalog)
    for n, code in enumerate(codes):
        ledger.apply(stock_in(f"in-{n}", code, "100000"))
    ledger.apply(release("WO1", "SHADE", qty, backflush=True))
    parts = [qty // receipts] * (receipts - 1)
    parts.append(qty - sum(parts))
    issued = defaultdict(int)
    for n, part in enumerate(p for p in parts if p):
        for mv in ledger.apply(receive(f"r{n}", "WO1", part, minute=40 + n)).movements:
            if mv.on_hand_delta < 0:
                issued[mv.sku] -= mv.on_hand_delta
    expected = {c: math.ceil(D(qty) * q * (1 + s)) for c, (q, s) in zip(codes, lines, strict=True)}
    assert dict(issued) == {c: n for c, n in expected.items() if n}


# ---------------------------------------------------------------------- cost
def test_finished_goods_come_in_at_actual_cost_and_closing_leaves_nothing_in_production(catalog):
    books = Books(catalog)
    books.apply(release("WO1", "BASE", 10))
    books.apply(issue("i1", "WO1", "STEEL", "275", "dm2"))
    books.apply(issue("i2", "WO1", "SCREW", "42"))
    books.apply(issue("i3", "WO1", "CABLE", "10"))
    books.apply(
        event(OperationReported, "op1", 30, work_order="WO1", operation="PRESS", good_qty=10, hours=D(2))
    )
    # materials 275 × 0.04 + 42 × 0.02 + 10 × 3 = 41.84; labour 2 × 35 = 70; overhead 2 × 25 = 50
    assert books.valuation.wip() == {"WO1": D("161.84")}
    assert books.account(Role.WORK_IN_PROCESS) == D("161.84")
    assert books.account(Role.PAYROLL_PAYABLE) == D("-70")
    assert books.account(Role.OVERHEAD_APPLIED) == D("-50")
    first = books.apply(receive("r1", "WO1", "4", batch="B1"))
    second = books.apply(receive("r2", "WO1", "6", batch="B2", minute=45))
    assert first.movements[0].order_open_qty == 10 and second.movements[0].order_open_qty == 6
    # 4 of the 10 first: 64.74 (of 161.84, by share), then the whole rest
    assert books.valuation.on_hand(PLANT, "BASE") == (10, D("161.84"))
    assert books.account(Role.WORK_IN_PROCESS) == 0
    # rework reported after the last receipt stays in production until the order is closed
    books.apply(event(OperationReported, "op2", 46, work_order="WO1", operation="PRESS", hours=D("0.1")))
    assert books.valuation.wip() == {"WO1": D("6.00")}
    books.apply(close("WO1"))
    assert books.valuation.wip() == {}
    assert books.account(Role.WORK_IN_PROCESS) == 0
    assert books.account(Role.COST_VARIANCE) == D("6.00")
    assert books.inventory() == sum(value for _, _, value in books.valuation.positions())


def test_a_subcontracted_order_sends_its_materials_and_brings_its_goods_back_with_the_fee(catalog):
    books = Books(catalog)
    books.apply(release("SC-1", "BASE", 10, subcontractor=SUBCONTRACTOR))
    sent = books.apply(issue("s1", "SC-1", "STEEL", "275", "dm2"))
    assert sent.movements[0].counterparty == SUBCONTRACTOR
    books.apply(issue("s2", "SC-1", "SCREW", "42"))
    books.apply(issue("s3", "SC-1", "CABLE-B", "10"))
    assert books.account(Role.SUBCONTRACTED) == D("11") + D("0.84") + D("35")
    books.apply(receive("back", "SC-1", "10", service_fee=D("120")))
    assert books.valuation.on_hand(PLANT, "BASE") == (10, D("166.84"))
    assert books.account(Role.SUBCONTRACTED) == 0
    assert books.account(Role.PAYABLE) == D("-120")
    books.apply(close("SC-1"))
    assert books.valuation.wip() == {}
    with pytest.raises(StockRejected) as refused:
        books.apply(release("SC-2", "BASE", 1, subcontractor=SUBCONTRACTOR, backflush=True))
    assert refused.value.reason == "backflush_subcontracted"


def test_every_order_closed_leaves_production_empty_and_the_books_equal_the_stock(catalog):
    books = Books(catalog)
    books.apply(release("B1", "BASE", 5, backflush=True))
    books.apply(receive("rb", "B1", "5", batch="BASE-1"))
    books.apply(release("L1", "LAMP", 5, backflush=True, minute=41))
    books.apply(
        event(OperationReported, "op-a", 42, work_order="L1", operation="ASSY", good_qty=5, hours=D("2.5"))
    )
    books.apply(
        event(OperationReported, "op-t", 43, work_order="L1", operation="TEST", good_qty=5, hours=D("0.5"))
    )
    books.apply(receive("rl", "L1", "3", batch="LAMP-1", minute=44))
    assert books.valuation.wip()["L1"] > 0
    assert books.account(Role.WORK_IN_PROCESS) == sum(books.valuation.wip().values())
    books.apply(close("B1", minute=45))
    books.apply(close("L1", minute=46))  # two lamps never made: their cost so far is the variance
    assert books.valuation.wip() == {}
    assert books.account(Role.WORK_IN_PROCESS) == 0
    assert books.inventory() == sum(value for _, _, value in books.valuation.positions())
    with pytest.raises(StockRejected) as refused:
        books.apply(receive("late", "L1", "1", batch="LAMP-2", minute=47))
    assert refused.value.reason == "work_order_closed"


def test_work_orders_survive_a_snapshot_and_the_valuation_state(catalog):
    books = Books(catalog)
    books.apply(release("WO1", "BASE", 10))
    books.apply(issue("i1", "WO1", "SCREW", "42"))
    ledger = Ledger.from_snapshot(catalog, books.ledger.snapshot())
    assert ledger.work_order("WO1") == books.ledger.work_order("WO1")
    valuation = Valuation(catalog)
    valuation.restore(books.valuation.state())
    assert valuation.wip() == books.valuation.wip() == {"WO1": D("0.84")}


def test_substitute_validity_is_by_the_orders_bom_day(catalog):
    dated = bom(
        "CABLE",
        BomLine(
            sku="WIRE",
            qty=D(2),
            substitutes=[
                BomSubstitute(sku="CABLE-B", valid_from=date(2026, 6, 1), valid_to=date(2026, 6, 30))
            ],
        ),
    )
    catalog = catalog.model_copy(update={"boms": {**catalog.boms, dated.key: dated}})
    ledger, _ = stocked(catalog)
    ledger.apply(release("W1", "CABLE", 1))
    with pytest.raises(StockRejected) as refused:
        ledger.apply(issue("x", "W1", "CABLE-B", "1"))
    assert refused.value.reason == "not_on_bom"


def test_a_bom_enters_master_data_as_a_change_and_a_cycle_is_refused_with_its_path(catalog):
    from stockflow.masterdata_changes import BomSet, SetBom, apply_change, check_changes

    plan = check_changes(catalog, [SetBom(bom("STEEL", line("LAMP", "1")), DAY)])
    (problem,) = plan.problems
    assert problem.reason == "bom_cycle"
    assert problem.english == "the BOM of STEEL contains itself: STEEL → LAMP → BASE → STEEL"
    cable = bom("CABLE", line("WIRE", "2", "0.05"))
    plan = check_changes(catalog, [SetBom(cable, DAY), SetBom(cable, DAY)])
    assert plan.ok and [kind for kind, *_ in plan.changes] == ["bom_set"]
    change = BomSet(event_id="md-1", occurred_at=at(0), actor="planner", version=7, record=cable)
    assert change.code == "CABLE|2026-05-01"
    assert apply_change(catalog, change) and catalog.bom_for("CABLE", DAY) == cable
    # the kitting and the ledger see the new version at once (the index follows the catalogue)
    assert not apply_change(catalog, change)


def test_each_posting_run_is_listed_once_its_exports_are_complete(tmp_path):
    """A warehouse build reads the books' runs up to the newest listed (stores.warehouse)."""
    from stores.books import Books
    from stores.warehouse import books_through
    from tests.support.factory_lake import a_week_at_plant_p1
    from tests.support.restaurant_lake import write_restaurant_lake

    var = tmp_path / "var"
    catalog = factory_catalog()
    week = a_week_at_plant_p1()
    assert books_through(var / "lake") is None  # no list: books exported without one, all read
    (var / "lake" / "book_runs").mkdir(parents=True)
    assert books_through(var / "lake") == ""  # an empty list: the first run may be half exported
    (var / "lake" / "book_runs").rmdir()
    write_restaurant_lake(var, catalog, week[:5])
    first = Books(var, catalog).post_new_movements("run-0000000000000000001")
    assert books_through(var / "lake") == first.run_id
    write_restaurant_lake(var, catalog, week)  # the whole week landed: the first five again (known)
    second = Books(var, catalog).post_new_movements("run-0000000000000000002")
    assert second.movements > 0
    listed = sorted(p.name for p in (var / "lake" / "book_runs").glob("*.parquet"))
    assert listed == [f"part-{first.run_id}.parquet", f"part-{second.run_id}.parquet"]
    assert books_through(var / "lake") == second.run_id
    for table in ("stock_ledger", "vouchers", "voucher_lines"):  # listed after its exports
        assert (var / "lake" / table / f"part-{second.run_id}.parquet").exists()
    # a lake whose runs were exported before the list existed: they are listed when it is made
    import shutil

    shutil.rmtree(var / "lake" / "book_runs")
    write_restaurant_lake(var, catalog, week)
    third = Books(var, catalog).post_new_movements("run-0000000000000000003")
    listed = sorted(p.name for p in (var / "lake" / "book_runs").glob("*.parquet"))
    assert listed == [f"part-{r}.parquet" for r in (first.run_id, second.run_id, third.run_id)]


class Records:
    """The production records a replenishment run reads (the warehouse's, in memory)."""

    def __init__(self, available, purchases=(), orders=()):
        self.available, self.purchases, self.orders = available, list(purchases), list(orders)

    def open_work_orders(self):
        return self.orders

    def stock_positions(self):
        from stockflow.services.production import BatchPosition

        return [BatchPosition(loc, sku, "", units, 0, 0) for (loc, sku), units in self.available.items()]

    def open_purchases(self):
        return self.purchases


def test_replenishment_plans_made_items_as_work_orders_and_buys_what_they_lack(catalog):
    from datetime import timedelta

    from stockflow.replenishment import OrderSuggestion, Plan
    from stockflow.services.production import OpenPurchase, with_production

    today, due = date(2026, 5, 4), date(2026, 5, 20)

    def suggestion(location, sku, qty):
        return OrderSuggestion(location, sku, "STEELCO", qty, today, due, 0, 5, 1.0)

    plan = Plan(
        [], [suggestion(PLANT, "LAMP", 10), suggestion(PLANT, "SCREW", 100), suggestion("SC1", "BASE", 3)], []
    )
    records = Records(
        {
            (PLANT, "SHADE"): 4,
            (PLANT, "BULB"): 20,
            (PLANT, "STEEL"): 10000,
            (PLANT, "SCREW"): 10,
            (PLANT, "CABLE"): 3,
        },
        [OpenPurchase(PLANT, "SHADE", "STEELCO", 2, today, due - timedelta(days=1))],
    )
    made = with_production(catalog, plan, records, today)
    # the lamps are made, not bought; the bases at the paint shop are not bought there either
    assert [(o.order, o.product, o.qty, o.due, o.planned) for o in made.planned_orders] == [
        ("PLAN-P1-LAMP", "LAMP", 10, due, True)
    ]
    # 10 lamps: 10 bases to make (none in stock) take 275 dm² of steel (in stock), 42 screws
    # (10 there) and 10 cables (3 there); 10 shades (4 there, 2 arriving in time); bulbs enough
    bought = {o.sku: o for o in made.plan.orders}
    assert set(bought) == {"SCREW", "CABLE", "SHADE"}
    assert bought["SCREW"].quantity == 100 + 32  # its own reorder point and the work order's need
    assert (bought["CABLE"].quantity, bought["SHADE"].quantity) == (7, 4)
    # needed by the lamps' day; ordered the supplier's 5 days before
    assert (bought["CABLE"].order_by, bought["CABLE"].expected_arrival) == (due - timedelta(days=5), due)
    assert bought["CABLE"].inventory_position == 3 and bought["SHADE"].inventory_position == 6


def test_a_sub_assemblys_own_open_work_order_is_supply_for_the_orders_that_need_it(catalog):
    from datetime import timedelta

    from stockflow.services.production import OpenWorkOrder, kitting_report

    today = date(2026, 5, 4)
    base = OpenWorkOrder("WO-BASE", PLANT, "BASE", 10, 4, today + timedelta(days=2), today, {})
    lamps = OpenWorkOrder("WO-LAMP", PLANT, "LAMP", 8, 0, today + timedelta(days=5), today, {})
    late = OpenWorkOrder("WO-LAMP-2", PLANT, "LAMP", 1, 0, today + timedelta(days=1), today, {})
    stock = {(PLANT, "SHADE"): 20, (PLANT, "BULB"): 20, (PLANT, "BASE"): 1}
    report = kitting_report(catalog, Records(stock, orders=[base, lamps, late]), today)
    by_order = {o.demand.order: {line.material: line for line in o.lines} for o in report.result.orders}
    # WO-LAMP-2 (due first) takes the base in stock; WO-LAMP takes the 6 bases WO-BASE still has
    # to make, due 3 days before it, and is short of 2
    assert by_order["WO-LAMP-2"]["BASE"].from_stock == 1
    assert by_order["WO-LAMP"]["BASE"].from_on_order == ((today + timedelta(days=2), 6),)
    assert by_order["WO-LAMP"]["BASE"].short == 2


def test_kitting_supply_floors_each_batch_and_dates_purchases_by_their_supplier(catalog):
    """A batch reserved or quarantined beyond its stock gives nothing and takes nothing from
    another batch; a purchase without an expected day is due its supplier's lead time after
    its order day."""
    from datetime import timedelta

    from stockflow.services.production import BatchPosition, OpenPurchase, _supply

    ordered = date(2026, 5, 4)
    lead = catalog.suppliers["STEELCO"].lead_time_days

    class Positions(Records):
        def stock_positions(self):
            return [
                BatchPosition(PLANT, "BULB", "B1", 5, 0, 8),  # more held than on hand: 0, not -3
                BatchPosition(PLANT, "BULB", "B2", 7, 2, 0),
                BatchPosition(PLANT, "SHADE", "S1", 3, 3, 0),
            ]

    records = Positions(
        {},
        [
            OpenPurchase(PLANT, "BULB", "STEELCO", 4, ordered),
            OpenPurchase(PLANT, "BULB", "STEELCO", 6, ordered, ordered + timedelta(days=1)),
            OpenPurchase(PLANT, "SHADE", "NOBODY", 1, ordered),
        ],
    )
    supply = _supply(catalog, records, [])
    assert supply.available == {(PLANT, "BULB"): 5}
    assert supply.on_order == {
        (PLANT, "BULB"): [(ordered + timedelta(days=1), 6), (ordered + timedelta(days=lead), 4)],
        (PLANT, "SHADE"): [(ordered, 1)],
    }
