"""Replenishment maths: golden cases and the edges (no demand, one sale, a new SKU)."""

import math
from datetime import UTC, date, datetime

import pytest

from stockflow.events import parse_event
from stockflow.masterdata import Catalog, Location, LocationKind
from stockflow.replenishment import (
    BatchStock,
    DemandEstimate,
    DemandSource,
    LeadTime,
    Policy,
    SeriesInput,
    Site,
    StockPosition,
    SuggestionError,
    SuggestionStatus,
    check_suggestion_decision,
    holiday_coefficient,
    order_by_date,
    plan,
    purchase_order_event,
    round_to_packs,
    safety_stock,
    service_factor,
    suggest_order,
    suggest_transfers,
    transfer_event,
)

TODAY = date(2026, 3, 2)


def test_safety_stock_golden_case():
    # z(95%) = 1.6449; L = 4 ± 1 days, d = 10 ± 3 a day: sqrt(4·9 + 100·1) = sqrt(136)
    demand = DemandEstimate(10, 3, DemandSource.HISTORY)
    lead = LeadTime(4, 1, 5)
    assert service_factor(0.95) == pytest.approx(1.644854, abs=1e-6)
    assert safety_stock(demand, lead) == pytest.approx(19.18212, abs=1e-5)  # 1.644854 × 11.66190
    policy = Policy.compute(demand, lead)
    assert policy.reorder_point == math.ceil(40 + 1.644854 * math.sqrt(136))  # 60
    assert policy.order_up_to == 60 + 70


def test_a_holiday_scales_demand_and_its_volatility():
    demand = DemandEstimate(10, 3, DemandSource.FORECAST)
    lead = LeadTime(4, 1, 5)
    assert safety_stock(demand, lead, holiday_coefficient=1.5) == pytest.approx(
        1.5 * safety_stock(demand, lead)
    )
    assert (
        Policy.compute(demand, lead, holiday_coefficient=1.5).reorder_point
        > Policy.compute(demand, lead).reorder_point
    )
    with pytest.raises(ValueError):
        safety_stock(demand, lead, holiday_coefficient=0.5)
    with pytest.raises(ValueError):
        service_factor(1.0)


def test_demand_comes_from_the_forecast_else_history_else_a_prior():
    history = [0, 4, 6, 5, 5, 4, 6, 0, 5, 5]
    assert DemandEstimate.from_history(history, forecast_mean=7).mean == 7
    from_history = DemandEstimate.from_history(history)
    assert from_history.source is DemandSource.HISTORY and from_history.mean == pytest.approx(4.0)
    # volatility from the last 7 days only
    import statistics

    assert from_history.std == pytest.approx(statistics.stdev(history[-7:]))
    new_sku = DemandEstimate.from_history([], prior_mean=3)
    assert (new_sku.mean, new_sku.std, new_sku.source) == (3, 3, DemandSource.PRIOR)
    assert DemandEstimate.from_history([]) == DemandEstimate(0, 0, DemandSource.NONE)


def test_lead_time_from_receipts_else_the_quoted_one():
    assert LeadTime.from_receipts([3, 5, 4], quoted_days=2) == LeadTime(4, 1, 3)
    assert LeadTime.from_receipts([], quoted_days=4) == LeadTime(4, 1, 0)  # σL = 25% of L
    assert LeadTime.from_receipts([6], quoted_days=4) == LeadTime(6, 1.5, 1)


