"""The GSP report of a batch (GSP 批次温控报告): every arrival of it (receipt, transfer in) with
its temperature curve checked against the SKU's range, the holds, releases and scraps of its
quarantine, and the excursions that found it where it was kept.

Built from a batch's trace (`stockflow.trace`), the readings of the sensors a curve names, and
the excursion alerts; every check is the cold chain's own (`stockflow.coldchain.check_curve`
with the SKU's `custody_rules`), so the report says what the stream decided and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stockflow.coldchain import CURVE_MISSING, CurveCheck, check_curve
from stockflow.masterdata import Sku
from stockflow.trace import BatchKey, BatchTrace, CurveReference, Flow, QualityStep

Points = tuple[tuple[datetime, float], ...]


@dataclass(frozen=True, slots=True)
class Arrival:
    """A receipt or transfer in of the batch, with the readings its curve stands for (the
    logger's, or the named sensor's over the span) and what they say."""

    event_id: str
    event_type: str
    occurred_at: datetime
    location: str
    qty: int
    curve: CurveReference | None
    points: Points
    check: CurveCheck
    #: why the stream received it into quarantine ("" : it did not)
    recorded: str = ""


@dataclass(frozen=True, slots=True)
class ExcursionSeen:
    """An excursion alert that listed the batch among those on hand."""

    alert_id: str
    location: str
    sensor: str
    started_at: datetime | None
    minutes: float
    peak_c: float | None


@dataclass(frozen=True, slots=True)
class GspReport:
    key: BatchKey
    low_c: float | None
    high_c: float | None
    arrivals: tuple[Arrival, ...]
    quality: tuple[QualityStep, ...]
    excursions: tuple[ExcursionSeen, ...]
    on_hand: int
    quarantined: int

    @property
    def cold_chain(self) -> bool:
        return self.low_c is not None

    @property
    def findings(self) -> tuple[str, ...]:
        """What a GSP reviewer must look at: each arrival whose curve does not clear it (its
        reason), each excursion, stock still in quarantine. Empty: the batch's record is clean."""
        found = [
            f"{a.event_id}:{a.check.reason}" for a in self.arrivals if self.cold_chain and a.check.reason
        ]
        found += [f"{e.alert_id}:temperature_excursion" for e in self.excursions]
        if self.quarantined:
            found.append(f"quarantined:{self.quarantined}")
        return tuple(found)


def gsp_report(
    batch: BatchTrace,
    sku: Sku | None,
    rules: tuple[timedelta, timedelta],
    sensor_points: Mapping[tuple[str, datetime, datetime], Sequence[tuple[datetime, float]]],
    excursion_alerts: Sequence[Mapping[str, Any]],
) -> GspReport:
    """The report of one traced batch: `rules` are the SKU's (`custody_rules`), `sensor_points`
    the readings of each (sensor, from, to) a curve names, `excursion_alerts` the alerts
    (their `details` as a mapping) of excursions at the locations where it was kept."""
    tolerance, max_gap = rules
    cold = sku is not None and sku.is_cold_chain
    quarantined_on_arrival = {
        q.event_id: q.reason for q in batch.quality if q.action == "received_into_quarantine"
    }
    arrivals = []
    entering = [
        (r.event_id, "goods_receipt", r.occurred_at, r.location, r.qty, r.curve, r.quarantine_reason)
        for r in batch.receipts
    ] + [
        (
            s.event_id,
            "transfer_in",
            s.occurred_at,
            s.location,
            s.qty,
            s.curve,
            quarantined_on_arrival.get(s.event_id, ""),
        )
        for s in batch.steps_in(Flow.TRANSFERRED_IN)
    ]
    for event_id, event_type, at, location, qty, curve, recorded in sorted(
        entering, key=lambda a: (a[2], a[0])
    ):
        points: Points = ()
        span = None
        if curve is not None and curve.sensor and curve.start is not None and curve.end is not None:
            span = (curve.start, curve.end)
            points = tuple(sorted(sensor_points.get((curve.sensor, curve.start, curve.end), ())))
        elif curve is not None:
            points = curve.points
            span = (None, at)  # the logger's readings, up to the hand-over
        if not cold or sku is None:
            check = CurveCheck("", len(points))
        elif curve is None:
            check = CurveCheck(CURVE_MISSING)
        else:
            check = check_curve(sku, points, tolerance, max_gap, span)
        arrivals.append(Arrival(event_id, event_type, at, location, qty, curve, points, check, recorded))
    excursions = []
    for alert in excursion_alerts if cold else ():
        details = alert.get("details") or {}
        if batch.key.batch not in (details.get("batches") or ()) or alert.get("sku") != batch.key.sku:
            continue
        started = details.get("started_at")
        excursions.append(
            ExcursionSeen(
                str(alert.get("alert_id", "")),
                str(alert.get("location", "")),
                str(details.get("sensor", "")),
                datetime.fromisoformat(started) if isinstance(started, str) else None,
                float(details.get("minutes") or 0),
                details.get("peak_c"),
            )
        )
    return GspReport(
        batch.key,
        sku.cold_chain_min_c if cold and sku is not None else None,
        sku.cold_chain_max_c if cold and sku is not None else None,
        tuple(arrivals),
        batch.quality,
        tuple(
            sorted(excursions, key=lambda e: (e.started_at.isoformat() if e.started_at else "", e.alert_id))
        ),
        batch.total.on_hand,
        batch.total.quarantined,
    )
