import numpy as np
import pytest

from vision.synth import CLASSES, ordinary_photo, pallet_photo, write_dataset, yolo_lines

SIZE = 416


def layers_of(boxes):
    """Rows of cartons: centres more than half a carton apart vertically start a new row."""
    centres = sorted(((y0 + y1) / 2, y1 - y0) for cls, (x0, y0, x1, y1) in boxes if cls in (0, 1))
    rows = 1
    for (a, h), (b, _) in zip(centres, centres[1:], strict=False):
        if b - a > h / 2:
            rows += 1
    return rows


def test_a_photo_is_the_same_for_the_same_seed_and_index_only():
    a, truth_a = pallet_photo(1, 7)
    b, truth_b = pallet_photo(1, 7)
    assert np.array_equal(a, b) and truth_a == truth_b
    assert not np.array_equal(a, pallet_photo(2, 7)[0])
    assert not np.array_equal(a, pallet_photo(1, 8)[0])
    assert a.shape == (SIZE, SIZE, 3) and a.dtype == np.uint8


@pytest.mark.parametrize("index", range(40))
def test_labels_agree_with_the_ground_truth(index):
    _, truth = pallet_photo(3, index)
    classes = [cls for cls, _ in truth.boxes]
    assert classes.count(0) + classes.count(1) == truth.cartons >= 1
    assert classes.count(1) == truth.damaged == len(truth.damage)
    assert [c for c in classes if c >= 2] == [3 if truth.mixed else 2]  # one load box, mixed or not
    assert layers_of(truth.boxes) == truth.layers
    load = next(box for cls, box in truth.boxes if cls >= 2)
    for cls, (x0, y0, x1, y1) in truth.boxes:
        assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE
        if cls < 2:  # every carton lies on the load
            assert x0 >= load[0] - 2 and x1 <= load[2] + 2 and y0 >= load[1] - 2 and y1 <= load[3] + 2
    lines = yolo_lines(truth, SIZE)
    assert len(lines) == len(truth.boxes)
    for line in lines:
        cls, *coords = line.split()
        assert int(cls) < len(CLASSES) and all(0 <= float(v) <= 1 for v in coords)


def test_damage_and_mixed_goods_come_in_realistic_shares():
    truths = [pallet_photo(5, i)[1] for i in range(150)]
    damaged = sum(t.damaged > 0 for t in truths) / len(truths)
    mixed = sum(t.mixed for t in truths) / len(truths)
    assert 0.3 < damaged < 0.6 and 0.15 < mixed < 0.45
    kinds = {k for t in truths for k in t.damage}
    assert kinds == {"crushed_corner", "tear", "wet_stain"}
    assert {t.layers for t in truths} >= {2, 3, 4} and max(t.cartons for t in truths) >= 12


def test_a_dataset_has_images_labels_truth_and_its_yaml(tmp_path):
    data = write_dataset(tmp_path / "ds", train=4, val=2)
    text = data.read_text()
    assert "train: images/train" in text and "3: mixed_pallet" in text
    for split, n in (("train", 4), ("val", 2)):
        images = sorted((tmp_path / "ds" / "images" / split).glob("*.jpg"))
        labels = sorted((tmp_path / "ds" / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n
        assert [p.stem for p in images] == [p.stem for p in labels]
        assert len((tmp_path / "ds" / f"{split}.jsonl").read_text().splitlines()) == n
    with pytest.raises(ValueError, match="different seeds"):
        write_dataset(tmp_path / "same", 1, 1, train_seed=4, val_seed=4)


def test_ordinary_photos_hold_no_pallet_and_are_deterministic():
    img, truth = ordinary_photo(5, 0)
    again, _ = ordinary_photo(5, 0)
    assert np.array_equal(img, again) and not np.array_equal(img, ordinary_photo(5, 1)[0])
    assert img.shape == (416, 416, 3)
    assert (truth.pallet, truth.cartons, truth.boxes, yolo_lines(truth, 416)) == (False, 0, [], [])
    assert truth.image != pallet_photo(5, 0)[1].image


def test_a_dataset_can_hold_photos_without_a_pallet(tmp_path):
    write_dataset(tmp_path / "ds", train=10, val=5, ordinary_share=0.2)
    labels = sorted((tmp_path / "ds" / "labels" / "train").glob("*.txt"))
    empty = [p for p in labels if p.read_text() == ""]
    assert len(labels) == 12 and len(empty) == 2 and all("-o" in p.stem for p in empty)
    assert len(list((tmp_path / "ds" / "images" / "val").glob("*.jpg"))) == 6
