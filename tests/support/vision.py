"""Photos for the tests from the generator, from a seed neither training nor validation used."""

from __future__ import annotations

from functools import cache

from vision.synth import ordinary_photo, pallet_photo

TEST_SEED = 7


@cache
def damaged_and_sound():
    """(photo, truth) of the first damaged pallet, of the first sound unmixed one, and an
    ordinary photo without a pallet."""
    damaged = sound = None
    for index in range(100):
        img, truth = pallet_photo(TEST_SEED, index)
        if damaged is None and truth.damaged:
            damaged = (img, truth)
        if sound is None and not truth.damaged and not truth.mixed:
            sound = (img, truth)
        if damaged and sound:
            return damaged, sound, ordinary_photo(TEST_SEED, 0)
    raise AssertionError("the generator made no damaged or no sound pallet in 100 photos")
