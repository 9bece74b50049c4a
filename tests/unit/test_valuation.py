"""Golden cases for FIFO and moving average, computed by hand, including the cases that
commonly go wrong: FIFO drifting to average costs, company-wide instead of per-location FIFO,
valuation after negative stock, back-dated events, returns and transfers."""

import json
from decimal import Decimal as D

import pytest

from stockflow.ledger import Movement, Position
from stockflow.masterdata import ValuationMethod
from stockflow.valuation import Valuation
from tests.unit.conftest import at


@pytest.fixture
def fifo_catalog(catalog):
    rice = catalog.skus["RICE-5KG"].model_copy(
        update={"valuation_method": ValuationMethod.FIFO, "standard_cost": D("1.00")}
    )
    return catalog.model_copy(update={"skus": {**catalog.skus, "RICE-5KG": rice}})


@pytest.fixture
def avg_catalog(catalog):
    rice = catalog.skus["RICE-5KG"].model_copy(update={"standard_cost": D("1.00")})
    return catalog.model_copy(update={"skus": {**catalog.skus, "RICE-5KG": rice}})


_n = 0


def mv(
    event_type,
    qty,
    location="WH1",
    sku="RICE-5KG",
    batch="",
    cost=None,
    reference="",
    counterparty="",
    in_transit=0,
    price=None,
    minutes=0,
):
    """A ledger movement (only the fields valuation reads matter)."""
    global _n
    _n += 1
    return Movement(
        event_id=f"e{_n}",
        event_type=event_type,
        occurred_at=at(minutes),
        location=location,
        sku=sku,
        batch=batch,
        on_hand_delta=qty,
        reserved_delta=0,
        quarantined_delta=0,
        in_transit_delta=in_transit,
        after=Position(),
        reference=reference,
        counterparty=counterparty,
        unit_cost=None if cost is None else D(cost),
        unit_price=None if price is None else D(price),
    )


def receive(v, qty, cost, **kw):
    return v.value(mv("goods_receipt", qty, cost=cost, reference="PO1", counterparty="SUP1", **kw))


def issue(v, qty, **kw):
    return v.value(mv("sales_issue", -qty, reference="SO1", counterparty="C1", **kw))


