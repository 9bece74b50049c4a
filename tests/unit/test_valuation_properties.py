"""Properties over any valid event sequence: every voucher balances, the inventory accounts
equal the valuation's stock value per location, and the valuation holds what the ledger holds."""

import json
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings

from stockflow.ledger import Ledger
from stockflow.masterdata import ValuationMethod
from stockflow.valuation import Valuation
from stockflow.vouchers import AccountingPolicy, VoucherRules, inventory_by_location, trial_balance
from tests.unit.test_ledger_properties import sequences

POLICY = AccountingPolicy.cn_small_enterprise()


def movements_of(ledger, seq):
    """Each accepted event's movements, applied as the stream does (transit legs next)."""
    for _, result in ledger.apply_accepted(seq):
        yield result.movements


def book(catalog, seq):
    ledger, valuation = Ledger(catalog), Valuation(catalog)
    rules = VoucherRules(catalog, POLICY)
    vouchers = [v for mvs in movements_of(ledger, seq) for v in rules.vouchers_for(valuation.value_all(mvs))]
    return ledger, valuation, vouchers


@pytest.fixture(params=["as configured", "all fifo", "all moving average", "separate books"])
def variant(request, catalog):
    if request.param == "separate books":
        store = catalog.locations["S1"].model_copy(update={"accounting_unit": "RETAIL"})
        return catalog.model_copy(update={"locations": {**catalog.locations, "S1": store}})
    method = {"all fifo": ValuationMethod.FIFO, "all moving average": ValuationMethod.MOVING_AVERAGE}.get(
        request.param
    )
    skus = {
        code: sku.model_copy(
            update={
                "valuation_method": method,
                "standard_cost": Decimal("1.25"),
                "wholesale_price": Decimal("2"),
            }
        )
        for code, sku in catalog.skus.items()
    }
    return catalog.model_copy(update={"skus": skus})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=sequences())
def test_books_always_balance_and_match_the_stock(variant, seq):
    ledger, valuation, vouchers = book(variant, seq)
    for v in vouchers:
        assert v.total_debit == v.total_credit
    totals = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in trial_balance(vouchers):
        totals[row.accounting_unit][0] += row.debit
        totals[row.accounting_unit][1] += row.credit
    assert all(d == c for d, c in totals.values())
    values = {loc: v for loc, v in valuation.stock_values().items() if v}
    assert {loc: v for loc, v in inventory_by_location(vouchers, POLICY).items() if v} == values
    # the valuation holds, per location × SKU, exactly what the ledger has on hand
    on_hand = defaultdict(int)
    for key, pos in ledger.positions():
        on_hand[(key.location, key.sku)] += pos.on_hand
    for location, sku in set(on_hand) | {k[:2] for k, _, _ in valuation.positions()}:
        assert valuation.on_hand(location, sku)[0] == on_hand.get((location, sku), 0), (location, sku)
    # and no valuation key is worth something it does not hold (no absurd rates after negatives)
    for key, qty, value in valuation.positions():
        assert (qty > 0 and value >= 0) or (qty < 0 and value <= 0) or (qty == 0 and value == 0), (
            key,
            qty,
            value,
        )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=sequences())
def test_saving_and_restoring_midway_changes_nothing(catalog, seq):
    _, straight, straight_vouchers = book(catalog, seq)
    # value the same movements, but save the state halfway and go on from a restored copy
    rules = VoucherRules(catalog, POLICY)
    movements = list(movements_of(Ledger(catalog), seq))
    half = len(movements) // 2
    first = Valuation(catalog)
    vouchers = [v for mvs in movements[:half] for v in rules.vouchers_for(first.value_all(mvs))]
    resumed = Valuation(catalog)
    resumed.restore(json.loads(json.dumps(first.state())))
    vouchers += [v for mvs in movements[half:] for v in rules.vouchers_for(resumed.value_all(mvs))]
    assert vouchers == straight_vouchers
    assert resumed.state() == straight.state()
