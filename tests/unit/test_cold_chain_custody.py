"""Cold-chain custody: goods arrive with their temperature curve, an excursion holds what is on
hand, a supplier whose licence expired delivers nothing. The expected figures are worked out
by hand from the readings (milk: 0–4 °C, 12 per case)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from stockflow.alerts import AlertType
from stockflow.config import get_settings
from stockflow.events import (
    CurveReading,
    TemperatureCurve,
    TransferIn,
    TransferOut,
)
from stockflow.ledger import Ledger, StockRejected
from stockflow.masterdata import Licence, Supplier
from stockflow.processing import StockProcessor
from tests.unit.conftest import at, receipt, temperature_reading


@pytest.fixture
def custody(monkeypatch):
    """The company requires curves (食品 GSP), with the default 15-minute tolerance and 30-minute gap."""
    monkeypatch.setenv("STOCKFLOW_COLD_CHAIN_CUSTODY", "true")
    monkeypatch.setenv("STOCKFLOW_EXCURSION_MINUTES", "15")
    monkeypatch.setenv("STOCKFLOW_CURVE_MAX_GAP_MINUTES", "30")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def logger(*points):
    """A logger's curve from (minutes after the start, °C) pairs."""
    return TemperatureCurve(logger="LOG-7", readings=[CurveReading(at=at(m), celsius=c) for m, c in points])


def position(ledger, location="WH1", batch="B1"):
    return ledger.batches_at(location, "MILK-1L")[batch]


def test_a_receipt_without_a_curve_is_quarantined_with_the_reason(catalog, custody):
    ledger = Ledger(catalog)
    (mv,) = ledger.apply(receipt()).movements
    assert (position(ledger).on_hand, position(ledger).quarantined) == (24, 24)
    assert mv.hold_reason == "curve_missing" and mv.quarantined_delta == 24
    # goods that are not cold-chain need none
    (rice,) = ledger.apply(receipt("r2", sku="RICE-5KG", unit="each", batch=None, expiry=None)).movements
    assert rice.quarantined_delta == 0 and rice.hold_reason == ""


def test_without_the_setting_a_missing_curve_quarantines_nothing_but_a_bad_one_does(catalog):
    ledger = Ledger(catalog)
    assert ledger.apply(receipt()).movements[0].quarantined_delta == 0
    bad = logger((0, 3.0), (10, 9.0), (40, 3.0))  # 30 minutes at 9 °C
    (mv,) = ledger.apply(receipt("r2", batch="B2", temperature_curve=bad)).movements
    assert mv.hold_reason == "curve_out_of_range" and mv.quarantined_delta == 24


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        # readings every 10 minutes, all in range: cleared
        ([(0, 2.0), (10, 3.5), (20, 4.0), (30, 1.0)], ""),
        # 10 minutes outside (5.0 from minute 10 to 20): within the 15-minute tolerance
        ([(0, 2.0), (10, 5.0), (20, 3.0), (30, 3.0)], ""),
        # 20 minutes outside (minute 10 to 30): beyond it
        ([(0, 2.0), (10, 5.0), (20, 6.0), (30, 3.0)], "curve_out_of_range"),
        # below the range counts too (−1 °C from minute 0 to 20)
        ([(0, -1.0), (10, -1.0), (20, 2.0)], "curve_out_of_range"),
        # in range, but 45 minutes without a reading
        ([(0, 2.0), (45, 2.0), (50, 2.0)], "curve_gap"),
    ],
)
def test_a_curve_clears_goods_only_inside_the_range_and_without_gaps(catalog, custody, points, reason):
    ledger = Ledger(catalog)
    (mv,) = ledger.apply(receipt(temperature_curve=logger(*points))).movements
    assert mv.hold_reason == reason
    assert position(ledger).quarantined == (24 if reason else 0)


