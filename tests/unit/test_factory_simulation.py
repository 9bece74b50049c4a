"""The simulated factory (`simulator.factory`): its master data passes the core's BOM rules, a
week of its work orders applies cleanly through the stock ledger (the production mistakes it
mixes in refused with their reasons), every order it releases is closed, an in-house order
takes exactly its BOM's materials, and `stockflow up --company factory` plays it."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from simulator.factory import (
    APPROVED_FROM,
    PLANT,
    SUBCONTRACTOR,
    WAREHOUSE,
    WITHDRAWN_AFTER,
    FactorySimulation,
    ProductionMistake,
    build_factory_catalog,
)
from stockflow.config import Settings, SimulatedCompany
from stockflow.events import EventRejected, parse_event
from stockflow.ledger import Ledger
from stockflow.masterdata import Catalog, LocationKind
from stockflow.production import bom_problems

START = date(2026, 3, 2)  # a Monday
DAYS = 7


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_factory_catalog(7)


@pytest.fixture(scope="module")
def played(catalog):
    """A week of the factory, and every event applied to a ledger of its own as a worker
    would, each count's variance after its count (what the reconciliation posts)."""
    sim = FactorySimulation(catalog, seed=7)
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
    return sim, events, ledger, results


def positions(ledger: Ledger) -> dict:
    return {k: p.as_dict() for k, p in ledger.positions() if not p.is_empty()}


def _levels(catalog: Catalog, product: str) -> int:
    bom = catalog.bom_for(product, START)
    if bom is None:
        return 0
    return 1 + max(_levels(catalog, line.sku) for line in bom.lines)


def test_the_master_data_is_a_factory_and_passes_the_bom_rules(catalog):
    assert catalog == build_factory_catalog(7)
    made = {b.product for b in catalog.boms.values()}
    bought = [s for s in catalog.skus.values() if s.sku not in made]
    products = [s for s in catalog.skus.values() if s.category == "finished_goods"]
    assert len(bought) == 300 and len(products) == 30
    assert all(s.supplier in catalog.suppliers for s in bought)
    assert {catalog.suppliers[s.supplier].lead_time_days for s in bought} >= {2, 4, 7}
    places = Counter(loc.kind for loc in catalog.locations.values())
    assert places == {LocationKind.PLANT: 1, LocationKind.WAREHOUSE: 1, LocationKind.SUBCONTRACTOR: 1}
    for bom in catalog.boms.values():
        assert bom_problems(catalog, bom, START) == [], bom.product
    depth = Counter(_levels(catalog, p.sku) for p in products)
    assert set(depth) <= {2, 3} and depth[3] > 0 and depth[2] > 0
    lines = [line for bom in catalog.boms.values() for line in bom.lines]
    assert sum(line.scrap_rate > 0 for line in lines) > 50
    substitutes = [s for line in lines for s in line.substitutes]
    assert {s.priority for s in substitutes} == {1, 2}
    assert any(s.valid_from == APPROVED_FROM for s in substitutes)
    assert any(s.valid_to == WITHDRAWN_AFTER for s in substitutes)
    routed = [b for b in catalog.boms.values() if b.operations]
    assert all(op.labour_rate > 0 and op.overhead_rate > 0 for b in routed for op in b.operations)
    # a product costs its materials, its hours and the painter's fee, more than its parts alone
    assert catalog.skus["DSK-1400-WM"].standard_cost > catalog.skus["SA-TOP-1400-WM"].standard_cost
    # the component count is a parameter; the products and their BOMs stay whole
    small = build_factory_catalog(7, n_components=150, n_products=8)
    assert sum(1 for s in small.skus.values() if not small.has_bom(s.sku)) == 150
    assert all(bom_problems(small, b, START) == [] for b in small.boms.values())
    assert {s.category for s in small.skus.values() if s.category == "finished_goods"}


def test_a_week_applies_cleanly_through_the_ledger_and_ends_where_the_simulator_says(played):
    sim, events, ledger, results = played
    assert not sim.refused
    assert not [e.event_id for e in events if results[e.event_id].negative_stock]
    assert positions(ledger) == positions(sim.ledger)
    types = Counter(e.event_type for e in events)
    for needed in (
        "purchase_order",
        "goods_receipt",
        "work_order_released",
        "material_issued",
        "operation_reported",
        "production_receipt",
        "work_order_closed",
        "transfer_out",
        "transfer_in",
        "sales_issue",
        "cycle_count",
        "temperature_reading",
    ):
        assert types[needed] > 0, needed
    for event in events:
        assert event.occurred_at.tzinfo is not None
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    bought = [e for e in events if e.event_type == "goods_receipt"]
    assert {e.location for e in bought} == {PLANT} and all(e.unit_cost > 0 for e in bought)
    assert {e.location for e in events if e.event_type == "sales_issue"} == {WAREHOUSE}
    for message in sim.messages(events[:1500]):
        assert parse_event(message.value, message.topic).location_id == message.key


