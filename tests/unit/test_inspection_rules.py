from datetime import UTC, datetime

import pytest

from stockflow.events import InspectionVerdict
from stockflow.inspection import (
    CARTON,
    CLASSES,
    DAMAGED,
    MIXED,
    PALLET,
    Detection,
    inspect,
    inspection_event,
    layers_of,
)
from vision.synth import CLASSES as LABELLED
from vision.synth import pallet_photo

LOAD = Detection(PALLET, 0.9, (10, 10, 300, 300))


def grid(rows, columns, cls=CARTON, confidence=0.9, tilt=0.0):
    """Cartons 50×40 in rows, each row drifting `tilt` pixels per column (camera tilt)."""
    return [
        Detection(cls, confidence, (x := 20 + c * 52, y := 250 - r * 42 + c * tilt, x + 50, y + 40))
        for r in range(rows)
        for c in range(columns)
    ]


def test_the_rules_speak_the_detector_s_classes():
    assert CLASSES == LABELLED


@pytest.mark.parametrize("index", range(60))
def test_ground_truth_boxes_give_the_ground_truth(index):
    """Fed the generator's own boxes, the rules recover its counts, layers, damage and mix."""
    _, truth = pallet_photo(11, index)
    result = inspect(Detection(cls, 0.95, box) for cls, box in truth.boxes)
    assert result.pallet_found
    assert (result.cartons, result.layers, result.damaged_cartons, result.mixed_goods) == (
        truth.cartons, truth.layers, truth.damaged, truth.mixed,
    )  # fmt: skip
    expected = (
        InspectionVerdict.QUARANTINE if truth.damaged
        else InspectionVerdict.MANUAL_REVIEW if truth.mixed
        else InspectionVerdict.ACCEPT
    )  # fmt: skip
    assert result.verdict is expected


def test_rows_survive_a_tilted_camera():
    assert layers_of(grid(4, 5, tilt=3.0)) == 4
    assert layers_of(grid(3, 1)) == 3 and layers_of([]) == 0


def test_unsure_damage_or_an_unsure_load_goes_to_a_person():
    sure = inspect([LOAD, *grid(2, 3), Detection(DAMAGED, 0.8, (20, 100, 70, 140))])
    assert sure.verdict is InspectionVerdict.QUARANTINE and sure.damaged_cartons == 1 and sure.cartons == 7
    unsure = inspect([LOAD, *grid(2, 3), Detection(DAMAGED, 0.3, (20, 100, 70, 140))])
    assert unsure.verdict is InspectionVerdict.MANUAL_REVIEW and unsure.damaged_cartons == 0
    assert unsure.confidence == pytest.approx(0.7)
    faint = inspect([Detection(PALLET, 0.4, LOAD.box), *grid(2, 3)])
    assert faint.verdict is InspectionVerdict.MANUAL_REVIEW
    clean = inspect([LOAD, *grid(2, 3), Detection(CARTON, 0.1, (0, 0, 5, 5))])  # noise under the floor
    assert (clean.verdict, clean.cartons, clean.layers) == (InspectionVerdict.ACCEPT, 6, 2)
    mixed = inspect([Detection(MIXED, 0.9, LOAD.box), *grid(2, 3)])
    assert mixed.mixed_goods and mixed.verdict is InspectionVerdict.MANUAL_REVIEW


def test_an_ordinary_photo_finds_no_pallet_and_records_nothing():
    result = inspect([*grid(1, 2, confidence=0.3), Detection(PALLET, 0.2, LOAD.box)])
    assert not result.pallet_found and result.cartons == 0
    with pytest.raises(ValueError, match="no pallet"):
        inspection_event(
            result, event_id="x", occurred_at=datetime.now(UTC), source="cam", location="WH1", supplier="S",
            sku="K", batch=None,
        )  # fmt: skip


def test_a_result_becomes_the_event_the_stream_quarantines_on():
    result = inspect([LOAD, *grid(2, 2), Detection(DAMAGED, 0.77, (20, 100, 70, 140))])
    ev = inspection_event(
        result, event_id="ins-9", occurred_at=datetime.now(UTC), source="dock-cam-2", location="WH1",
        supplier="SUP1", sku="MILK-1L", batch="B1", model="pallets.onnx@abc",
    )  # fmt: skip
    assert (ev.verdict, ev.cartons, ev.layers, ev.damaged_cartons, ev.confidence) == (
        "quarantine", 5, 3, 1, 0.77,
    )  # fmt: skip
