"""Cold chain: temperature excursions of a location's sensors, bound to the cold-chain SKUs
(and their batches) stocked there.

An excursion starts with the first reading outside a SKU's range and ends with the first
reading back inside. An alert is raised once per excursion, when it has lasted at least
``min_duration`` (event time, so replays raise the same alerts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stockflow.alerts import Alert, AlertType, Severity, alert
from stockflow.events import TemperatureReading
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

    def observe(self, reading: TemperatureReading, stocked: list[tuple[Sku, tuple[str, ...]]]) -> list[Alert]:
        """Feed one reading with the cold-chain SKUs (and their batches) stocked at its location."""
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
