import json
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from simulator.company import MessageKind, Simulation, build_catalog
from stockflow.events import Topic, parse_event
from stockflow.masterdata import Category, validate_gtin

START = date(2026, 6, 1)


def test_catalog_is_deterministic_and_valid():
    a, b = build_catalog(3), build_catalog(3)
    assert a == b and a != build_catalog(4)
    assert len(a.skus) == 300
    assert {s.category for s in a.skus.values()} == set(Category)
    for sku in a.skus.values():
        assert validate_gtin(sku.gtin) == sku.gtin
        if sku.category is Category.CHILLED_FOOD:
            assert sku.batch_managed and sku.is_cold_chain and sku.shelf_life_days
    kinds = Counter(loc.kind for loc in a.locations.values())
    assert kinds["warehouse"] == 2 and kinds["store"] == 6


def test_history_is_deterministic_and_every_event_is_valid():
    catalog = build_catalog(5)
    first = [
        m.value for m in Simulation(catalog, seed=5).messages(Simulation(catalog, seed=5).history(START, 2))
    ]
    sim = Simulation(catalog, seed=5)
    msgs = list(sim.messages(sim.history(START, 2)))
    assert [m.value for m in msgs] == first
    types = Counter()
    for m in msgs:
        ev = parse_event(m.value, m.topic)
        types[ev.event_type] += 1
        assert m.key == ev.location_id
    for needed in (
        "goods_receipt",
        "pos_sale",
        "transfer_out",
        "transfer_in",
        "temperature_reading",
        "cycle_count",
    ):
        assert types[needed] > 0, needed


def test_weekends_sell_more_than_weekdays():
    catalog = build_catalog(7)
    sim = Simulation(catalog, seed=7)
    sim.opening_stock(START)
    tickets = {}
    for offset in range(7):
        day = date.fromordinal(START.toordinal() + offset)
        tickets[day.weekday()] = sum(1 for e in sim.day(day) if e.event_type == "pos_sale")
    assert tickets[5] > tickets[1] * 1.3  # Saturday vs Tuesday


def test_bad_messages_in_the_chosen_proportion():
    catalog = build_catalog(7)
    sim = Simulation(catalog, seed=7)
    events = list(sim.history(START, 2))
    msgs = list(sim.messages(events, bad_ratio=0.1))
    kinds = Counter(m.kind for m in msgs)
    bad_share = sum(kinds[k] for k in MessageKind if k is not MessageKind.OK) / len(events)
    assert 0.07 < bad_share < 0.13
    for m in msgs:
        if m.kind is MessageKind.MALFORMED_JSON:
            try:
                json.loads(m.value)
            except ValueError:
                continue
            raise AssertionError("malformed message parsed")
        if m.kind is MessageKind.INVALID_GTIN:
            data = json.loads(m.value)
            gtin = (data["lines"][0] if "lines" in data else data)["gtin"]
            try:
                validate_gtin(gtin)
            except ValueError:
                continue
            raise AssertionError(f"{gtin} should be invalid")
    assert {m.topic for m in msgs} <= {t.value for t in Topic}


def test_live_days_are_stamped_now_with_ids_unique_to_the_run():
    from datetime import UTC, datetime, timedelta
    from itertools import islice

    catalog = build_catalog(7)
    sim = Simulation(catalog, seed=7)
    history_ids = {e.event_id for e in sim.history(START, 1)}
    clock = iter(datetime(2026, 11, 22, 9, tzinfo=UTC) + timedelta(seconds=i) for i in range(10**6))
    live = list(islice(sim.live(START + timedelta(days=1), lambda: next(clock)), 500))
    assert all(e.occurred_at.year == 2026 and e.occurred_at.month == 11 for e in live)
    assert [e.occurred_at for e in live] == sorted(e.occurred_at for e in live)
    ids = [e.event_id for e in live]
    assert len(set(ids)) == len(ids) and not set(ids) & history_ids
    assert all(i.endswith("-261122090000") for i in ids)


