from datetime import timedelta

import pytest
from pydantic import ValidationError

from stockflow.events import HoldAction, PalletInspected, QualityHold, parse_event
from stockflow.ledger import Ledger, PositionKey, StockRejected
from stockflow.processing import StockProcessor
from stockflow.risk import PRIOR_RATE, RiskLevel, supplier_risk
from stockflow.valuation import Valuation
from tests.unit.conftest import at, receipt

MILK = PositionKey("WH1", "MILK-1L", "B1")


def inspected(verdict="quarantine", damaged=2, event_id="i1", batch="B1", minutes=1, supplier="SUP1", **kw):
    return PalletInspected(
        event_id=event_id, occurred_at=at(minutes), source="dock-cam-1", location="WH1", inspection_id=f"INS-{event_id}",
        supplier=supplier, sku="MILK-1L", batch=batch, cartons=24, layers=3, damaged_cartons=damaged,
        confidence=0.93, verdict=verdict, **kw,
    )  # fmt: skip


def test_a_damaged_pallet_quarantines_its_received_batch(catalog):
    proc = StockProcessor(catalog)
    proc.process(receipt(qty="2"))  # 24
    result = proc.process(inspected())
    (mv,) = result.movements
    assert (mv.quarantined_delta, mv.after.quarantined, mv.reference) == (24, 24, "INS-i1")
    assert {a.alert_type for a in result.alerts} == {"quarantine", "low_stock"}  # nothing left to sell
    assert proc.available("WH1", "MILK-1L") == 0
    assert Valuation(catalog).value(mv) is None  # quarantine moves no value


def test_an_inspection_before_its_receipt_quarantines_the_receipt(catalog):
    ledger = Ledger(catalog)
    assert ledger.apply(inspected(verdict="manual_review", damaged=0)).movements == ()
    ledger.apply(receipt(qty="1"))
    assert ledger.position(MILK).quarantined == 12
    ledger.apply(QualityHold(event_id="rel", occurred_at=at(5), source="qa", location="WH1", sku="MILK-1L",
                             batch="B1", action=HoldAction.RELEASE))  # fmt: skip
    assert ledger.position(MILK).quarantined == 0
    ledger.apply(receipt(event_id="r2", qty="1"))  # released: the next receipt is not held
    assert ledger.position(MILK).quarantined == 0 and ledger.position(MILK).on_hand == 24


def test_an_accepted_pallet_changes_nothing_and_bad_ones_are_refused(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))
    assert ledger.apply(inspected(verdict="accept", damaged=0)).movements == ()
    with pytest.raises(StockRejected, match="unknown_supplier"):
        ledger.apply(inspected(event_id="i2", supplier="NOPE"))
    with pytest.raises(StockRejected, match="must name the batch"):
        ledger.apply(inspected(event_id="i3", batch=None))
    with pytest.raises(ValidationError, match="cannot be accepted"):
        inspected(verdict="accept", damaged=1)
    with pytest.raises(ValidationError, match="more damaged cartons"):
        inspected(damaged=30)
    assert parse_event(inspected().model_dump_json()) == inspected()


def pallets(supplier, damaged, clean, days_ago=0.0, start=0):
    now = at(0) + timedelta(days=365)
    out = []
    for i in range(damaged + clean):
        ev = inspected(
            verdict="quarantine" if i < damaged else "accept", damaged=1 if i < damaged else 0,
            event_id=f"{supplier}-{start + i}", supplier=supplier,
        )  # fmt: skip
        out.append(ev.model_copy(update={"occurred_at": now - timedelta(days=days_ago)}))
    return out, now


def test_a_new_supplier_is_not_judged_on_two_pallets():
    events, now = pallets("NEW", damaged=2, clean=0)
    risk = supplier_risk(events, now)["NEW"]
    assert risk.observed_rate == 1.0
    assert risk.risk == pytest.approx((0.5 + 2) / (10 + 2))  # 0.21, not 1.0
    many, _ = pallets("OLD", damaged=2, clean=198)
    old = supplier_risk(many, now)["OLD"]
    assert old.risk == pytest.approx(2.5 / 210) and old.level is RiskLevel.LOW


def test_old_inspections_weigh_less_and_levels_follow_the_risk():
    recent, now = pallets("S", damaged=10, clean=30)
    stale, _ = pallets("S", damaged=0, clean=40, days_ago=360, start=100)
    both = supplier_risk(recent + stale, now)["S"]
    assert both.pallets == 80 and both.weight == pytest.approx(40 + 40 * 0.5**4)
    assert both.risk > (0.5 + 10) / (10 + 80)  # last year's clean record counts for less
    assert both.level is RiskLevel.HIGH
    assert supplier_risk([], now) == {}
    none_damaged, _ = pallets("C", damaged=0, clean=3)
    assert supplier_risk(none_damaged, now)["C"].risk < PRIOR_RATE
    with pytest.raises(ValueError):
        supplier_risk([], now, prior_rate=0)
