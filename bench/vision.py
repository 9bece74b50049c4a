"""Pallet inspection benchmark: the edge detector against ultralytics' own predict, and the
committed model's accuracy on held-out photos.

Speed: milliseconds per photo (one 416 px photo at a time, as a dock camera sends them) on the
OpenCV DNN path, against ultralytics' predict with the same weights in torch (the baseline), both
on the CPU with the same threads. Accuracy: the core's inspection rules on the OpenCV path's
boxes, over `BENCH_VISION_PHOTOS` pallet photos from a seed never trained or validated on and a
third as many ordinary photos. Targets: pallet damage recall ≥ 0.97 at precision ≥ 0.95,
cartons and layers exact on ≥ 95% of photos."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench.pipeline import Figure, report_and_save
from vision.detector import DEFAULT_MODEL, Detector
from vision.evaluate import evaluate
from vision.synth import pallet_photo

console = Console()
PHOTOS = int(os.environ.get("BENCH_VISION_PHOTOS", "500"))
TIMED = 100


def ms_per_photo(detect, photos) -> float:  # noqa: ANN001
    for img in photos[:5]:  # warm up
        detect(img)
    started = time.perf_counter()
    for img in photos:
        detect(img)
    return 1000 * (time.perf_counter() - started) / len(photos)


def measure() -> list[Figure]:
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="stockflow-bench-vision-") as tmp:
        from vision.train import offline

        offline(Path(tmp))
        import torch
        from ultralytics import YOLO

        torch.set_num_threads(threads)
        detector = Detector(DEFAULT_MODEL, threads=threads)
        model = YOLO(str(DEFAULT_MODEL.with_suffix(".pt")), task="detect")
        photos = [pallet_photo(13, i)[0] for i in range(TIMED)]
        opencv = ms_per_photo(detector.detect, photos)
        torch_path = ms_per_photo(
            lambda img: model.predict(img, imgsz=detector.imgsz, rect=False, device="cpu", verbose=False),
            photos,
        )
    console.print(f"vision: held-out accuracy on {PHOTOS} pallet photos …")
    s = evaluate(detector.detect, photos=PHOTOS, ordinary=PHOTOS // 3)
    console.print(f"  {s.as_dict()}")
    return [
        Figure(f"inference, OpenCV DNN ({detector.imgsz} px, {threads} threads)", opencv, "ms/photo",
               baseline=torch_path),
        Figure("inference, ultralytics predict (torch)", torch_path, "ms/photo"),
        Figure("pallet damage recall", s.damage_recall, "", target="≥ 0.97", ok=s.damage_recall >= 0.97),
        Figure("pallet damage precision", s.damage_precision, "", target="≥ 0.95", ok=s.damage_precision >= 0.95),
        Figure("carton count exact", s.cartons_exact, "", target="≥ 0.95", ok=s.cartons_exact >= 0.95),
        Figure("layers exact", s.layers_exact, "", target="≥ 0.95", ok=s.layers_exact >= 0.95),
        Figure("mixed goods precision", s.mixed_precision, ""),
        Figure("mixed goods recall", s.mixed_recall, ""),
        Figure(f"no pallet found, {s.ordinary_photos} ordinary photos", s.no_pallet_found, ""),
        Figure("pallet photos sent to manual review", s.manual_review, ""),
    ]  # fmt: skip


def main() -> None:
    report_and_save(
        measure(),
        "stockflow pallet inspection benchmark (baseline: ultralytics predict, same weights, same CPU)",
        "vision",
    )


if __name__ == "__main__":
    main()