def test_fifo_issues_take_the_oldest_layers_at_their_own_cost(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00")
    receive(v, 10, "2.00")
    first = issue(v, 15)
    assert first.amount == D("20.00")  # 10 × 1.00 + 5 × 2.00, not 15 × 1.50
    assert (first.qty_after, first.stock_value_after, first.valuation_rate) == (5, D("10.00"), D("2.000000"))
    assert issue(v, 5).amount == D("10.00")
    assert v.on_hand("WH1", "RICE-5KG") == (0, D("0.00"))


def test_fifo_split_of_a_layer_adds_back_to_its_value(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 3, "3.333333")  # booked 10.00
    costs = [issue(v, 1).amount for _ in range(3)]
    assert costs == [D("3.33"), D("3.34"), D("3.33")]
    assert sum(costs) == D("10.00") and v.on_hand("WH1", "RICE-5KG") == (0, D("0.00"))


def test_fifo_is_per_location_not_per_company(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00", location="WH1")
    receive(v, 10, "2.00", location="S1")
    assert issue(v, 5, location="S1").amount == D("10.00")


def test_fifo_is_per_batch_for_batch_managed_skus(catalog):
    v = Valuation(catalog)  # MILK-1L: chilled food → FIFO, batch-managed
    receive(v, 12, "2.00", sku="MILK-1L", batch="B1")
    receive(v, 12, "3.00", sku="MILK-1L", batch="B2")
    # the ledger picked batch B2 (say, it expires first): its cost, not B1's
    assert issue(v, 2, sku="MILK-1L", batch="B2").amount == D("6.00")
    assert v.on_hand("WH1", "MILK-1L") == (22, D("54.00"))


def test_moving_average_re_averages_on_receipt(avg_catalog):
    v = Valuation(avg_catalog)
    receive(v, 10, "1.00")
    receive(v, 10, "2.00")
    out = issue(v, 15)
    assert out.amount == D("22.50") and out.valuation_rate == D("1.500000")
    after = receive(v, 5, "3.00")
    assert (after.qty_after, after.stock_value_after, after.valuation_rate) == (10, D("22.50"), D("2.250000"))


def test_moving_average_rounding_never_leaves_value_on_empty_stock(avg_catalog):
    v = Valuation(avg_catalog)
    receive(v, 3, "3.333333")
    receive(v, 4, "0.01")
    taken = [issue(v, n).amount for n in (2, 2, 3)]
    assert sum(taken) == D("10.04") and v.on_hand("WH1", "RICE-5KG") == (0, D("0.00"))


@pytest.mark.parametrize("method_catalog", ["fifo_catalog", "avg_catalog"])
def test_negative_stock_is_settled_by_the_next_receipt(method_catalog, request):
    v = Valuation(request.getfixturevalue(method_catalog))
    out = issue(v, 5)  # nothing known yet: the standard cost, 1.00
    assert out.provisional and out.amount == D("5.00") and out.qty_after == -5
    back = receive(v, 8, "2.00")
    # 5 units settle the shortfall at 2.00 (variance 5 × (2.00 − 1.00)); 3 remain at 2.00
    assert back.cost_variance == D("5.00") and back.value_change == D("11.00")
    assert (back.qty_after, back.stock_value_after, back.valuation_rate) == (3, D("6.00"), D("2.000000"))


def test_negative_stock_partly_covered_then_fully(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 2, "1.00")
    assert issue(v, 12).amount == D("12.00")  # 2 at 1.00 and 10 provisional at the last rate, 1.00
    part = receive(v, 4, "3.00")
    assert (part.cost_variance, part.value_change) == (D("8.00"), D("4.00"))
    assert v.on_hand("WH1", "RICE-5KG") == (-6, D("-6.00"))
    rest = receive(v, 10, "2.00")
    assert (rest.cost_variance, rest.value_change) == (D("6.00"), D("14.00"))
    assert v.on_hand("WH1", "RICE-5KG") == (4, D("8.00"))


def test_a_back_dated_receipt_does_not_revalue_what_was_already_issued(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00", minutes=10)
    first = issue(v, 5, minutes=20)
    late = receive(v, 10, "3.00", minutes=5)  # happened before the issue, arrives after it
    assert first.amount == D("5.00") and late.value_change == D("30.00")
    assert issue(v, 10, minutes=30).amount == D("20.00")  # 5 × 1.00 + 5 × 3.00


def test_transfers_keep_their_cost(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00")
    receive(v, 10, "2.00")
    out = v.value(mv("transfer_out", -15, reference="TR1", counterparty="S1"))
    assert (out.amount, out.transit_value_change, out.transit_location) == (D("20.00"), D("20.00"), "S1")
    assert v.stock_values() == {"WH1": D("10.00"), "S1": D("20.00")}
    dispatched = v.value(
        mv("transit_dispatched", 0, location="S1", in_transit=15, reference="TR1", counterparty="WH1")
    )
    assert dispatched.value_change == 0 and dispatched.transit_value_change == 0
    arrived = v.value(
        mv("transfer_in", 15, location="S1", in_transit=-15, reference="TR1", counterparty="WH1")
    )
    assert (arrived.value_change, arrived.transit_value_change) == (D("20.00"), D("-20.00"))
    assert issue(v, 15, location="S1").amount == D("20.00")


def test_a_receipt_scanned_before_its_dispatch_is_valued_then_settled(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00")
    early = v.value(mv("transfer_in", 4, location="S1", in_transit=-4, reference="TR9", counterparty="WH1"))
    assert early.provisional and early.amount == D("4.00")  # the source's rate
    late = v.value(mv("transfer_out", -4, reference="TR9", counterparty="S1"))
    assert late.transit_value_change == D("4.00") and late.cost_variance == 0
    assert v.stock_values() == {"WH1": D("6.00"), "S1": D("4.00")}


def test_till_returns_come_back_at_the_cost_they_left_with(avg_catalog):
    v = Valuation(avg_catalog)
    receive(v, 10, "1.00", location="S1")
    v.value(mv("pos_sale", -2, location="S1", reference="T1", counterparty="retail", price="3.00"))
    receive(v, 10, "3.00", location="S1")  # average now (8 + 30) / 18
    back = v.value(mv("pos_return", 1, location="S1", reference="T1", counterparty="retail", price="3.00"))
    assert back.amount == D("1.00")


def test_a_return_of_a_ticket_from_an_earlier_run_uses_the_lookup(avg_catalog):
    v = Valuation(
        avg_catalog, issue_cost_lookup=lambda loc, ticket, sku: (5, D("4.00")) if ticket == "OLD" else None
    )
    receive(v, 10, "1.00", location="S1")
    assert v.value(mv("pos_return", 2, location="S1", reference="OLD", counterparty="retail")).amount == D(
        "1.60"
    )
    # no known sale: the current average, (10.00 + 1.60) / 12
    unknown = v.value(mv("pos_return", 1, location="S1", reference="NONE", counterparty="retail"))
    assert unknown.amount == D("0.97")


def test_count_gains_are_valued_at_the_current_rate_and_losses_by_method(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00")
    receive(v, 10, "2.00")
    assert v.value(mv("cycle_count", 2, reference="CC1")).amount == D("3.00")  # 2 × 1.50
    assert v.value(mv("cycle_count", -12, reference="CC2")).amount == D("14.00")  # 10 × 1 + 2 × 2


def test_movements_without_stock_change_are_not_valued(fifo_catalog):
    v = Valuation(fifo_catalog)
    hold = mv("quality_hold", 0)
    assert v.value(hold) is None


def test_state_round_trips(fifo_catalog, catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00")
    receive(v, 10, "2.00")
    v.value(mv("transfer_out", -3, reference="TR1", counterparty="S1"))
    issue(v, 1, location="S1")
    restored = Valuation(fifo_catalog)
    restored.restore(v.state())
    assert restored.state() == v.state()
    assert issue(restored, 10).amount == issue(v, 10).amount


def test_state_keeps_a_last_rate_of_zero(fifo_catalog):
    # free goods leave a last rate of 0.00: stock that goes negative later is costed at it, before
    # a restart and after (not at the standard cost of 1.00)
    v = Valuation(fifo_catalog)
    receive(v, 1, "0.00")
    issue(v, 1)
    restored = Valuation(fifo_catalog)
    restored.restore(json.loads(json.dumps(v.state())))
    assert restored.state() == v.state()
    assert issue(restored, 1).amount == issue(v, 1).amount == D("0.00")


def test_stock_with_no_cost_of_its_own_is_valued_at_what_is_held_not_at_a_negative_batch(catalog):
    # batch B2 went negative at 30.00 a unit; B1 then holds 22 units worth 60.00. Stock of a
    # new batch B3 that goes out without a cost of its own takes B1's rate, never one dragged
    # below zero by B2 (−420.00 over 6 units across all batches)
    v = Valuation(catalog)
    milk = {"sku": "MILK-1L", "location": "WH1"}
    receive(v, 2, "30.00", batch="B1", **milk)
    issue(v, 16, batch="B2", **milk)
    receive(v, 20, "0.00", batch="B1", **milk)
    out = issue(v, 2, batch="B3", **milk)
    assert out.amount == D("5.45")  # 2 × 60.00 / 22
    for key, qty, value in v.positions():
        assert (qty > 0 and value >= 0) or (qty < 0 and value <= 0) or (qty == 0 and value == 0), key


def test_a_price_difference_revalues_the_newest_layer_and_never_below_nothing(fifo_catalog):
    v = Valuation(fifo_catalog)
    receive(v, 10, "1.00")
    receive(v, 10, "2.00")
    (up,) = v.revalue("inv1", "invoice_price_difference", at(5), "WH1", "RICE-5KG", D("5.00"))
    assert (up.qty_change, up.value_change, up.stock_value_after) == (0, D("5.00"), D("35.00"))
    assert issue(v, 10).amount == D("10.00")  # the oldest layer kept its own cost
    assert issue(v, 5).amount == D("12.50")  # the newest took the difference: 25.00 for 10
    # a reduction larger than what is held: stock goes to 0.00, the rest is cost of sales
    (down,) = v.revalue("inv2", "invoice_price_difference", at(6), "WH1", "RICE-5KG", D("-20.00"))
    assert (down.value_change, down.cost_variance) == (D("-12.50"), D("-7.50"))
    assert v.on_hand("WH1", "RICE-5KG") == (5, D("0.00"))
    assert v.revalue("inv3", "invoice_price_difference", at(7), "WH2", "RICE-5KG", D("1.00")) == []
