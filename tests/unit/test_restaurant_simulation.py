"""The simulated restaurant brand (`simulator.restaurant`): its master data passes the rules,
its days apply cleanly through the stock ledger (dishes take their recipes' ingredients, preps
make batches, every store counts its main ingredients every night), and `stockflow up
--company restaurant` plays it."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from simulator.restaurant import (
    CENTRAL_KITCHEN,
    VARIANT_STORE,
    RestaurantSimulation,
    build_restaurant_catalog,
)
from stockflow.config import Settings, SimulatedCompany
from stockflow.events import SalesChannel, parse_event
from stockflow.ledger import Ledger, StockRejected
from stockflow.masterdata import Catalog, LocationKind, SkuKind
from stockflow.masterdata_changes import SetRecipe, Upsert, check_changes
from stockflow.recipes import planned_demand

START = date(2026, 3, 2)  # a Monday
DAYS = 3


@pytest.fixture(scope="module")
def played():
    """Three days of the brand, and every event applied to a ledger of its own as a worker
    would, each count's variance after its count (what the reconciliation posts)."""
    catalog = build_restaurant_catalog(7)
    sim = RestaurantSimulation(catalog, seed=7, demand_scale=0.5)  # half the tickets: quicker
    events = list(sim.history(START, DAYS))
    ledger = Ledger(catalog)
    results = {}
    for event in events:
        result = ledger.apply(event)  # raises on a refusal
        for follow in result.follow_ups:
            ledger.apply(follow)
        results[event.event_id] = result
        if event.event_id in sim.count_variances:
            ledger.apply(sim.count_variances[event.event_id])
    return catalog, sim, events, ledger, results


def positions(ledger: Ledger) -> dict:
    return {k: p.as_dict() for k, p in ledger.positions() if not p.is_empty()}


def test_the_master_data_is_a_restaurant_brand_and_passes_the_rules():
    catalog = build_restaurant_catalog(7)
    assert catalog == build_restaurant_catalog(7)
    kinds = Counter(s.kind for s in catalog.skus.values())
    ingredients = [s for s in catalog.skus.values() if s.kind is SkuKind.GOODS and s.base_unit in ("g", "ml")]
    assert 15 <= len(ingredients) <= 25 and 2 <= kinds[SkuKind.SEMI_FINISHED] <= 3
    assert 12 <= kinds[SkuKind.DISH] <= 17
    for sku in ingredients:
        assert sku.packs[{"g": "kg", "ml": "l"}[sku.base_unit]] == 1000 and sku.supplier in catalog.suppliers
        assert sku.batch_managed == sku.is_perishable
    assert all(s.vat_rate == Decimal("0.06") for s in catalog.skus.values() if s.kind is SkuKind.DISH)
    assert {s.vat_rate for s in ingredients if s.category in ("meat", "produce", "dairy")} == {
        Decimal("0.09")
    }
    for sku in catalog.skus.values():
        if sku.kind is not SkuKind.GOODS:  # made, never bought: no reorder point, no supplier
            assert catalog.has_recipe(sku.sku) and sku.reorder_point == 0 and sku.supplier is None
    assert any(r.store == VARIANT_STORE for r in catalog.recipes.values())
    sets = [
        r
        for r in catalog.recipes.values()
        if any(catalog.skus[c.sku].kind is SkuKind.DISH for c in r.components)
    ]
    assert len(sets) == 2
    places = Counter(loc.kind for loc in catalog.locations.values())
    assert places == {LocationKind.WAREHOUSE: 1, LocationKind.STORE: 3}
    assert catalog.locations[CENTRAL_KITCHEN].kind is LocationKind.WAREHOUSE and catalog.customers
    # recorded as `stockflow up` records it: through the master-data rules, recipes included
    proposals = [
        Upsert(r)
        for r in (
            *catalog.suppliers.values(),
            *catalog.locations.values(),
            *catalog.customers.values(),
            *catalog.skus.values(),
        )
    ]
    proposals += [SetRecipe(r, START) for _, r in sorted(catalog.recipes.items())]
    plan = check_changes(Catalog(), proposals)
    assert plan.ok, [p.english for p in plan.problems[:5]]


