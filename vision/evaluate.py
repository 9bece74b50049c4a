"""Held-out accuracy of a detector with the core's inspection rules, photo by photo.

Pallet photos come from a seed no training or validation split used; ordinary photos (no
pallet) test "no pallet found". Per pallet photo the result is compared with the generator's
truth: is the pallet damaged (any damaged carton), the carton count, the layers, mixed goods.
A pallet counts as found damaged when the result holds a damaged carton, sure (quarantine) or
unsure (held for a person): either way the pallet does not go to stock unchecked."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from stockflow.inspection import Detection, InspectionVerdict, inspect
from vision.synth import ordinary_photo, pallet_photo

HELD_OUT_SEED = 3


@dataclass(frozen=True)
class Scores:
    photos: int
    ordinary_photos: int
    damage_precision: float
    damage_recall: float
    cartons_exact: float
    layers_exact: float
    mixed_precision: float
    mixed_recall: float
    no_pallet_found: float  # of the ordinary photos
    pallet_missed: float  # pallet photos where no pallet was found
    manual_review: float  # pallet photos sent to a person
    ms_per_photo: float

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def evaluate(
    detect: Callable[[np.ndarray], Sequence[Detection]],
    photos: int = 300,
    ordinary: int = 100,
    seed: int = HELD_OUT_SEED,
    size: int = 416,
) -> Scores:
    tp = fp = fn = 0
    mtp = mfp = mfn = 0
    cartons = layers = missed = review = none_found = 0
    seconds = 0.0
    for index in range(photos):
        img, truth = pallet_photo(seed, index, size)
        started = time.perf_counter()
        result = inspect(detect(img))
        seconds += time.perf_counter() - started
        if not result.pallet_found:
            missed += 1
        said_damaged = result.damaged_cartons > 0 or bool(result.unsure_damage)
        tp += truth.damaged > 0 and said_damaged
        fp += truth.damaged == 0 and said_damaged
        fn += truth.damaged > 0 and not said_damaged
        mtp += truth.mixed and result.mixed_goods
        mfp += not truth.mixed and result.mixed_goods
        mfn += truth.mixed and not result.mixed_goods
        cartons += result.cartons == truth.cartons
        layers += result.layers == truth.layers
        review += result.pallet_found and result.verdict == InspectionVerdict.MANUAL_REVIEW
    for index in range(ordinary):
        img, _ = ordinary_photo(seed, index, size)
        started = time.perf_counter()
        none_found += not inspect(detect(img)).pallet_found
        seconds += time.perf_counter() - started
    return Scores(
        photos=photos,
        ordinary_photos=ordinary,
        damage_precision=_ratio(tp, tp + fp),
        damage_recall=_ratio(tp, tp + fn),
        cartons_exact=_ratio(cartons, photos),
        layers_exact=_ratio(layers, photos),
        mixed_precision=_ratio(mtp, mtp + mfp),
        mixed_recall=_ratio(mtp, mtp + mfn),
        no_pallet_found=_ratio(none_found, ordinary),
        pallet_missed=_ratio(missed, photos),
        manual_review=_ratio(review, photos),
        ms_per_photo=1000 * seconds / max(photos + ordinary, 1),
    )
