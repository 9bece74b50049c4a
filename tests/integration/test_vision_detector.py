"""The edge detector on the committed model: the same boxes as ultralytics' own predict on the
same weights, NMS and letterbox as ultralytics does them, and the held-out accuracy the issue
asks of the committed model (measured with the core's inspection rules)."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from stockflow.config import get_settings
from stockflow.inspection import CARTON, DAMAGED
from tests.support.vision import damaged_and_sound
from tests.unit.test_inspection_photos import png_declaring
from vision.detector import COUNTING_GROUPS, DEFAULT_MODEL, Detector, letterbox, nms
from vision.evaluate import evaluate
from vision.inspector import Inspector, NotAPhoto, PhotoTooLarge
from vision.synth import ordinary_photo, pallet_photo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ultralytics_model(tmp_path_factory):
    from vision.train import offline

    offline(tmp_path_factory.mktemp("ultralytics"))
    from ultralytics import YOLO

    return YOLO(str(DEFAULT_MODEL.with_suffix(".pt")), task="detect")


def photos_of_every_shape():
    """Held-out photos, square and cropped to other shapes (the letterbox pads those)."""
    out = []
    for index in range(6):
        img, _ = pallet_photo(11, index)
        out += [img, img[40:, :], img[:, 60:380]]
    out.append(ordinary_photo(11, 0)[0])
    return out


def match(ours, theirs, threshold):
    """Pairs detections by class and box; those left over must sit at the confidence threshold
    (OpenCV and torch round the last bits differently)."""
    left = list(theirs)
    unmatched = []
    for d in ours:
        best = min(
            (t for t in left if t[0] == d.cls),
            key=lambda t: max(abs(a - b) for a, b in zip(t[2], d.box, strict=True)),
            default=None,
        )
        if best is not None and max(abs(a - b) for a, b in zip(best[2], d.box, strict=True)) < 0.5:
            assert abs(best[1] - d.confidence) < 1e-3
            left.remove(best)
        else:
            unmatched.append(d.confidence)
    unmatched += [t[1] for t in left]
    assert all(abs(c - threshold) < 0.01 for c in unmatched), unmatched
    return len(ours) - len(unmatched)


@pytest.mark.parametrize("agnostic", [False, True])
def test_opencv_path_gives_ultralytics_predict(ultralytics_model, agnostic):
    detector = Detector(groups=(0, 0, 0, 0) if agnostic else None)
    matched = 0
    for img in photos_of_every_shape():
        (result,) = ultralytics_model.predict(
            img, imgsz=detector.imgsz, conf=0.25, iou=0.7, rect=False, agnostic_nms=agnostic,
            device="cpu", verbose=False,
        )  # fmt: skip
        theirs = [
            (int(c), float(p), tuple(float(v) for v in b))
            for b, c, p in zip(
                result.boxes.xyxy.numpy(), result.boxes.cls.numpy(), result.boxes.conf.numpy(), strict=True
            )
        ]
        matched += match(detector.detect(img), theirs, 0.25)
    assert matched > 150  # cartons and loads on 18 pallet photos


def test_nms_is_torchvisions():
    import torch
    import torchvision

    rng = np.random.default_rng(5)
    for _ in range(20):
        xy = rng.uniform(0, 300, (200, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 80, (200, 2))], axis=1).astype(np.float32)
        scores = rng.uniform(0, 1, 200).astype(np.float32)
        expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).numpy()
        assert nms(boxes, scores, 0.5).tolist() == expected.tolist()


def test_letterbox_is_ultralytics():
    from ultralytics.data.augment import LetterBox

    for img in photos_of_every_shape()[:3]:
        ours, _ = letterbox(img, 320)
        assert np.array_equal(ours, LetterBox(320, auto=False)(image=img))


def test_a_carton_is_counted_once_whichever_class_it_reads_as():
    """Within the counting groups no carton box overlaps another beyond the NMS threshold,
    damaged or not; ultralytics' per-class NMS keeps such pairs."""
    grouped, per_class = Detector(), Detector(groups=None)
    assert COUNTING_GROUPS == (0, 0, 1, 1)
    for index in range(10):
        img, _ = pallet_photo(11, index)
        found = [d for d in grouped.detect(img) if d.cls in (CARTON, DAMAGED)]
        assert len(found) <= len([d for d in per_class.detect(img) if d.cls in (CARTON, DAMAGED)])
        boxes = np.array([d.box for d in found], dtype=np.float32)
        assert nms(boxes, np.array([d.confidence for d in found], dtype=np.float32), 0.7).size == len(found)


