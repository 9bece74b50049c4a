"""Cold chain: temperature excursions of a location's sensors, bound to the cold-chain SKUs
(and their batches) stocked there, and the curves goods arrive with.

An excursion starts with the first reading outside a SKU's range and ends with the first
reading back inside. An alert is raised once per excursion, when it has lasted at least
``min_duration`` (event time, so replays raise the same alerts), and the batches on hand are
held (`excursion_holds`). A receipt or transfer of cold-chain goods carries its curve
(`check_curve`); one that does not clear them receives them into quarantine."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stockflow.alerts import Alert, AlertType, Severity, alert
from stockflow.events import HoldAction, QualityHold, TemperatureReading
from stockflow.i18n import Message
from stockflow.masterdata import Sku


@dataclass(slots=True)
class Excursion:
    sensor: str
    location: str
    sku: str
    started_at: datetime
    last_at: datetime
    peak_c: float
    worst_deviation_c: float
    batches: tuple[str, ...] = ()
    alerted: bool = False

    @property
    def minutes(self) -> float:
        return (self.last_at - self.started_at).total_seconds() / 60


def deviation(sku: Sku, celsius: float) -> float:
    """Degrees outside the SKU's range (0 inside)."""
    assert sku.cold_chain_min_c is not None and sku.cold_chain_max_c is not None
    if celsius < sku.cold_chain_min_c:
        return sku.cold_chain_min_c - celsius
    if celsius > sku.cold_chain_max_c:
        return celsius - sku.cold_chain_max_c
    return 0.0


def common_range(skus: Iterable[Sku]) -> tuple[float, float]:
    """The temperatures inside every one of the SKUs' ranges: (the highest minimum, the lowest
    maximum); empty (low above high) when two ranges do not overlap, unbounded for no SKU."""
    low, high = -math.inf, math.inf
    for sku in skus:
        assert sku.cold_chain_min_c is not None and sku.cold_chain_max_c is not None
        low, high = max(low, sku.cold_chain_min_c), min(high, sku.cold_chain_max_c)
    return low, high


#: Why a curve does not clear cold-chain goods (they are received into quarantine).
CURVE_MISSING = "curve_missing"
CURVE_GAP = "curve_gap"
CURVE_OUT_OF_RANGE = "curve_out_of_range"
#: Why a batch on hand was held: an excursion where it is kept (`excursion_holds`).
EXCURSION_HOLD = "temperature_excursion"


@dataclass(frozen=True, slots=True)
class CurveCheck:
    """What a temperature curve says of cold-chain goods received: `reason` is "" when it
    clears them, else why they go into quarantine. Minutes outside the range count the time
    from each reading outside it to the next reading (the last reading counts no time)."""

    reason: str
    readings: int = 0
    minutes_outside: float = 0.0
    worst_deviation_c: float = 0.0
    longest_gap_minutes: float = 0.0

    @property
    def clears(self) -> bool:
        return not self.reason


def custody_rules(sku: Sku, excursion_minutes: float, max_gap_minutes: float) -> tuple[timedelta, timedelta]:
    """The time a SKU's curve may spend outside its range (its own tolerance, else the
    company's `excursion_minutes`) and the longest gap between readings that still proves
    custody (`curve_max_gap_minutes`)."""
    tolerance = sku.cold_chain_tolerance_minutes
    return (
        timedelta(minutes=excursion_minutes if tolerance is None else tolerance),
        timedelta(minutes=max_gap_minutes),
    )


def check_curve(
    sku: Sku,
    readings: Sequence[tuple[datetime, float]],
    tolerance: timedelta,
    max_gap: timedelta,
    span: tuple[datetime | None, datetime] | None = None,
) -> CurveCheck:
    """Check a curve against the SKU's range (出入库温度曲线) over the time custody lasted,
    `span` (from, to; from None: the first reading): no reading is `curve_missing`; goods that
    arrive outside the range (the last reading), more time outside it than `tolerance`, or any
    reading outside it when the tolerance is 0, is `curve_out_of_range`; readings further apart
    than `max_gap`, or not reaching the span's ends to within it, is `curve_gap`. A reading
    outside counts until the next one (the last one until the span's end)."""
    if not readings:
        return CurveCheck(CURVE_MISSING)
    ordered = sorted(readings)
    start, end = span if span is not None else (None, ordered[-1][0])
    outside = timedelta()
    gaps = [later[0] - earlier[0] for earlier, later in zip(ordered, ordered[1:], strict=False)]
    for (at, celsius), (then, _) in zip(
        ordered, [*ordered[1:], (max(end, ordered[-1][0]), 0.0)], strict=True
    ):
        if deviation(sku, celsius):
            outside += then - at
    gaps.append(end - ordered[-1][0])
    if start is not None:
        gaps.append(ordered[0][0] - start)
    worst = max(deviation(sku, celsius) for _, celsius in ordered)
    longest = max(gaps, default=timedelta())
    arrives_outside = deviation(sku, ordered[-1][1]) > 0
    if arrives_outside or ((outside > tolerance) if tolerance > timedelta() else worst > 0):
        reason = CURVE_OUT_OF_RANGE
    elif longest > max_gap:
        reason = CURVE_GAP
    else:
        reason = ""
    return CurveCheck(
        reason,
        len(ordered),
        outside.total_seconds() / 60,
        worst,
        max(longest, timedelta()).total_seconds() / 60,
    )