def test_order_rounds_up_to_packs_and_the_moq():
    assert round_to_packs(120, pack_size=24) == 120
    assert round_to_packs(121, pack_size=24) == 144
    assert round_to_packs(10, pack_size=6, moq=50) == 54
    assert round_to_packs(0, pack_size=6, moq=50) == 0
    policy = Policy.compute(DemandEstimate(10, 3, DemandSource.HISTORY), LeadTime(4, 1, 5))
    order = suggest_order(
        "ST01", "DRY-1", "SUP1", StockPosition(on_hand=15, reserved=5), policy, TODAY, pack_size=24
    )
    assert order is not None
    assert order.quantity == 120 and order.quantity % 24 == 0 and order.inventory_position == 10
    assert order.expected_arrival == date(2026, 3, 6)
    # in transit and on order count: no order while the position is above the reorder point
    assert (
        suggest_order(
            "ST01", "DRY-1", "SUP1", StockPosition(15, 5, in_transit=40, on_order=20), policy, TODAY
        )
        is None
    )


def test_order_by_date_is_when_the_position_reaches_the_reorder_point():
    policy = Policy.compute(DemandEstimate(10, 3, DemandSource.HISTORY), LeadTime(4, 1, 5))  # ROP 60
    assert order_by_date(StockPosition(on_hand=100), policy, TODAY) == date(2026, 3, 6)  # 40 units, 4 days
    assert order_by_date(StockPosition(on_hand=60), policy, TODAY) == TODAY
    assert order_by_date(StockPosition(on_hand=5), policy, TODAY) == TODAY


def test_zero_demand_orders_nothing_and_never_needs_to():
    policy = Policy.compute(DemandEstimate.from_history([0] * 30), LeadTime.from_receipts([], 3))
    assert (policy.reorder_point, policy.order_up_to, policy.safety_stock) == (0, 0, 0)
    assert suggest_order("ST01", "X", "S", StockPosition(on_hand=0), policy, TODAY) is None
    assert order_by_date(StockPosition(on_hand=10), policy, TODAY) is None


def test_a_single_sale_makes_a_cautious_policy():
    policy = Policy.compute(DemandEstimate.from_history([0] * 20 + [7]), LeadTime.from_receipts([], 3))
    assert policy.safety_stock > 0 and policy.reorder_point >= 1
    order = suggest_order("ST01", "X", "S", StockPosition(on_hand=0), policy, TODAY, pack_size=6)
    assert order is not None and order.quantity >= 6


def test_a_new_sku_gets_a_policy_from_its_prior_and_the_master_data_floor():
    no_history = DemandEstimate.from_history([], prior_mean=None)
    policy = Policy.compute(no_history, LeadTime.from_receipts([], 5), minimum_reorder_point=12)
    assert policy.reorder_point == 12  # the master data's reorder point, not 0
    order = suggest_order("ST01", "NEW", "S", StockPosition(on_hand=0), policy, TODAY, pack_size=10, moq=20)
    assert order is not None and order.quantity == 20
    with_prior = Policy.compute(DemandEstimate.from_history([], prior_mean=4), LeadTime.from_receipts([], 5))
    assert with_prior.reorder_point > 20  # 4 a day over 5 days, plus safety stock


def location(code: str, lat: float, lon: float) -> Location:
    return Location(location=code, name=code, kind=LocationKind.STORE, latitude=lat, longitude=lon)


def test_transfers_come_from_the_nearest_surplus_oldest_batch_first():
    policy = Policy.compute(DemandEstimate(10, 3, DemandSource.HISTORY), LeadTime(4, 1, 5))  # ROP 60
    short = Site(location("ST01", 31.23, 121.47), StockPosition(on_hand=20), policy)
    near = Site(  # 8 km away, 100 above its reorder point
        location("ST02", 31.30, 121.50),
        StockPosition(on_hand=160),
        policy,
        (
            BatchStock("B-LATE", 100, date(2026, 6, 1)),
            BatchStock("B-EARLY", 30, date(2026, 3, 20)),
            BatchStock("B-EXPIRING", 30, date(2026, 3, 3)),  # expires before it could arrive
        ),
    )
    far = Site(
        location("ST09", 39.90, 116.40), StockPosition(on_hand=500), policy, (BatchStock("B-FAR", 500),)
    )
    moves = suggest_transfers("CHL-1", [short, near, far], TODAY, radius_km=50)
    assert [(m.from_location, m.batch, m.quantity) for m in moves] == [
        ("ST02", "B-EARLY", 30),
        ("ST02", "B-LATE", 10),
    ]
    assert sum(m.quantity for m in moves) == 40  # up to the reorder point
    assert all(m.to_location == "ST01" and m.distance_km < 50 for m in moves)