def test_the_committed_model_meets_the_held_out_targets():
    """Pallet damage recall ≥ 0.97 at precision ≥ 0.95, cartons and layers exact on ≥ 95% of
    photos, no pallet found on photos without one (seed 3: never trained or validated on)."""
    scores = evaluate(Detector().detect, photos=150, ordinary=50)
    assert scores.damage_recall >= 0.97 and scores.damage_precision >= 0.95, scores
    assert scores.cartons_exact >= 0.95 and scores.layers_exact >= 0.95, scores
    assert scores.no_pallet_found >= 0.98 and scores.pallet_missed <= 0.01, scores
    report = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert report["command"].startswith("stockflow vision train") and report["held_out"]["photos"] >= 300


def test_inspector_verdicts_on_damaged_sound_and_ordinary_photos():
    inspector = Inspector()
    (damaged, truth), (sound, sound_truth), (ordinary, _) = damaged_and_sound()
    hurt = inspector.inspect_image(damaged)
    assert hurt.result.verdict == "quarantine" and hurt.result.damaged_cartons == truth.damaged
    assert hurt.caption.startswith("QUARANTINE")
    fine = inspector.inspect_image(sound)
    assert (fine.result.verdict, fine.result.cartons) == ("accept", sound_truth.cartons)
    none = inspector.inspect_image(ordinary)
    assert not none.result.pallet_found and none.caption == "no pallet found"
    assert inspector.model.startswith("pallet-yolo11n-320.onnx@")
    annotated = hurt.annotated()
    assert annotated.shape == damaged.shape and not np.array_equal(annotated, damaged)
    with pytest.raises(NotAPhoto, match="not an image"):
        inspector.inspect_bytes(b"GIF89a but not really")
    with pytest.raises(NotAPhoto, match="empty"):
        inspector.inspect_bytes(b"")
    assert inspector.max_pixels == get_settings().inspection_max_pixels
    with pytest.raises(PhotoTooLarge):
        inspector.inspect_bytes(png_declaring(32000, 32000))


def test_one_detector_gives_each_thread_its_own_net_and_the_serial_results():
    """Threads that share one detector detect as one thread does, each on a net of its own
    (a cv2.dnn.Net keeps its buffers between calls: shared, threads overwrite each other's).
    OpenCV runs one thread per call here, as in the workers; with more, the split of its own
    work changes the last bits of a float."""
    import cv2

    threads_before = cv2.getNumThreads()
    try:
        detector = Detector(threads=1)
        photos = photos_of_every_shape()
        serial = [detector.detect(img) for img in photos]
        nets = {}
        start = threading.Barrier(4, timeout=120)

        def detect_all(offset):
            start.wait()  # all four threads detect at the same time
            nets[threading.get_ident()] = detector.net
            # each thread takes the photos in its own order, so different photos run at once
            order = photos[offset:] + photos[:offset]
            found = [detector.detect(img) for img in order]
            return found[len(photos) - offset :] + found[: len(photos) - offset]

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(detect_all, [0, 5, 10, 15]))
    finally:
        cv2.setNumThreads(threads_before)
    assert len(nets) == 4 and len({id(net) for net in nets.values()}) == 4
    assert all(detector.net is not net for net in nets.values())  # the main thread's is its own too
    for found in results:
        assert found == serial
