"""The GSP report of a batch: a chilled batch (0–4 °C) received at W1 with a logger curve that
clears it, transferred to S1 with a sensor's span that spent 20 minutes at 7 °C (quarantined on
arrival), released after review; an excursion at S1 that listed it. The expected verdicts are
worked out by hand from the readings (15 minutes allowed outside, readings at most 30 apart)."""

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta

from stockflow.masterdata import Catalog, Sku
from stockflow.services.trace import gsp_reports
from stockflow.trace import BatchKey, TracedMovement

T0 = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def mv(event_id, event_type, location, on_hand, minutes, **kw) -> TracedMovement:
    return TracedMovement(
        event_id=event_id, event_type=event_type, occurred_at=at(minutes), location=location, sku="MILK",
        batch="L1", on_hand_delta=on_hand, apply_seq=int(minutes * 10), **kw,
    )  # fmt: skip


ROWS = [
    mv("gr-1", "goods_receipt", "W1", 100, 0, reference="PO-1", counterparty="SUP-1"),
    mv("to-1", "transfer_out", "W1", -40, 60, reference="T1", counterparty="S1"),
    mv("ti-1", "transfer_in", "S1", 40, 180, quarantined_delta=40, reference="T1", counterparty="W1"),
    mv("qr-1", "quality_hold", "S1", 0, 240, quarantined_delta=-40, reference="release"),
]
LOGGER = {
    "logger": "LOG-1",
    "readings": [{"at": at(m - 120).isoformat(), "celsius": 2.5} for m in range(0, 121, 20)],
}
RECORDS = {
    "gr-1": {"supplier": "SUP-1", "purchase_order": "PO-1", "temperature_curve": LOGGER},
    "ti-1": {"temperature_curve": {"sensor": "TRUCK-7", "from_at": at(60).isoformat(), "to_at": at(180).isoformat()},
             "hold_reason": "curve_out_of_range"},
    "qr-1": {"reason": "reviewed: product temperature in range"},
}  # fmt: skip
# the truck's sensor: every 10 minutes from minute 60 to 180, 7 °C from minute 100 to 120
TRUCK = [(at(m), 7.0 if 100 <= m < 120 else 3.0) for m in range(60, 181, 10)]
ALERTS = [
    {"alert_id": "temperature_excursion:a1", "location": "S1", "sku": "MILK",
     "details": {"batches": ["L1"], "sensor": "TS-S1-1", "started_at": at(200).isoformat(), "minutes": 16,
                 "peak_c": 8.5}},
    {"alert_id": "temperature_excursion:a2", "location": "S1", "sku": "MILK",
     "details": {"batches": ["L9"], "sensor": "TS-S1-1", "started_at": at(200).isoformat(), "minutes": 16}},
]  # fmt: skip


class Lake:
    def __init__(self) -> None:
        self.asked: list[tuple[str, datetime, datetime]] = []

    def batch_movements(self, batches: Collection[str], skus=None, since=None):
        return [r for r in ROWS if r.batch in batches and (skus is None or r.sku in skus)]

    def goods_made(self, work_orders, preps, since=None):
        return []

    def event_records(self, events: Mapping[str, datetime]):
        return {k: v for k, v in RECORDS.items() if k in events}

    def inspections(self, batches: Collection[BatchKey], start, end):
        return []

    def sensor_readings(self, sensor: str, start: datetime, end: datetime):
        self.asked.append((sensor, start, end))
        return [p for p in TRUCK if start <= p[0] <= end] if sensor == "TRUCK-7" else []

    def excursion_alerts(self, skus, start):
        return [a for a in ALERTS if a["sku"] in skus]


def catalog() -> Catalog:
    milk = Sku(sku="MILK", gtin="09506000134352", name="Milk", category="chilled_food", batch_managed=True,
               shelf_life_days=10, cold_chain_min_c=0, cold_chain_max_c=4)  # fmt: skip
    return Catalog.build(skus=[milk], locations=[])


def test_each_arrival_is_checked_against_the_range_and_the_excursions_that_found_it_are_listed():
    lake = Lake()
    (report,) = gsp_reports(lake, catalog(), "L1", None, 15, 30)
    assert (report.key, report.low_c, report.high_c) == (BatchKey("MILK", "L1"), 0, 4)
    received, transferred = report.arrivals
    assert (received.event_id, received.qty, received.check.reason, received.check.readings) == (
        "gr-1",
        100,
        "",
        7,
    )
    assert received.curve.logger == "LOG-1" and received.recorded == ""
    # the truck: 7 °C from minute 100 to 120 is 20 minutes outside, beyond the 15 allowed
    assert lake.asked == [("TRUCK-7", at(60), at(180))]
    assert (transferred.event_id, transferred.qty, transferred.check.reason) == (
        "ti-1",
        40,
        "curve_out_of_range",
    )
    assert transferred.check.minutes_outside == 20 and transferred.check.worst_deviation_c == 3
    assert transferred.recorded == "curve_out_of_range"
    assert [(q.action, q.qty, q.reason) for q in report.quality] == [
        ("received_into_quarantine", 40, "curve_out_of_range"),
        ("release", 40, "reviewed: product temperature in range"),
    ]
    assert [(e.alert_id, e.sensor, e.minutes, e.peak_c) for e in report.excursions] == [
        ("temperature_excursion:a1", "TS-S1-1", 16, 8.5)
    ]
    assert report.findings == ("ti-1:curve_out_of_range", "temperature_excursion:a1:temperature_excursion")
    assert (report.on_hand, report.quarantined) == (100, 0)


def test_a_chilled_arrival_without_a_curve_is_a_finding_and_goods_that_are_not_chilled_need_none():
    global ROWS, RECORDS
    kept = ROWS, RECORDS
    try:
        ROWS = ROWS[:1]
        RECORDS = {"gr-1": {"supplier": "SUP-1"}}
        (report,) = gsp_reports(Lake(), catalog(), "L1", "MILK", 15, 30)
        assert report.findings == ("gr-1:curve_missing", "temperature_excursion:a1:temperature_excursion")
        plain = catalog()
        plain.skus["MILK"] = plain.skus["MILK"].model_copy(
            update={"cold_chain_min_c": None, "cold_chain_max_c": None}
        )
        (report,) = gsp_reports(Lake(), plain, "L1", "MILK", 15, 30)
        assert not report.cold_chain and report.findings == ()
    finally:
        ROWS, RECORDS = kept
