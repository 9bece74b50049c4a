"""The reconciliation use case against fake ports: what it publishes, audits, stores and alerts."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from stockflow.alerts import Alert, AlertType, Severity
from stockflow.events import AdjustmentReason, CycleCount, StockAdjustment, StockCorrection
from stockflow.ledger import Ledger, Position, PositionKey
from stockflow.reconciliation import Action, Classification, variance_adjustment_id
from stockflow.services.reconciliation import Reconciliation, Snapshot, reconcile_legacy
from tests.unit.conftest import at, receipt
from tests.unit.test_reconciliation import count

MILK = PositionKey("WH1", "MILK-1L", "B1")


class Ports:
    """Every port of the use case, in memory; published events are applied by the state unless
    `state_applies` is off."""

    def __init__(self, ledger, state, state_applies=True, last_started_at=None):
        self.book, self.state, self.state_applies = ledger, state, state_applies
        self.published, self.audited, self.saved, self.alerted = [], [], [], []
        self.order: list[str] = []  # "audit <action>" and "publish <event id>", as they came
        self.stream_down = False
        self.applied_ids: set[str] = set()
        self.last = last_started_at

    # live state
    def snapshots(self):
        return {0: Snapshot(0, 100, self.state, frozenset())}

    def applied(self, partition, event_ids):
        return {i: i in self.applied_ids for i in event_ids}

    # ledger
    def replay(self, until_seq):
        assert dict(until_seq) == {0: 100}
        return {0: self.book}, 7

    def replay_all(self):
        return self.book, 7

    def moved_since(self, as_of):
        return set()

    # events, audit, reports, alerts
    def publish(self, event):
        if self.stream_down:
            raise ConnectionError("the stream is down")
        self.order.append(f"publish {event.event_id}")
        self.published.append(event)
        if self.state_applies:
            self.applied_ids.add(event.event_id)

    def append(self, actor, action, target, role="", reason="", details=None):
        self.order.append(f"audit {action}")
        self.audited.append((actor, action, target, role, reason, dict(details or {})))
        return SimpleNamespace(seq=len(self.audited))

    def last_started_at(self, source):
        return self.last

    def save(self, report):
        self.saved.append(report.summary())

    def publish_alert(self, alert):
        self.alerted.append(alert)

    def run(self, catalog, run_id="rec-test"):
        return Reconciliation(
            catalog, live=self, ledger=self, events=self, audit=self, reports=self, alerts=self,
            run_id=run_id, clock=lambda: at(60), sleep=lambda seconds: None,
        )  # fmt: skip


def drifted(catalog, **kwargs):
    """The ledger holds 24 of MILK and a count of 21; the state has 27 (3 applied twice)."""
    ledger = Ledger(catalog)
    ledger.apply(receipt(qty="2"))
    ledger.apply(count(qty=21))
    return Ports(ledger, {MILK: Position(27)}, **kwargs)


def test_drift_is_corrected_the_count_booked_both_audited_and_one_alert_raised(catalog):
    ports = drifted(catalog)
    report = ports.run(catalog).run()
    fix, booking = ports.published
    assert isinstance(fix, StockCorrection) and (fix.on_hand, fix.run_id) == (-3, "rec-test")
    assert isinstance(booking, StockAdjustment) and booking.reason is AdjustmentReason.COUNT_VARIANCE
    assert booking.event_id == variance_adjustment_id("c1") and booking.qty == -3
    assert [(a[0], a[1], a[3]) for a in ports.audited] == [
        ("reconcile_stock", "stock.corrected", "system"),
        ("reconcile_stock", "stock.count_variance_posted", "system"),
    ]
    assert all(a[5]["run_id"] == "rec-test" and a[4] for a in ports.audited)
    (saved,) = ports.saved
    assert (saved["drift"], saved["count_variance"], saved["corrections"], saved["adjustments"]) == (
        1,
        1,
        1,
        1,
    )
    assert saved["unconfirmed"] == 0 and saved["events_replayed"] == 7
    assert all(f.applied for f in report.findings)
    (alert,) = ports.alerted
    assert alert.alert_id == Alert.make_id(AlertType.STOCK_DRIFT, "rec-test")
    assert (alert.severity, alert.location) == (Severity.WARNING, "WH1") and "all corrected" in alert.message


def test_each_repair_is_audited_before_it_is_published(catalog):
    ports = drifted(catalog)
    ports.run(catalog).run()
    fix, booking = ports.published
    assert ports.order == [
        "audit stock.corrected",
        f"publish {fix.event_id}",
        "audit stock.count_variance_posted",
        f"publish {booking.event_id}",
    ]


def test_a_repair_the_stream_refuses_leaves_its_entry_and_one_voiding_it(catalog):
    ports = drifted(catalog)
    ports.stream_down = True
    with pytest.raises(ConnectionError):
        ports.run(catalog).run()
    assert ports.published == []
    (entry, failed) = ports.audited
    assert (entry[1], failed[1]) == ("stock.corrected", "stock.corrected.failed")
    assert failed[5]["voids_entry"] == 1 and failed[5]["event_id"] == entry[5]["event_id"]


def test_a_repair_the_state_never_confirms_makes_the_alert_critical(catalog):
    ports = drifted(catalog, state_applies=False)
    report = ports.run(catalog).run(wait_seconds=0)
    assert report.unconfirmed == 2
    (alert,) = ports.alerted
    assert alert.severity is Severity.CRITICAL and "2 repair(s) not confirmed" in alert.message


def test_report_only_sends_and_audits_nothing_but_still_alerts_the_drift(catalog):
    ports = drifted(catalog)
    report = ports.run(catalog).run(repair=False)
    assert ports.published == [] and ports.audited == []
    assert {f.action for f in report.findings} == {Action.REPORT_ONLY}
    (alert,) = ports.alerted
    assert alert.severity is Severity.WARNING and "not corrected (report only)" in alert.message


def test_no_drift_no_alert_and_a_retried_step_raises_the_same_alert(catalog):
    ports = drifted(catalog)
    ports.state = {MILK: Position(24)}
    ports.run(catalog).run()
    assert ports.alerted == [] and len(ports.published) == 1  # the count only
    drift = drifted(catalog)
    run = drift.run(catalog)
    run.run()
    run.raise_alert()
    assert [a.alert_id for a in drift.alerted] == [drift.alerted[0].alert_id] * 2


def test_a_booked_count_is_reported_once_by_the_first_run_after_it(catalog):
    ports = drifted(catalog)
    ports.state = {MILK: Position(24)}
    ports.applied_ids.add(variance_adjustment_id("c1"))  # the counter booked it already
    (found,) = ports.run(catalog).run().findings
    assert (found.discrepancy.classification, found.action) == (
        Classification.COUNT_VARIANCE,
        Action.ALREADY_POSTED,
    )
    ports.last = at(30) + timedelta(minutes=1)  # a run after the count
    assert ports.run(catalog).run().findings == [] and ports.published == []


def test_a_legacy_export_is_reported_and_stored(catalog):
    ports = drifted(catalog)
    report = reconcile_legacy(
        "location,sku,batch,on_hand\nWH1,MILK-1L,B1,26\n", "old.csv", catalog, ports, ports
    )
    assert report.source == "legacy:old.csv" and report.run_id.startswith("legacy-")
    assert {f.action for f in report.findings} == {Action.REPORT_ONLY}
    assert report.count(Classification.DRIFT) == 1 and ports.saved and ports.published == []


def test_a_count_of_an_ingredient_kept_in_grams_is_booked_in_grams():
    """A restaurant counts flour in kilograms; the count's difference is posted in the SKU's
    base unit (grams), which the ledger takes."""
    from tests.support.restaurant import DAY, restaurant_catalog, stock_in
    from tests.support.restaurant import at as kitchen_at

    catalog = restaurant_catalog()
    ledger = Ledger(catalog)
    ledger.apply(stock_in("in", "FLOUR", "5", "F1", DAY + timedelta(days=5), unit="kg"))
    ledger.apply(
        CycleCount(
            event_id="c9", occurred_at=kitchen_at(30), source="rf", location="R1", count_id="CNT-9",
            sku="FLOUR", batch="F1", counted_qty=Decimal("4.875"), unit="kg",
        )
    )  # fmt: skip
    ports = Ports(ledger, dict(ledger.positions()))
    ports.run(catalog).run()
    (booking,) = ports.published
    assert (booking.reason, booking.qty, booking.unit) == (AdjustmentReason.COUNT_VARIANCE, -125, "g")
    ledger.apply(booking)
    assert ledger.position(PositionKey("R1", "FLOUR", "F1")).on_hand == 4875