def excursion_holds(excursion_alert: Alert, base_unit: str) -> list[QualityHold]:
    """An excursion that raised its alert holds the batches of the SKU on hand at the location
    (a quality hold of each whole batch), under ids derived from the alert's: a reading seen
    again raises the same alert and the same holds, which the ledger takes as duplicates.
    `base_unit`: the SKU's (a whole batch is held, counted in it)."""
    details = excursion_alert.details
    reason = (
        f"temperature_excursion {excursion_alert.alert_id}: {details.get('minutes')} min, "
        f"peak {details.get('peak_c')} C, sensor {details.get('sensor')}"
    )
    holds = []
    for batch in details.get("batches") or [""]:
        digest = hashlib.sha256(f"{excursion_alert.alert_id}|{batch}".encode()).hexdigest()[:24]
        holds.append(
            QualityHold(
                event_id=f"excursion-hold:{digest}",
                occurred_at=excursion_alert.occurred_at,
                source="coldchain",
                location=excursion_alert.location,
                sku=excursion_alert.sku,
                batch=batch or None,
                action=HoldAction.HOLD,
                unit=base_unit,
                reason=reason[:500],
            )
        )
    return holds


@dataclass
class ColdChainMonitor:
    min_duration: timedelta
    open: dict[tuple[str, str], Excursion] = field(default_factory=dict)

    def snapshot(self) -> list[list[Any]]:
        """The open excursions, as JSON-ready values."""
        return [
            [
                e.sensor,
                e.location,
                e.sku,
                e.started_at.isoformat(),
                e.last_at.isoformat(),
                e.peak_c,
                e.worst_deviation_c,
                list(e.batches),
                e.alerted,
            ]
            for e in self.open.values()
        ]

    def restore(self, rows: list[list[Any]]) -> None:
        self.open = {}
        for sensor, location, sku, started, last, peak, worst, batches, alerted in rows:
            self.open[(sensor, sku)] = Excursion(
                sensor,
                location,
                sku,
                datetime.fromisoformat(started),
                datetime.fromisoformat(last),
                peak,
                worst,
                tuple(batches),
                alerted,
            )

    def observe(
        self,
        reading: TemperatureReading,
        stocked: Sequence[tuple[Sku, tuple[str, ...]]],
        within: tuple[float, float] | None = None,
    ) -> list[Alert]:
        """Feed one reading with the cold-chain SKUs (and their batches) stocked at its location.
        `within`: their `common_range`, when known: a reading inside it, from a sensor with no
        excursion open, changes nothing (the usual reading), and is not looked at SKU by SKU."""
        if (
            within is not None
            and within[0] <= reading.celsius <= within[1]
            and not any(sensor == reading.sensor for sensor, _ in self.open)
        ):
            return []
        alerts = []
        for sku, batches in stocked:
            key = (reading.sensor, sku.sku)
            off = deviation(sku, reading.celsius)
            exc = self.open.get(key)
            if off == 0:
                self.open.pop(key, None)
                continue
            if exc is None:
                exc = self.open[key] = Excursion(
                    reading.sensor,
                    reading.location,
                    sku.sku,
                    reading.occurred_at,
                    reading.occurred_at,
                    reading.celsius,
                    off,
                    batches,
                )
            else:
                exc.last_at = max(exc.last_at, reading.occurred_at)
                if off > exc.worst_deviation_c:
                    exc.worst_deviation_c, exc.peak_c = off, reading.celsius
                exc.batches = tuple(sorted(set(exc.batches) | set(batches)))
            if not exc.alerted and exc.last_at - exc.started_at >= self.min_duration:
                exc.alerted = True
                alerts.append(
                    alert(
                        AlertType.TEMPERATURE_EXCURSION,
                        Severity.CRITICAL,
                        reading.occurred_at,
                        reading.location,
                        Message(
                            "alert.temperature_excursion",
                            sku=sku.sku,
                            location=reading.location,
                            minutes=f"{exc.minutes:.0f}",
                            low=sku.cold_chain_min_c,
                            high=sku.cold_chain_max_c,
                            peak=f"{exc.peak_c:.1f}",
                            sensor=reading.sensor,
                        ),
                        id_parts=(reading.sensor, sku.sku, exc.started_at.isoformat()),
                        sku=sku.sku,
                        sensor=reading.sensor,
                        started_at=exc.started_at.isoformat(),
                        minutes=round(exc.minutes, 1),
                        peak_c=exc.peak_c,
                        batches=list(exc.batches),
                    )
                )
        return alerts