def test_a_sku_without_tolerance_is_quarantined_for_a_single_reading_outside(catalog, custody):
    milk = catalog.skus["MILK-1L"].model_copy(update={"cold_chain_tolerance_minutes": 0})
    catalog.skus["MILK-1L"] = milk
    ledger = Ledger(catalog)
    (mv,) = ledger.apply(receipt(temperature_curve=logger((0, 2.0), (10, 2.0), (20, 4.5)))).movements
    assert mv.hold_reason == "curve_out_of_range"


sensor_reading = temperature_reading


def test_a_curve_may_name_a_sensor_and_its_span(catalog, custody):
    ledger = Ledger(catalog)
    for i, c in enumerate([2.0, 2.5, 3.0, 3.5, 2.0, 9.0, 9.0, 9.0]):
        ledger.apply(sensor_reading(f"t{i}", i * 10, c))  # minute 0 .. 70
    span = {"sensor": "DOCK-1", "from_at": at(0), "to_at": at(40)}
    ok = ledger.apply(receipt(occurred_at=at(45), temperature_curve=TemperatureCurve(**span)))
    assert ok.movements[0].hold_reason == ""
    # the span 40..70 holds 20 minutes at 9 °C (from minute 50 to 70): beyond the 15 allowed
    late = TemperatureCurve(sensor="DOCK-1", from_at=at(40), to_at=at(70))
    assert ledger.apply(receipt("r2", batch="B2", temperature_curve=late)).movements[0].hold_reason == (
        "curve_out_of_range"
    )
    # a span the sensor did not report over (it began at minute 0, the span 2 hours before)
    early = TemperatureCurve(sensor="DOCK-1", from_at=at(-120), to_at=at(30))
    assert ledger.apply(receipt("r3", batch="B3", temperature_curve=early)).movements[0].hold_reason == (
        "curve_gap"
    )
    unknown = TemperatureCurve(sensor="REEFER-9", from_at=at(0), to_at=at(30))
    assert ledger.apply(receipt("r4", batch="B4", temperature_curve=unknown)).movements[0].hold_reason == (
        "curve_missing"
    )
    # a restored ledger (a checkpoint) still has the sensor's readings
    restored = Ledger.from_snapshot(catalog, ledger.snapshot())
    again = receipt("r5", batch="B5", temperature_curve=TemperatureCurve(**span))
    assert restored.apply(again).movements[0].hold_reason == ""


def test_a_transfer_in_without_a_curve_arrives_in_quarantine(catalog, custody):
    ledger = Ledger(catalog)
    ledger.apply(receipt(temperature_curve=logger((0, 2.0), (10, 2.0))))
    common = dict(
        transfer_id="T1", from_location="WH1", to_location="S1", sku="MILK-1L", batch="B1", qty=Decimal(12)
    )
    ledger.apply_accepted([TransferOut(event_id="o1", occurred_at=at(20), source="wms", **common)])
    result = ledger.apply(TransferIn(event_id="i1", occurred_at=at(90), source="store", **common))
    (mv,) = result.movements
    assert (mv.on_hand_delta, mv.quarantined_delta, mv.hold_reason) == (12, 12, "curve_missing")
    assert position(ledger, "S1").unrestricted == 0


def test_an_expired_licence_refuses_the_receipt_and_a_valid_one_does_not(catalog):
    licences = (
        Licence(kind="食品经营许可证", number="JY13101010000001", valid_until=date(2027, 6, 30)),
        Licence(kind="GSP", number="A-001", valid_until=at(0).date()),
    )
    catalog.suppliers["SUP1"] = Supplier(supplier="SUP1", name="Dairy Co", licences=licences)
    ledger = Ledger(catalog)
    ledger.apply(receipt())  # valid through its last day
    with pytest.raises(StockRejected) as refused:
        ledger.apply(receipt("r2", occurred_at=at(0) + timedelta(days=1)))
    assert refused.value.reason == "supplier_licence_expired" and "A-001" in refused.value.detail
    # a replay books what was received then
    replayed = Ledger(catalog).apply(receipt("r2", occurred_at=at(0) + timedelta(days=1)), admit=False)
    assert replayed.movements[0].on_hand_delta == 24