def test_a_donor_never_gives_below_its_own_reorder_point():
    policy = Policy.compute(DemandEstimate(10, 3, DemandSource.HISTORY), LeadTime(4, 1, 5))  # ROP 60
    short = Site(location("ST01", 31.23, 121.47), StockPosition(on_hand=0), policy)
    donor = Site(
        location("ST02", 31.30, 121.50),
        StockPosition(on_hand=75, reserved=5),
        policy,
        (BatchStock("B1", 75),),
    )
    moves = suggest_transfers("DRY-1", [short, donor], TODAY)
    assert [m.quantity for m in moves] == [10]  # 70 available, 60 kept
    assert suggest_transfers("DRY-1", [short, donor], TODAY, radius_km=1) == []


def test_the_holiday_coefficient_is_the_largest_in_the_window():
    assert holiday_coefficient(date(2026, 9, 20), 7) == 1.0
    assert holiday_coefficient(date(2026, 9, 28), 7) == 1.7  # 国庆 on 1 October
    assert holiday_coefficient(date(2026, 9, 28), 3) == 1.0


def small_company(catalog: Catalog) -> Catalog:
    """The test catalogue with rice bought from SUP1 in sacks of 4, at least 8 a time."""
    rice = catalog.skus["RICE-5KG"].model_copy(update={"supplier": "SUP1", "moq": 8, "reorder_point": 0})
    store2 = location("S2", 31.30, 121.50)
    return Catalog.build(
        [catalog.skus["MILK-1L"], rice],
        [*catalog.locations.values(), store2],
        list(catalog.suppliers.values()),
    )


def test_plan_transfers_nearby_surplus_first_then_orders_what_is_left(catalog):
    company = small_company(catalog)
    steady = [10.0] * 28  # σd = 0: the safety stock is the lead-time spread alone
    items = [
        SeriesInput("S1", "RICE-5KG", steady, StockPosition(on_hand=5)),
        SeriesInput("S2", "RICE-5KG", steady, StockPosition(on_hand=200), batches=(BatchStock("", 200),)),
        SeriesInput("WH1", "RICE-5KG", [0.0] * 28, StockPosition(on_hand=0)),
        SeriesInput("S1", "NOT-IN-MASTER-DATA", steady, StockPosition(on_hand=0)),
    ]
    result = plan(company, items, TODAY, observed_lead_times={"SUP1": [3, 3, 3]})
    by_location = {s.location: s for s in result.series}
    assert sorted(by_location) == ["S1", "S2", "WH1"]  # the unknown SKU is left out
    s1 = by_location["S1"].policy
    assert (s1.daily_demand, s1.lead_time_days, s1.reorder_point) == (10, 3, 30)  # σL = 0 observed
    ((move),) = result.transfers
    assert (move.from_location, move.to_location, move.quantity) == ("S2", "S1", 25)  # up to ROP 30
    # S1's transfer brings it to its reorder point, which still orders up to S = 30 + 7 × 10
    orders = {o.location: o for o in result.orders}
    assert sorted(orders) == ["S1"]
    assert orders["S1"].quantity == 72 and orders["S1"].supplier == "SUP1"  # 70 in sacks of 4
    # milk has no supplier: a policy, but no order
    milk = plan(company, [SeriesInput("S1", "MILK-1L", steady, StockPosition(on_hand=0))], TODAY)
    assert milk.series and milk.orders == [] and milk.transfers == []