def test_the_history_is_the_same_for_the_same_seed(catalog, played):
    _sim, events, _ledger, _results = played
    first_days = list(FactorySimulation(catalog, seed=7).history(START, 2))
    assert [e.model_dump_json() for e in first_days] == [
        e.model_dump_json() for e in events[: len(first_days)]
    ]
    other = list(FactorySimulation(catalog, seed=8).history(START, 2))
    assert [e.model_dump_json() for e in other] != [e.model_dump_json() for e in first_days]


def test_work_orders_are_backflushed_issued_or_subcontracted_and_all_close(catalog, played):
    sim, events, ledger, _results = played
    released = [e for e in events if e.event_type == "work_order_released"]
    assert {e.backflush for e in released} == {True, False}
    painted = [e for e in released if e.subcontractor]
    assert painted and {e.subcontractor for e in painted} == {SUBCONTRACTOR}
    fees = [e for e in events if e.event_type == "production_receipt" and e.service_fee]
    assert fees and {e.work_order for e in fees} <= {e.work_order for e in painted}
    sub_levels = {catalog.skus[e.product].category for e in released}
    assert sub_levels == {"finished_goods", "sub_assemblies"}
    last_day = START + timedelta(days=DAYS - 1)
    closed = {e.work_order for e in events if e.event_type == "work_order_closed"}
    for event in released:
        order = ledger.work_order(event.work_order)
        assert 0 <= order.received <= order.qty
        if event.occurred_at.date() <= last_day - timedelta(days=3):
            assert event.work_order in closed, event.work_order
    assert len(closed) > 0.9 * len(released)
    # batches: more receipts than orders, and nothing after an order is closed
    receipts = Counter(e.work_order for e in events if e.event_type == "production_receipt")
    assert sum(receipts.values()) > 1.5 * len(receipts)
    closed_at = {e.work_order: e.occurred_at for e in events if e.event_type == "work_order_closed"}
    for event in events:
        order = getattr(event, "work_order", None)
        if order in closed_at and event.event_type != "work_order_closed":
            assert event.occurred_at <= closed_at[order]
    hours = [e.hours for e in events if e.event_type == "operation_reported"]
    assert all(h > 0 for h in hours)


def _oracle(catalog: Catalog, product: str, qty: int, day: date) -> dict[str, int]:
    """Base units per BOM line a completed order of `qty` takes: qty × per unit × (1 + scrap),
    rounded up once per line."""
    bom = catalog.bom_for(product, day)
    out = {}
    for line in bom.lines:
        sku = catalog.skus[line.sku]
        factor = {sku.base_unit: 1, **sku.packs}[line.unit or sku.base_unit]
        need = (
            Fraction(qty)
            * Fraction(line.qty)
            * factor
            / Fraction(bom.base_qty)
            * (1 + Fraction(line.scrap_rate))
        )
        out[line.sku] = math.ceil(need)
    return out


def test_an_in_house_order_takes_its_bom_times_its_quantity_with_scrap(catalog, played):
    sim, events, ledger, results = played
    issued: dict[str, Counter] = {}
    for event in events:
        if event.event_type == "material_issued":
            sku = catalog.skus[event.sku]
            units = int(event.qty * {sku.base_unit: 1, **sku.packs}[event.unit])
            issued.setdefault(event.work_order, Counter())[event.sku] += units
        elif event.event_type == "production_receipt":  # backflushed materials: its rows
            for move in results[event.event_id].movements:
                if move.key.sku != ledger.work_order(event.work_order).product and move.on_hand_delta < 0:
                    issued.setdefault(event.work_order, Counter())[move.key.sku] -= move.on_hand_delta
    checked = {"backflush": 0, "issue": 0}
    substituted = 0
    for event in events:
        if event.event_type != "work_order_released" or event.subcontractor:
            continue
        order = ledger.work_order(event.work_order)
        taken = dict(issued.get(event.work_order, {}))
        expected = _oracle(catalog, event.product, order.qty, order.bom_day)
        if set(taken) - set(expected):
            substituted += 1
            continue
        if not order.closed or order.received != order.qty:
            continue
        assert taken == expected, event.work_order
        assert order.issued == expected
        checked["backflush" if event.backflush else "issue"] += 1
    assert checked["backflush"] >= 3 and checked["issue"] >= 20
    assert substituted >= 1  # a substitute stood in for a short material


