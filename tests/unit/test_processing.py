from datetime import date, timedelta
from decimal import Decimal

from stockflow.alerts import AlertType
from stockflow.events import PosLine, PosSale, QualityHold
from stockflow.processing import StockProcessor
from tests.unit.conftest import at, receipt, temperature_reading


def reading(event_id, minutes, celsius, location="S1"):
    return temperature_reading(event_id, minutes, celsius, sensor="ts-1", location=location)


def sale(event_id, qty, minutes=30, sku="MILK-1L"):
    return PosSale(
        event_id=event_id,
        occurred_at=at(minutes),
        source="till",
        store="S1",
        ticket=event_id,
        channel="retail",
        lines=[PosLine(sku=sku, qty=Decimal(qty), unit_price=Decimal(6))],
    )


def types(result):
    return [a.alert_type for a in result.alerts]


def test_low_stock_alert_once_when_crossing_the_reorder_point(catalog):
    proc = StockProcessor(catalog)
    proc.process(receipt(location="S1", qty="3"))  # 36 each, reorder point 24
    assert types(proc.process(sale("s1", 10))) == []
    first = proc.process(sale("s2", 5))
    assert types(first) == [AlertType.LOW_STOCK]
    assert first.alerts[0].details["available"] == 21
    assert types(proc.process(sale("s3", 1))) == []  # still below: no repeat
    proc.process(receipt("r2", location="S1", qty="2"))
    assert types(proc.process(sale("s4", 20))) == []  # back at 24: not below
    assert types(proc.process(sale("s5", 1))) == [AlertType.LOW_STOCK]  # crossed again


def test_near_expiry_alert_when_stock_arrives_close_to_expiry(catalog):
    proc = StockProcessor(catalog, near_expiry_days=3)
    fresh = proc.process(receipt("r1", batch="FRESH", expiry=date(2026, 3, 20)))
    assert AlertType.NEAR_EXPIRY not in types(fresh)
    old = proc.process(receipt("r2", batch="OLD", expiry=at(0).date() + timedelta(days=2)))
    (alert,) = [a for a in old.alerts if a.alert_type is AlertType.NEAR_EXPIRY]
    assert alert.batch == "OLD" and alert.details["days_left"] == 2


def test_sweep_finds_batches_that_aged_into_the_window(catalog):
    proc = StockProcessor(catalog, near_expiry_days=3)
    proc.process(receipt("r1", batch="B1", expiry=date(2026, 3, 10)))
    assert proc.sweep_expiry(at(60 * 24)) == []
    (alert,) = proc.sweep_expiry(at(60 * 24 * 6))
    assert alert.batch == "B1"
    assert proc.sweep_expiry(at(60 * 24 * 7)) == []  # once per batch


def test_temperature_excursion_alert_after_the_configured_time(catalog):
    proc = StockProcessor(catalog, excursion_minutes=15, excursion_holds=True)
    proc.process(receipt(location="S1", qty="1"))  # milk: 0–4 °C
    assert types(proc.process(reading("t1", 0, 3.0))) == []
    assert types(proc.process(reading("t2", 5, 7.5))) == []
    assert types(proc.process(reading("t3", 12, 9.0))) == []
    result = proc.process(reading("t4", 21, 8.0))
    (alert,) = [a for a in result.alerts if a.alert_type is AlertType.TEMPERATURE_EXCURSION]
    # the batch on hand is held as the excursion is found (its quarantine is alerted too)
    assert types(result) == [AlertType.TEMPERATURE_EXCURSION, AlertType.QUARANTINE]
    assert alert.details["peak_c"] == 9.0 and alert.details["batches"] == ["B1"]
    assert alert.details["minutes"] == 16
    assert types(proc.process(reading("t5", 25, 8.5))) == []  # one alert per excursion
    proc.process(reading("t6", 30, 3.0))
    proc.process(reading("t7", 40, 6.0))
    assert types(proc.process(reading("t8", 56, 6.0))) == [AlertType.TEMPERATURE_EXCURSION]


def test_short_excursion_or_no_cold_stock_raises_nothing(catalog):
    proc = StockProcessor(catalog, excursion_minutes=15)
    assert types(proc.process(reading("t1", 0, 12.0))) == []  # nothing cold stocked yet
    proc.process(receipt(location="S1", qty="1"))
    proc.process(reading("t2", 1, 12.0))
    proc.process(reading("t3", 10, 2.0))  # back in range within 15 minutes
    assert types(proc.process(reading("t4", 30, 2.0))) == []


def test_negative_stock_is_alerted(catalog):
    proc = StockProcessor(catalog)
    result = proc.process(sale("s1", 2, sku="RICE-5KG"))
    assert AlertType.NEGATIVE_STOCK in types(result)


def test_stock_put_in_quarantine_is_alerted_and_a_release_is_not(catalog):
    proc = StockProcessor(catalog)
    proc.process(receipt(qty="2"))

    def hold(event_id, action):
        return QualityHold(
            event_id=event_id, occurred_at=at(5), source="qa", location="WH1", sku="MILK-1L",
            batch="B1", action=action, qty=Decimal(6), reason="crushed cartons",
        )  # fmt: skip

    (held,) = [a for a in proc.process(hold("h1", "hold")).alerts if a.alert_type is AlertType.QUARANTINE]
    assert (held.location, held.sku, held.batch, held.details["quarantined"]) == ("WH1", "MILK-1L", "B1", 6)
    assert "put in quarantine" in held.message
    assert AlertType.QUARANTINE not in types(proc.process(hold("h2", "release")))


def test_alert_ids_are_deterministic(catalog):
    def run():
        proc = StockProcessor(catalog)
        proc.process(receipt(location="S1", qty="2"))
        return [a.alert_id for a in proc.process(sale("s1", 5)).alerts]

    assert run() == run() and run()