def test_days_apply_cleanly_through_the_ledger_and_end_where_the_simulator_says(played):
    _catalog, sim, events, ledger, results = played
    assert not sim.refused
    assert not [e.event_id for e in events if results[e.event_id].negative_stock]
    assert positions(ledger) == positions(sim.ledger)
    types = Counter(e.event_type for e in events)
    for needed in (
        "purchase_order",
        "goods_receipt",
        "transfer_out",
        "transfer_in",
        "prep_produced",
        "pos_sale",
        "pos_return",
        "group_meal_order",
        "channel_quota",
        "cycle_count",
        "stock_adjustment",
        "temperature_reading",
    ):
        assert types[needed] > 0, needed
    # every event travels as a message and reads back the same
    for message in list(sim.messages(events[:2000])):
        assert parse_event(message.value, message.topic).location_id == message.key


def test_bad_messages_of_every_kind_end_refused(played):
    catalog, sim, events, _ledger, _results = played
    bad = [m for m in sim.messages(events, bad_ratio=0.3) if m.is_bad]
    assert len(bad) > 300
    for message in bad:
        try:
            event = parse_event(message.value, message.topic)
        except ValueError:
            continue  # malformed, or a field its schema does not have
        lines = getattr(event, "lines", None) or [event]
        known = event.location_id in catalog.locations and all(
            getattr(line, "sku", None) in (None, *catalog.skus)
            and getattr(line, "gtin", None) in (None, catalog.skus[line.sku].gtin)
            for line in lines
        )
        assert not known, message


def test_the_history_is_the_same_for_the_same_seed(played):
    catalog, _sim, events, _ledger, _results = played
    again = RestaurantSimulation(catalog, seed=7, demand_scale=0.5)
    first_day = list(again.history(START, 1))
    assert [e.model_dump_json() for e in first_day] == [e.model_dump_json() for e in events[: len(first_day)]]
    other = list(RestaurantSimulation(catalog, seed=8, demand_scale=0.5).history(START, 1))
    assert [e.model_dump_json() for e in other] != [e.model_dump_json() for e in first_day]


def test_the_central_kitchen_buys_and_the_stores_receive_by_transfer(played):
    catalog, _sim, events, _ledger, _results = played
    first_day_open = [
        e for e in events if e.event_type == "goods_receipt" and e.purchase_order.startswith("OPEN-")
    ]
    bought = [e for e in events if e.event_type == "goods_receipt" and e not in first_day_open]
    assert bought and {e.location for e in bought} == {CENTRAL_KITCHEN}
    assert {e.location for e in events if e.event_type == "purchase_order"} == {CENTRAL_KITCHEN}
    moved = [e for e in events if e.event_type == "transfer_out"]
    assert {e.from_location for e in moved} == {CENTRAL_KITCHEN}
    assert {e.to_location for e in moved} == {
        s for s, loc in catalog.locations.items() if loc.kind == "store"
    }


def test_dish_sales_take_their_recipe_and_the_variant_store_its_own(played):
    catalog, _sim, events, _ledger, results = played
    beef_per_portion = {}
    for event in events:
        if event.event_type != "pos_sale" or event.channel is SalesChannel.GROUP_MEAL:
            continue
        for number, line in enumerate(event.lines, 1):
            if line.sku != "DISH-BEEF-NOODLE":
                continue
            rows = [
                m for m in results[event.event_id].movements if m.event_id == f"{event.event_id}:{number}"
            ]
            dish_row = [m for m in rows if m.key.sku == line.sku]
            assert dish_row and dish_row[0].portions == int(line.qty) and dish_row[0].on_hand_delta == 0
            beef = -sum(m.on_hand_delta for m in rows if m.key.sku == "ING-BEEF")
            assert all(m.on_hand_delta < 0 for m in rows if m.key.sku.startswith(("ING-", "SEMI-")))
            if line.qty == 1:
                beef_per_portion[event.store] = beef
    # 90 g of beef that loses 15% in trimming at every store but the Sichuan one: 100 g
    assert beef_per_portion["R01"] == 106 and beef_per_portion[VARIANT_STORE] == 118


