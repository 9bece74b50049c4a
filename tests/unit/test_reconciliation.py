from decimal import Decimal

import pytest

from stockflow.events import AdjustmentReason, CycleCount, StockAdjustment, StockCorrection, parse_event
from stockflow.ledger import Ledger, Position, PositionKey
from stockflow.processing import StockProcessor
from stockflow.reconciliation import (
    Classification,
    LegacyFormatError,
    compare_legacy,
    compare_state,
    correction,
    count_variances,
    parse_legacy_csv,
    variance_adjustment,
    variance_adjustment_id,
)
from stockflow.valuation import Valuation
from tests.unit.conftest import at, receipt

MILK = PositionKey("WH1", "MILK-1L", "B1")
RICE = PositionKey("WH1", "RICE-5KG", "")


def count(event_id="c1", qty=21, sku="MILK-1L", batch="B1"):
    return CycleCount(
        event_id=event_id,
        occurred_at=at(30),
        source="rf-1",
        location="WH1",
        count_id=f"CNT-{event_id}",
        sku=sku,
        batch=batch,
        counted_qty=Decimal(qty),
    )


def test_equal_sources_have_no_discrepancy(catalog):
    same = {MILK: Position(24), RICE: Position(5, 1)}
    found = compare_state(same, dict(same), [], catalog)
    assert found.discrepancies == () and found.positions_compared == 2


def test_difference_at_an_unlanded_position_is_in_flight_elsewhere_drift(catalog):
    state = {MILK: Position(30), RICE: Position(4)}
    ledger = {MILK: Position(24), RICE: Position(5)}
    found = compare_state(state, ledger, [MILK], catalog)
    by_key = {d.key: d for d in found.discrepancies}
    assert by_key[MILK].classification is Classification.IN_FLIGHT
    assert by_key[RICE].classification is Classification.DRIFT
    assert by_key[RICE].difference["on_hand"] == -1 and by_key[RICE].qty == -1
    assert "on_hand -1" in by_key[RICE].detail


def test_positions_missing_on_either_side_are_compared_with_zero(catalog):
    found = compare_state({MILK: Position(3)}, {RICE: Position(2, 0, 0, 4)}, [], catalog)
    diffs = {d.key: dict(d.difference) for d in found.discrepancies}
    assert diffs[MILK]["on_hand"] == 3
    assert diffs[RICE] == {"on_hand": -2, "reserved": 0, "quarantined": 0, "in_transit": -4}


def test_drift_is_valued_at_standard_cost(catalog):
    sku = catalog.skus["RICE-5KG"].model_copy(update={"standard_cost": Decimal("12.50")})
    priced = catalog.model_copy(update={"skus": {**catalog.skus, "RICE-5KG": sku}})
    (d,) = compare_state({RICE: Position(7)}, {RICE: Position(10)}, [], priced).discrepancies
    assert d.value == Decimal("-37.50")


def test_a_correction_moves_the_state_onto_the_ledger_and_a_replay_never_sees_it(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))  # 24 each
    state = {MILK: Position(30, 2)}  # drifted: 6 more on hand, 2 reserved the ledger lacks
    (drift,) = compare_state(state, dict(ledger.positions()), [], catalog).discrepancies
    fix = correction(drift, "run-1", at(60))
    assert (fix.on_hand, fix.reserved, fix.quarantined, fix.in_transit) == (-6, -2, 0, 0)
    assert fix.event_id == correction(drift, "run-1", at(61)).event_id  # a retried run sends the same
    assert fix.event_id != correction(drift, "run-2", at(61)).event_id
    # applied to the drifted state (here: a ledger holding the same numbers), it lands on the record
    live = Ledger(catalog)
    live.apply(receipt(qty="2"))
    live.apply(StockCorrection(**{**fix.model_dump(), "on_hand": 6, "reserved": 2, "event_id": "drift"}))
    live.apply(fix)
    assert live.position(MILK) == ledger.position(MILK)
    assert parse_event(fix.model_dump_json()) == fix  # valid on the wire


def test_a_correction_is_never_valued(catalog):
    proc = StockProcessor(catalog)
    proc.process(receipt(qty="2"))
    fix = StockCorrection(
        event_id="x1", occurred_at=at(5), source="reconcile_stock", location="WH1", sku="MILK-1L",
        batch="B1", on_hand=-3, run_id="run-1",
    )  # fmt: skip
    (mv,) = proc.process(fix).movements
    assert mv.on_hand_delta == -3 and mv.after.on_hand == 21
    assert Valuation(catalog).value(mv) is None


def test_a_correction_of_zero_is_refused():
    with pytest.raises(ValueError, match="changes nothing"):
        StockCorrection(
            event_id="x", occurred_at=at(1), source="s", location="WH1", sku="MILK-1L", run_id="r"
        )


def test_count_variance_is_booked_once_whoever_posts_it(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))
    ledger.apply(count(qty=21))
    (found,) = count_variances(ledger.latest_counts(), dict(ledger.positions()), catalog)
    assert found.classification is Classification.COUNT_VARIANCE
    assert found.difference["on_hand"] == -3 and found.count.book == 24
    adjustment = variance_adjustment(found.count, at(40))
    assert adjustment.event_id == variance_adjustment_id("c1")
    assert (adjustment.qty, adjustment.reason, adjustment.count_id) == (
        Decimal(-3),
        "count_variance",
        "CNT-c1",
    )
    ledger.apply(adjustment)
    assert ledger.position(MILK).on_hand == 21
    assert ledger.apply(variance_adjustment(found.count, at(50))).duplicate  # posted twice: booked once
    assert ledger.position(MILK).on_hand == 21