def test_a_substitute_stands_in_only_when_valid_and_at_its_ratio(catalog, played):
    _sim, events, ledger, _results = played
    used = Counter()
    for event in events:
        if event.event_type != "material_issued":
            continue
        order = ledger.work_order(event.work_order)
        bom = catalog.bom_for(order.product, order.bom_day)
        if bom.line(event.sku) is not None:
            continue
        lines = [line for line in bom.lines for s in line.substitutes if s.sku == event.sku]
        assert len(lines) == 1
        substitute = next(s for s in lines[0].substitutes if s.sku == event.sku)
        assert substitute.valid_on(order.bom_day)
        used[event.sku] += 1
    assert used and "BD-TAPE" not in used  # withdrawn before the simulated days


def test_bad_messages_and_production_mistakes_end_refused_and_the_rest_is_taken(catalog, played):
    sim, events, _ledger, _results = played
    messages = list(sim.messages(events, bad_ratio=0.05))
    ledger = Ledger(catalog)
    refused: Counter = Counter()
    kinds = Counter(m.kind for m in messages)
    for message in messages:
        try:
            event = parse_event(message.value, message.topic)
            result = ledger.apply(event)
        except EventRejected as exc:
            assert message.is_bad, (message.kind, exc)
            if isinstance(message.kind, ProductionMistake):
                assert exc.reason == message.kind.value, (message.kind, exc)
            refused[message.kind] += 1
            continue
        assert not message.is_bad, message
        for follow in result.follow_ups:
            ledger.apply(follow)
        if not result.duplicate and event.event_id in sim.count_variances:
            ledger.apply(sim.count_variances[event.event_id])
    for mistake in ProductionMistake:
        assert kinds[mistake] > 0 and refused[mistake] == kinds[mistake], mistake
    assert sum(refused.values()) == sum(1 for m in messages if m.is_bad)
    assert positions(ledger) == positions(sim.ledger)


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
    seen: dict[str, Settings] = {}

    def record_run(settings, ports):
        seen["settings"] = settings
        raise _Started

    monkeypatch.setattr(supervisor, "record_run", record_run)
    monkeypatch.setattr(supervisor, "held_ports", lambda ports: [])

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, Settings | None]:
        seen.clear()
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["up", *args], env=env)
        finally:
            os.environ.pop("STOCKFLOW_SIMULATED_COMPANY", None)  # `up` sets it for what it starts
        started = isinstance(result.exception, _Started)
        return (0 if started else result.exit_code), result.output, seen.get("settings")

    yield run
    get_settings.cache_clear()


def test_up_plays_the_factory_when_asked_or_set(up, tmp_path):
    code, _, settings = up("--company", "factory")
    assert code == 0 and settings.simulated_company is SimulatedCompany.FACTORY
    code, _, settings = up(env={"STOCKFLOW_SIMULATED_COMPANY": "factory"})
    assert code == 0 and settings.simulated_company is SimulatedCompany.FACTORY


def test_up_keeps_to_the_factory_var_holds(up, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / "simulation.json").write_text(json.dumps({"company": "factory", "seed": 7, "start": "2026-03-02"}))
    code, _, settings = up()
    assert code == 0 and settings.simulated_company is SimulatedCompany.FACTORY
    code, output, settings = up("--company", "restaurant")
    assert code == 1 and settings is None and "holds the simulated factory company" in output


def test_the_simulator_records_the_factory_with_its_boms(tmp_path):
    from simulator.run import CompanyMismatch, company_simulation, prepare_company, simulated_company_in

    settings = Settings(_env_file=None, var_dir=tmp_path / "var", simulated_company="factory")
    catalog = prepare_company(settings)
    assert simulated_company_in(settings) is SimulatedCompany.FACTORY
    assert catalog.boms == build_factory_catalog(settings.seed).boms and PLANT in catalog.locations
    assert Catalog.load(settings.masterdata_path).boms == catalog.boms  # what the workers read
    from stores.masterdata import MasterDataFiles

    logged = MasterDataFiles(settings.masterdata_path, settings.lake_dir).changes_after(0)
    assert {c.record.key for c in logged if c.event_type == "bom_set"} == set(
        catalog.boms
    )  # in the change log
    assert isinstance(company_simulation(settings, catalog), FactorySimulation)
    with pytest.raises(CompanyMismatch):
        prepare_company(settings.model_copy(update={"simulated_company": SimulatedCompany.RETAIL}))


def test_the_factory_keeps_its_money_in_decimals(played):
    _sim, events, _ledger, _results = played
    for event in events:
        for name in ("unit_cost", "service_fee", "hours"):
            value = getattr(event, name, None)
            assert value is None or isinstance(value, Decimal)