def test_preps_make_batches_every_morning_and_leftover_broth_is_thrown_away(played):
    catalog, sim, events, ledger, _results = played
    preps = [e for e in events if e.event_type == "prep_produced"]
    made = Counter((e.location, e.sku, e.occurred_at.date()) for e in preps)
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        for store in ("R01", "R02", "R03"):
            for semi in ("SEMI-BROTH", "SEMI-DOUGH", "SEMI-TEA"):
                assert made[(store, semi, day)] >= 1, (store, semi, day)
    broth = next(e for e in preps if e.sku == "SEMI-BROTH")
    assert broth.batch and broth.unit == "l"
    assert ledger.batch_expiry(
        broth.location, broth.sku, broth.batch
    ) == broth.occurred_at.date() + timedelta(days=1)
    thrown = [
        e
        for e in events
        if e.event_type == "stock_adjustment" and e.sku == "SEMI-BROTH" and e.reason == "expired"
    ]
    assert thrown and all(e.occurred_at.hour >= 21 for e in thrown)


def test_every_store_counts_its_main_ingredients_every_night_a_little_short(played):
    catalog, sim, events, _ledger, _results = played
    counts = [e for e in events if e.event_type == "cycle_count"]
    counted = Counter((e.location, e.occurred_at.date()) for e in counts)
    for offset in range(DAYS):
        for store in ("R01", "R02", "R03"):
            assert counted[(store, START + timedelta(days=offset))] >= 8
    assert {e.sku for e in counts} >= {"ING-PORK", "ING-BEEF", "ING-CHICKEN", "ING-MILK", "SEMI-DOUGH"}
    assert all(e.occurred_at.hour >= 22 for e in counts if e.location != CENTRAL_KITCHEN)
    found = [a.qty for a in sim.count_variances.values()]
    assert len(found) > len(counts) / 3 and sum(q < 0 for q in found) > 0.7 * len(found)
    assert all(a.event_id.endswith(":variance") for a in sim.count_variances.values())
    # not sent: the reconciliation posts them
    assert not {a.event_id for a in sim.count_variances.values()} & {e.event_id for e in events}


def test_tills_sell_through_every_channel_with_lunch_and_evening_peaks(played):
    _catalog, _sim, events, _ledger, _results = played
    sales = [e for e in events if e.event_type == "pos_sale"]
    assert {e.channel for e in sales} == {
        SalesChannel.DINE_IN,
        SalesChannel.TAKEOUT,
        SalesChannel.DELIVERY,
        SalesChannel.GROUP_MEAL,
    }
    by_hour = Counter(e.occurred_at.hour for e in sales if e.channel is not SalesChannel.GROUP_MEAL)
    assert by_hour[12] > 2.5 * by_hour[15] and by_hour[18] > 2 * by_hour[15] and by_hour[12] > by_hour[10]
    assert min(by_hour) >= 10 and max(by_hour) <= 21
    group = [e for e in sales if e.channel is SalesChannel.GROUP_MEAL]
    ordered = {e.order for e in events if e.event_type == "group_meal_order"}
    assert all(e.order in ordered and e.customer for e in group)
    refunds = [e for e in events if e.event_type == "pos_return"]
    assert {e.restock_ingredients for e in refunds} == {True, False}


def test_planning_explodes_the_brands_demand_into_its_ingredients(played):
    catalog, sim, _events, _ledger, _results = played
    day = START + timedelta(days=1)
    forecasts = {(store, code, day): units for (store, code), units in sim.expected_demand(day).items()}
    planned = planned_demand(catalog, forecasts)
    assert not planned.unexploded
    assert all(catalog.skus[code].kind is not SkuKind.DISH for _, code, _ in planned.demand)
    usage = sim._usage("R01", day)  # what the central kitchen sends and the kitchen preps for
    for code in ("ING-BEEF", "ING-FLOUR", "ING-BONE", "ING-MILK", "SEMI-BROTH"):
        assert planned.demand[("R01", code, day)] == pytest.approx(usage[code], rel=0.01, abs=2)


# ------------------------------------------------------------------------------ `stockflow up`
class _Started(Exception):
    """`up` got past its checks: it would start the stack with these settings."""