def test_counted_shortfall_is_booked_even_when_the_stock_has_gone_since(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="1"))  # 12, policy: reject negative stock
    ledger.apply(count(qty=2))  # 10 missing
    (record,) = ledger.latest_counts()
    ledger.apply(
        StockAdjustment(
            event_id="sold", occurred_at=at(35), source="rf", location="WH1", sku="MILK-1L", batch="B1",
            qty=Decimal(-11), reason=AdjustmentReason.DAMAGE,
        )
    )  # fmt: skip
    result = ledger.apply(variance_adjustment(record, at(40)))
    assert result.negative_stock and ledger.position(MILK).on_hand == -9


def test_a_matching_count_needs_nothing(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))
    ledger.apply(count(qty=24))
    assert count_variances(ledger.latest_counts(), dict(ledger.positions()), catalog) == []
    with pytest.raises(ValueError, match="agrees"):
        variance_adjustment(next(ledger.latest_counts()), at(40))


def test_a_long_count_id_still_gives_a_valid_adjustment_id():
    long_id = "C" * 64
    assert len(variance_adjustment_id(long_id)) <= 64
    assert variance_adjustment_id(long_id) == variance_adjustment_id(long_id)


LEGACY = """location,sku,batch,on_hand,unit
WH1,MILK-1L,B1,2,case
WH1,RICE-5KG,,3,each
"""


def test_legacy_export_is_read_in_base_units(catalog):
    rows = parse_legacy_csv(LEGACY, catalog)
    assert [(r.line, r.key, r.position.on_hand) for r in rows] == [(2, MILK, 24), (3, RICE, 3)]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("location,sku\nWH1,MILK-1L\n", "line 1: the header lacks on_hand"),
        ("location,sku,on_hand,colour\n", "unknown column"),
        ("location,sku,batch,on_hand\nWH9,MILK-1L,B1,1\n", "line 2: location 'WH9'"),
        ("location,sku,batch,on_hand\nWH1,NOPE,B1,1\n", "line 2: SKU 'NOPE'"),
        ("location,sku,batch,on_hand\nWH1,MILK-1L,B1,many\n", "line 2: on_hand 'many' is not a number"),
        (
            "location,sku,batch,on_hand\nWH1,MILK-1L,B1,1\nWH1,MILK-1L,B1,2\n",
            "line 3: WH1 MILK-1L B1 repeats line 2",
        ),
        ("location,sku,batch,on_hand,unit\nWH1,MILK-1L,B1,1,pallet\n", "line 2:"),
    ],
)
def test_a_bad_legacy_export_names_the_line(catalog, text, problem):
    with pytest.raises(LegacyFormatError, match=problem):
        parse_legacy_csv(text, catalog)


def test_legacy_comparison_reports_the_same_classes(catalog):
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))  # 24 milk
    ledger.apply(receipt(event_id="r2", sku="RICE-5KG", qty="5", unit="each", batch=None, expiry=None))
    ledger.apply(count(event_id="c9", qty=4, sku="RICE-5KG", batch=None))  # 1 rice missing, not booked
    legacy = parse_legacy_csv("location,sku,batch,on_hand\nWH1,MILK-1L,B1,20\nWH1,RICE-5KG,,5\n", catalog)
    report = compare_legacy(legacy, dict(ledger.positions()), [], ledger.latest_counts(), catalog)
    classes = {(d.key, d.classification) for d in report.comparison.discrepancies}
    assert classes == {(MILK, Classification.DRIFT), (RICE, Classification.COUNT_VARIANCE)}
    assert (report.legacy_rows, report.matched) == (2, 1)
    moved = compare_legacy(legacy, dict(ledger.positions()), [MILK], [], catalog)
    assert [d.classification for d in moved.comparison.discrepancies] == [Classification.IN_FLIGHT]
    booked = compare_legacy(
        legacy, dict(ledger.positions()), [], ledger.latest_counts(), catalog, lambda _: True
    )
    assert [d.key for d in booked.comparison.discrepancies] == [MILK]


def test_a_count_is_compared_with_the_book_as_of_when_it_was_taken(catalog):
    def damage(event_id, minutes, qty=-1):
        return StockAdjustment(
            event_id=event_id, occurred_at=at(minutes), source="rf", location="WH1", sku="MILK-1L", batch="B1",
            qty=Decimal(qty), reason=AdjustmentReason.DAMAGE,
        )  # fmt: skip

    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))  # 24 at minute 0
    ledger.apply(damage("later", 40))  # made after the count, applied before it
    ledger.apply(count(qty=24))  # taken at minute 30: the shelf still held 24
    ledger.apply(damage("earlier", 20, -2))  # made before the count, applied after it
    (record,) = ledger.latest_counts()
    assert (record.book, record.variance) == (22, 2)  # 24 − 2 made before; the one made after not
    assert ledger.position(MILK).on_hand == 21


def test_a_legacy_export_is_compared_only_in_the_quantities_it_has(catalog):
    ledger = {MILK: Position(24, 0, 0, 12)}  # 12 more on their way
    legacy = parse_legacy_csv("location,sku,batch,on_hand\nWH1,MILK-1L,B1,24\n", catalog)
    assert compare_legacy(legacy, ledger, [], [], catalog).comparison.discrepancies == ()
    with_transit = parse_legacy_csv("location,sku,batch,on_hand,in_transit\nWH1,MILK-1L,B1,24,0\n", catalog)
    (d,) = compare_legacy(with_transit, ledger, [], [], catalog).comparison.discrepancies
    assert d.difference["in_transit"] == -12