def test_an_excursion_holds_the_batches_on_hand_once(catalog):
    proc = StockProcessor(catalog, excursion_minutes=15, excursion_holds=True)
    proc.process(receipt(location="S1", qty="1"))
    proc.process(receipt("r2", location="S1", qty="1", batch="B2"))
    assert proc.process(sensor_reading("t1", 0, 8.0, location="S1")).movements == ()
    result = proc.process(sensor_reading("t2", 16, 8.5, location="S1"))
    holds = sorted(result.movements, key=lambda mv: mv.batch)
    assert [(mv.event_type, mv.batch, mv.quarantined_delta) for mv in holds] == [
        ("quality_hold", "B1", 12),
        ("quality_hold", "B2", 12),
    ]
    assert all(mv.event_id.startswith("excursion-hold:") for mv in holds)
    assert {mv.hold_reason for mv in holds} == {"temperature_excursion"}
    assert [position(proc.ledger, "S1", b).quarantined for b in ("B1", "B2")] == [12, 12]
    assert AlertType.TEMPERATURE_EXCURSION in [a.alert_type for a in result.alerts]
    # the same reading seen again (a redelivery) is a duplicate; a later one holds nothing more
    assert proc.process(sensor_reading("t2", 16, 8.5, location="S1")).duplicate
    assert proc.process(sensor_reading("t3", 20, 9.0, location="S1")).movements == ()
    # a replay of the same events (admitted then) holds the same batches under the same ids
    again = StockProcessor(catalog, excursion_minutes=15, excursion_holds=True)
    for event in (
        receipt(location="S1", qty="1"),
        receipt("r2", location="S1", qty="1", batch="B2"),
        sensor_reading("t1", 0, 8.0, location="S1"),
    ):
        again.process(event, admit=False)
    replayed = again.process(sensor_reading("t2", 16, 8.5, location="S1"), admit=False)
    assert {mv.event_id for mv in replayed.movements} == {mv.event_id for mv in holds}
    assert dict(again.ledger.positions()) == dict(proc.ledger.positions())


def test_goods_arriving_warm_or_with_a_curve_that_stopped_early_are_quarantined(catalog, custody):
    ledger = Ledger(catalog)
    arrived = at(60)
    # in range for 50 minutes, then 6 °C at the hand-over: they arrive outside the range
    warm = logger((0, 2.0), (10, 2.0), (20, 2.0), (30, 2.0), (40, 2.0), (50, 2.0), (60, 6.0))
    assert ledger.apply(receipt(occurred_at=arrived, temperature_curve=warm)).movements[0].hold_reason == (
        "curve_out_of_range"
    )
    single = logger((60, 25.0))
    assert (
        ledger.apply(receipt("r2", batch="B2", occurred_at=arrived, temperature_curve=single))
        .movements[0]
        .hold_reason
        == "curve_out_of_range"
    )
    # the logger stopped 40 minutes before the goods arrived: custody is not proven to the end
    early = logger((0, 2.0), (10, 2.0), (20, 2.0))
    assert (
        ledger.apply(receipt("r3", batch="B3", occurred_at=arrived, temperature_curve=early))
        .movements[0]
        .hold_reason
        == "curve_gap"
    )


def test_the_ledger_alone_holds_what_an_excursion_finds_as_the_processor_does(catalog):
    """A replay without the alert rules (the reconciliation's) books the same holds."""
    events = [
        receipt(location="S1", qty="1"),
        sensor_reading("t1", 0, 8.0, location="S1"),
        sensor_reading("t2", 16, 8.5, location="S1"),
    ]
    alone = Ledger(catalog, excursion_minutes=15, excursion_holds=True)
    proc = StockProcessor(catalog, excursion_minutes=15, excursion_holds=True)
    for event in events:
        alone.apply(event)
        proc.process(event)
    assert position(alone, "S1").quarantined == 12
    assert dict(alone.positions()) == dict(proc.ledger.positions())
    restored = Ledger.from_snapshot(catalog, alone.snapshot(), excursion_minutes=15, excursion_holds=True)
    assert restored.coldchain.snapshot() == alone.coldchain.snapshot()