def test_only_a_proposed_suggestion_is_decided_by_someone():
    assert check_suggestion_decision("proposed", "approved", "王经理", "") is SuggestionStatus.APPROVED
    assert (
        check_suggestion_decision("proposed", "rejected", "王经理", "too much") is SuggestionStatus.REJECTED
    )
    for current, decision, reviewer, reason, message in [
        ("approved", "rejected", "a", "b", "already approved"),
        ("expired", "approved", "a", "b", "already expired"),
        ("proposed", "expired", "a", "b", "approves or rejects"),
        ("proposed", "approved", " ", "", "reviewer"),
        ("proposed", "rejected", "a", " ", "reason"),
    ]:
        with pytest.raises(SuggestionError, match=message):
            check_suggestion_decision(current, decision, reviewer, reason)


def test_an_approval_becomes_a_valid_event_with_an_id_from_the_suggestion(catalog):
    company = small_company(catalog)
    result = plan(
        company,
        [
            SeriesInput("S1", "RICE-5KG", [10.0] * 28, StockPosition(on_hand=5)),
            SeriesInput(
                "S2", "RICE-5KG", [10.0] * 28, StockPosition(on_hand=200), batches=(BatchStock("", 200),)
            ),
        ],
        TODAY,
    )
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    po = purchase_order_event("SUG-1-0001", result.orders[0], now, "王经理")
    assert po.event_id == "SUG-1-0001:po" and po.purchase_order == "PO-SUG-1-0001"
    assert (po.location, po.supplier, po.qty, po.expected_date) == (
        "S1",
        "SUP1",
        72,
        date(2026, 3, 5),
    )  # SUP1 quotes 3 days
    move = transfer_event("SUG-1-0002", result.transfers[0], now)
    assert (move.from_location, move.to_location, move.qty, move.batch) == ("S2", "S1", 38, None)
    for event in (po, move):  # what the stream receives validates as the same event
        assert parse_event(event.model_dump_json(), event.topic) == event


def test_a_warehouse_plans_for_what_its_stores_take_as_well_as_its_own_sales():
    only_transfers = SeriesInput("WH1", "RICE-5KG", [], StockPosition(0), transfers_out=[10.0] * 28)
    from stockflow.replenishment import outflow_demand

    assert outflow_demand(only_transfers).mean == 10 and outflow_demand(only_transfers).std == 0
    both = SeriesInput(
        "WH1",
        "RICE-5KG",
        [2.0] * 7,
        StockPosition(0),
        forecast_mean=3.0,
        transfers_out=[0.0] * 21 + [10.0] * 7,
    )
    estimate = outflow_demand(both)
    assert estimate.source is DemandSource.FORECAST
    assert estimate.mean == pytest.approx(3.0 + 70 / 28)  # the forecast plus the transfers' daily mean
    assert estimate.std == 0  # the last 7 days: 2 sold + 10 sent every day


def test_a_frozen_sku_is_moved_but_not_bought_and_a_draft_or_archived_one_neither(catalog):
    """Planning suggests only what the ledger would take: a frozen SKU is sold down (transfers
    yes, purchase orders no); a draft or archived one is left out."""
    from stockflow.masterdata import SkuStatus

    steady = [10.0] * 28
    items = [
        SeriesInput("S1", "RICE-5KG", steady, StockPosition(on_hand=5)),
        SeriesInput("S2", "RICE-5KG", steady, StockPosition(on_hand=200), batches=(BatchStock("", 200),)),
    ]
    found = {}
    for status in SkuStatus:
        company = small_company(catalog)
        company.skus["RICE-5KG"] = company.skus["RICE-5KG"].model_copy(update={"status": status})
        result = plan(company, items, TODAY, observed_lead_times={"SUP1": [3, 3, 3]})
        found[status] = (bool(result.series), bool(result.transfers), bool(result.orders))
    assert found == {
        SkuStatus.ACTIVE: (True, True, True),
        SkuStatus.FROZEN: (True, True, False),
        SkuStatus.DRAFT: (False, False, False),
        SkuStatus.ARCHIVED: (False, False, False),
    }
