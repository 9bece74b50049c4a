"""From a detector's boxes to an inspection result and its event: the rules, not the model.

The detector (``vision/``) finds ``carton``, ``damaged_carton`` and one load box, ``pallet`` or
``mixed_pallet``. Here:

* **no pallet found**: no load box at `PALLET_FLOOR` confidence or more (an ordinary photo).
  Nothing is decided and no event is made;
* **cartons**: every carton box, damaged or not, at `CARTON_FLOOR` or more;
* **layers**: rows of cartons. Boxes are taken from the top down; a box whose centre lies
  within half the row's median carton height of a row's centre joins that row, otherwise it
  starts a new one. Rows survive a few degrees of camera tilt;
* **damage**: damaged cartons at `DAMAGE_SURE` or more; one between `CARTON_FLOOR` and
  `DAMAGE_SURE` makes the verdict a manual review;
* **mixed goods**: the load box says ``mixed_pallet`` (a learned class, not a colour rule);
* **verdict**: quarantine when damage is sure; manual review when damage is unsure, goods are
  mixed, or the load itself is unsure (under `DAMAGE_SURE`); accept otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from stockflow.events import InspectionVerdict, PalletInspected

CLASSES = ("carton", "damaged_carton", "pallet", "mixed_pallet")
CARTON, DAMAGED, PALLET, MIXED = range(4)
CARTON_FLOOR = 0.25
PALLET_FLOOR = 0.35
DAMAGE_SURE = 0.5


@dataclass(frozen=True, slots=True)
class Detection:
    cls: int
    confidence: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1

    @property
    def centre_y(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass(frozen=True, slots=True)
class InspectionResult:
    pallet_found: bool
    cartons: int = 0
    layers: int = 0
    damaged: tuple[Detection, ...] = ()
    unsure_damage: tuple[Detection, ...] = ()
    mixed_goods: bool = False
    confidence: float = 0.0
    verdict: InspectionVerdict = InspectionVerdict.MANUAL_REVIEW

    @property
    def damaged_cartons(self) -> int:
        return len(self.damaged)


def layers_of(cartons: Iterable[Detection]) -> int:
    """Rows of cartons, from the top down (see the module docstring)."""
    boxes = sorted(cartons, key=lambda d: d.centre_y)
    if not boxes:
        return 0
    half = median(d.height for d in boxes) / 2
    rows: list[list[float]] = []
    for d in boxes:
        row = rows[-1] if rows else None
        if row is not None and abs(d.centre_y - sum(row) / len(row)) <= half:
            row.append(d.centre_y)
        else:
            rows.append([d.centre_y])
    return len(rows)


def verdict_for(damage_found: bool, in_doubt: bool) -> InspectionVerdict:
    """Sure damage quarantines; doubt (unsure damage, mixed goods, an unsure load) sends the
    pallet to a person; otherwise it is accepted."""
    if damage_found:
        return InspectionVerdict.QUARANTINE
    return InspectionVerdict.MANUAL_REVIEW if in_doubt else InspectionVerdict.ACCEPT


def inspect(detections: Iterable[Detection]) -> InspectionResult:
    """The result of one photo's detections (see the module docstring for the rules)."""
    found = list(detections)
    loads = [d for d in found if d.cls in (PALLET, MIXED) and d.confidence >= PALLET_FLOOR]
    if not loads:
        return InspectionResult(pallet_found=False)
    load = max(loads, key=lambda d: d.confidence)
    cartons = [d for d in found if d.cls in (CARTON, DAMAGED) and d.confidence >= CARTON_FLOOR]
    damaged = tuple(d for d in cartons if d.cls == DAMAGED and d.confidence >= DAMAGE_SURE)
    unsure = tuple(d for d in cartons if d.cls == DAMAGED and d.confidence < DAMAGE_SURE)
    mixed = load.cls == MIXED
    if damaged:
        confidence = min(d.confidence for d in damaged)
    else:
        confidence = min([load.confidence, *(1 - d.confidence for d in unsure)])
    verdict = verdict_for(bool(damaged), bool(unsure) or mixed or load.confidence < DAMAGE_SURE)
    return InspectionResult(
        True, len(cartons), layers_of(cartons), damaged, unsure, mixed, confidence, verdict
    )


def inspection_event(
    result: InspectionResult,
    *,
    event_id: str,
    occurred_at: datetime,
    source: str,
    location: str,
    supplier: str,
    sku: str,
    batch: str | None,
    purchase_order: str | None = None,
    model: str = "",
    image: str | None = None,
) -> PalletInspected:
    """The event that records an inspection (the stream quarantines on its verdict)."""
    if not result.pallet_found:
        raise ValueError("no pallet found in the photo: nothing to record")
    return PalletInspected(
        event_id=event_id,
        occurred_at=occurred_at,
        source=source,
        location=location,
        inspection_id=event_id,
        supplier=supplier,
        purchase_order=purchase_order,
        sku=sku,
        batch=batch,
        cartons=result.cartons,
        layers=result.layers,
        damaged_cartons=result.damaged_cartons,
        mixed_goods=result.mixed_goods,
        confidence=round(result.confidence, 4),
        verdict=result.verdict,
        model=model,
        image=image,
    )