@pytest.fixture
def up(tmp_path, monkeypatch):
    """Run `stockflow up ARGS` until it would start anything; return (exit code, output, the
    settings it would start with)."""
    import cli.supervisor as supervisor
    from cli.main import app
    from stockflow.config import get_settings

    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    monkeypatch.delenv("STOCKFLOW_SIMULATED_COMPANY", raising=False)
    monkeypatch.delenv("STOCKFLOW_SIMULATED", raising=False)
    get_settings.cache_clear()
    request_finalizer = get_settings.cache_clear
    seen: dict[str, Settings] = {}

    def record_run(settings, ports):
        seen["settings"] = settings
        raise _Started

    def wipe(settings):
        assert settings.var_dir.resolve().is_relative_to(tmp_path.resolve())  # never a real var/
        wiped(settings)

    wiped = supervisor.wipe
    monkeypatch.setattr(supervisor, "record_run", record_run)
    monkeypatch.setattr(supervisor, "held_ports", lambda ports: [])
    monkeypatch.setattr(supervisor, "wipe", wipe)

    def run(*args: str) -> tuple[int, str, Settings | None]:
        seen.clear()
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["up", *args])
        finally:
            os.environ.pop("STOCKFLOW_SIMULATED_COMPANY", None)  # `up` sets it for what it starts
        started = isinstance(result.exception, _Started)
        return (0 if started else result.exit_code), result.output, seen.get("settings")

    yield run
    request_finalizer()  # the settings of the environment again


def test_up_plays_the_restaurant_when_asked_and_the_retail_company_by_default(up, tmp_path):
    code, _, settings = up("--company", "restaurant")
    assert code == 0 and settings.simulated_company is SimulatedCompany.RESTAURANT
    code, _, settings = up()
    assert code == 0 and settings.simulated_company is SimulatedCompany.RETAIL


def test_up_keeps_to_the_company_var_holds(up, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / "simulation.json").write_text(
        json.dumps({"company": "restaurant", "seed": 7, "start": "2026-03-02"})
    )
    code, _, settings = up()  # no choice made: the one var/ holds
    assert code == 0 and settings.simulated_company is SimulatedCompany.RESTAURANT
    code, output, settings = up("--company", "retail")
    assert code == 1 and settings is None and "holds the simulated restaurant company" in output
    code, _, settings = up("--company", "retail", "--fresh")  # var/ is wiped first
    assert code == 0 and settings.simulated_company is SimulatedCompany.RETAIL


def test_a_company_of_ones_own_takes_no_simulated_company(up):
    code, output, settings = up("--own-company", "--company", "restaurant")
    assert code == 2 and settings is None and "--company picks a simulated company" in output


def test_the_simulator_records_the_restaurant_and_refuses_to_mix_companies(tmp_path):
    from simulator.run import CompanyMismatch, choose_company, prepare_company, simulated_company_in

    settings = Settings(_env_file=None, var_dir=tmp_path / "var", simulated_company="restaurant")
    catalog = prepare_company(settings)
    assert simulated_company_in(settings) is SimulatedCompany.RESTAURANT
    assert catalog.recipes and CENTRAL_KITCHEN in catalog.locations
    with pytest.raises(CompanyMismatch):
        prepare_company(settings.model_copy(update={"simulated_company": SimulatedCompany.RETAIL}))
    with pytest.raises(CompanyMismatch):
        choose_company(Settings(_env_file=None, var_dir=tmp_path / "var"), SimulatedCompany.RETAIL)
    retail = Settings(_env_file=None, var_dir=tmp_path / "other")
    assert simulated_company_in(retail) is None
    assert choose_company(retail).simulated_company is SimulatedCompany.RETAIL


def test_no_refusal_over_a_public_holiday_with_another_seed(played):
    catalog, _sim, _events, _ledger, _results = played
    sim = RestaurantSimulation(catalog, seed=3, demand_scale=0.5)
    ledger = Ledger(catalog)
    refused, ordered = [], Counter()
    for event in sim.history(date(2026, 4, 30), 2):  # May Day: a public holiday
        if event.event_type == "group_meal_order":
            ordered[event.serve_date] += 1
        try:
            for follow in ledger.apply(event).follow_ups:
                ledger.apply(follow)
        except StockRejected as exc:
            refused.append((event.event_type, exc))
        if event.event_id in sim.count_variances:
            ledger.apply(sim.count_variances[event.event_id])
    assert not refused and not sim.refused
    assert ordered[date(2026, 4, 30)] and not ordered[date(2026, 5, 1)]  # no group meals on a holiday
