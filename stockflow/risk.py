"""Supplier risk from inbound pallet inspections: a damage rate that two pallets cannot swing.

For each supplier, every inspected pallet counts with a weight that halves every
`HALF_LIFE_DAYS` of age (``w = 0.5 ** (age_days / HALF_LIFE_DAYS)``), so that a supplier that
improved is not held to last year's record. With ``n = Σ w`` over its pallets and
``k = Σ w`` over those with at least one damaged carton, the risk is the mean of the Beta
posterior of its pallet damage rate::

    risk = (α + k) / (α + β + n),    α = PRIOR_RATE × PRIOR_PALLETS,  β = PRIOR_PALLETS − α

A new supplier therefore starts at `PRIOR_RATE`, as if it had already shown `PRIOR_PALLETS`
pallets at that rate; its own record takes over as its pallets accumulate (after 20 pallets it
weighs twice the prior). The level is ``high`` at `HIGH` or more, ``medium`` at `MEDIUM` or more,
else ``low``. Pallets the camera could not judge (manual review without damage found) count as
inspected and undamaged only once a person has decided; here they are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from stockflow.events import InspectionVerdict, PalletInspected

PRIOR_RATE = 0.05
PRIOR_PALLETS = 10.0
HALF_LIFE_DAYS = 90.0
MEDIUM = 0.08
HIGH = 0.15


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class SupplierRisk:
    supplier: str
    pallets: int  # inspected pallets counted (unweighted)
    damaged_pallets: int
    damaged_cartons: int
    cartons: int
    mixed_pallets: int
    weight: float  # n: the pallets' weights by age
    damaged_weight: float  # k
    risk: float  # posterior mean pallet damage rate
    level: RiskLevel

    @property
    def observed_rate(self) -> float | None:
        """Damaged pallets over pallets, unweighted and without the prior."""
        return self.damaged_pallets / self.pallets if self.pallets else None


def level_of(risk: float) -> RiskLevel:
    return RiskLevel.HIGH if risk >= HIGH else RiskLevel.MEDIUM if risk >= MEDIUM else RiskLevel.LOW


def supplier_risk(
    inspections: Iterable[PalletInspected],
    now: datetime,
    prior_rate: float = PRIOR_RATE,
    prior_pallets: float = PRIOR_PALLETS,
    half_life_days: float = HALF_LIFE_DAYS,
) -> dict[str, SupplierRisk]:
    """Every supplier's risk from its inspections (see the module docstring for the formula)."""
    if not 0 < prior_rate < 1 or prior_pallets <= 0 or half_life_days <= 0:
        raise ValueError(
            "the prior rate lies strictly between 0 and 1; prior pallets and half-life are positive"
        )
    totals: dict[str, list[float]] = {}
    for ev in inspections:
        if not ev.pallet_found or (ev.verdict is InspectionVerdict.MANUAL_REVIEW and not ev.damaged_cartons):
            continue
        age_days = max(0.0, (now - ev.occurred_at).total_seconds() / 86400)
        w = 0.5 ** (age_days / half_life_days)
        damaged = ev.damaged_cartons > 0
        t = totals.setdefault(ev.supplier, [0, 0, 0, 0, 0, 0.0, 0.0])
        t[0] += 1
        t[1] += damaged
        t[2] += ev.damaged_cartons
        t[3] += ev.cartons
        t[4] += ev.mixed_goods
        t[5] += w
        t[6] += w if damaged else 0.0
    alpha = prior_rate * prior_pallets
    out = {}
    for supplier, (pallets, damaged, damaged_cartons, cartons, mixed, n, k) in sorted(totals.items()):
        risk = (alpha + k) / (prior_pallets + n)
        out[supplier] = SupplierRisk(
            supplier, int(pallets), int(damaged), int(damaged_cartons), int(cartons), int(mixed), n, k, risk,
            level_of(risk),
        )  # fmt: skip
    return out


def prior_only(supplier: str, prior_rate: float = PRIOR_RATE) -> SupplierRisk:
    """A supplier never inspected: the prior alone."""
    return SupplierRisk(supplier, 0, 0, 0, 0, 0, 0.0, 0.0, prior_rate, level_of(prior_rate))