def test_demand_history_follows_the_tills_drivers():
    sim = Simulation(build_catalog(3, n_skus=40, n_stores=2, n_warehouses=1), seed=3)
    saturday, tuesday = date(2026, 3, 7), date(2026, 3, 3)
    expected = sim.expected_demand(saturday)
    store = sim.stores[0].location
    # all of a store's SKUs: its tickets × 2 draws per ticket × 1.25 units per draw
    tickets = 180 * sim.store_size[store] * 1.45
    assert sum(v for (s, _), v in expected.items() if s == store) == pytest.approx(tickets * 2 * 1.25)
    assert sum(expected.values()) > sum(sim.expected_demand(tuesday).values())
    history = sim.demand_history(date(2026, 3, 2), 28)
    assert history == Simulation(sim.catalog, seed=3).demand_history(date(2026, 3, 2), 28)  # by seed
    assert all(len(days) == 28 for days in history.values())
    weekly = [sum(days[i] for days in history.values()) for i in range(28)]
    assert sum(weekly[5::7]) > sum(weekly[1::7])  # Saturdays sell more than Tuesdays


def test_the_dock_camera_inspects_every_received_pallet_and_quality_decides_the_same_day():
    from stockflow.events import HoldAction, InspectionVerdict
    from stockflow.processing import StockProcessor
    from stockflow.risk import RiskLevel, supplier_risk

    catalog = build_catalog(7)
    sim = Simulation(catalog, seed=7, excursion_holds=True)
    events = list(sim.history(START, 21))
    receipts = {
        e.event_id: e
        for e in events
        if e.event_type == "goods_receipt" and not e.purchase_order.startswith("OPEN-")
    }
    inspections = [e for e in events if e.event_type == "pallet_inspected"]
    # one inspection per pallet a warehouse received from a supplier, none at the stores
    assert sorted(i.event_id for i in inspections) == sorted(f"INS-{r}" for r in receipts)
    assert all(
        i.location in sim.docks and i.supplier == receipts[i.event_id[4:]].supplier for i in inspections
    )
    verdicts = Counter(i.verdict for i in inspections)
    assert verdicts[InspectionVerdict.QUARANTINE] and verdicts[InspectionVerdict.MANUAL_REVIEW]
    assert all((i.damaged_cartons > 0) == (i.verdict is InspectionVerdict.QUARANTINE) for i in inspections)

    # the quality check scraps exactly the damaged cartons and releases the rest: nothing stays held
    holds = [e for e in events if e.event_type == "quality_hold"]
    for i in (i for i in inspections if i.verdict is InspectionVerdict.QUARANTINE):
        scrap = next(h for h in holds if h.event_id == f"QS-{i.event_id}")
        assert scrap.action is HoldAction.SCRAP
        assert scrap.qty == i.damaged_cartons * catalog.skus[i.sku].packs.get("case", 1)
    assert {
        h.event_id[3:] for h in holds if h.action is HoldAction.RELEASE and h.event_id.startswith("QR-")
    } <= {i.event_id for i in inspections if i.verdict is not InspectionVerdict.ACCEPT}
    # what an excursion held (the stream's holds) is released once the room is back in range
    excursion_releases = [h for h in holds if h.event_id.startswith("QX-excursion-hold:")]
    assert excursion_releases and all(h.action is HoldAction.RELEASE for h in excursion_releases)
    assert sum(p.quarantined for _, p in sim.ledger.positions()) == 0
    # the events replay into a fresh processor (the stream's holds with them) without a rejection
    replayed = StockProcessor(catalog, excursion_holds=True)
    for e in events:
        for follow in replayed.process(e).follow_ups:
            replayed.process(follow)
    assert dict(replayed.ledger.positions()) == dict(sim.ledger.positions())

    # the careless suppliers are the ones the risk score ranks high
    careless = {s for s, rate in sim.pallet_damage.items() if rate >= 0.15}
    scores = supplier_risk(inspections, datetime.combine(START, time(0), UTC) + timedelta(days=21))
    assert careless and {s for s, r in scores.items() if r.level is RiskLevel.HIGH} == careless
