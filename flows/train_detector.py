"""Training the pallet detector: generate photos, train YOLO from its YAML on the CPU, export
ONNX, measure it on held-out photos with the edge detector and the core's rules, and write the
report beside the model.

The report (``<model>.json``) holds the command, the configuration, ultralytics' validation
figures and the held-out inspection figures; the edge detector reads its input size there."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from vision.train import TrainConfig, export_onnx, train, training_metrics, write_report

ORDINARY_SHARE = 0.1  # photos without a pallet, per pallet photo, in training and validation


@task(cache_policy=NO_CACHE)
def make_dataset(cfg: TrainConfig, root: Path) -> Path:
    from vision.synth import write_dataset

    if root.exists():
        shutil.rmtree(root)
    return write_dataset(
        root,
        cfg.train_photos,
        cfg.val_photos,
        cfg.photo_size,
        cfg.train_seed,
        cfg.val_seed,
        ordinary_share=ORDINARY_SHARE,
    )


@task(cache_policy=NO_CACHE)
def fit(cfg: TrainConfig, data: Path, work: Path) -> Path:
    return train(cfg, data, work)


@task(cache_policy=NO_CACHE)
def export(weights: Path, cfg: TrainConfig, target: Path) -> Path:
    return export_onnx(weights, cfg.imgsz, target, cfg.threads)


@task(cache_policy=NO_CACHE)
def measure(model: Path, imgsz: int, photos: int, ordinary: int) -> dict[str, Any]:
    from vision.detector import Detector
    from vision.evaluate import HELD_OUT_SEED, evaluate

    detector = Detector(model, imgsz=imgsz)
    return {"held_out_seed": HELD_OUT_SEED, **evaluate(detector.detect, photos, ordinary).as_dict()}


@flow(name="train-detector")
def train_detector(
    model_dir: Path,
    work_dir: Path,
    cfg: TrainConfig | None = None,
    held_out: int = 300,
    held_out_ordinary: int = 100,
    command: str = "",
) -> dict[str, Any]:
    """Train, export and measure; the model and its report land in `model_dir`."""
    log = get_run_logger()
    cfg = cfg or TrainConfig()
    started = time.monotonic()
    data = make_dataset(cfg, work_dir / "dataset")
    log.info("dataset of %d + %d photos at %s", cfg.train_photos, cfg.val_photos, data.parent)
    weights = fit(cfg, data, work_dir)
    seconds = time.monotonic() - started
    model = export(weights, cfg, model_dir / f"{cfg.name}.onnx")
    shutil.copyfile(weights, model.with_suffix(".pt"))  # the same weights for ultralytics' own predict
    figures = {
        "validation": training_metrics(work_dir),
        "held_out": measure(model, cfg.imgsz, held_out, held_out_ordinary),
    }
    report = model.with_suffix(".json")
    write_report(report, cfg, command, figures, seconds)  # the edge detector reads imgsz from it
    log.info("model %s: %s", model, json.dumps(figures))
    return {"model": str(model), "report": str(report), **figures}


def smoke_config(**changes: Any) -> TrainConfig:
    """A tiny run (one epoch on a few photos) that exercises the whole flow."""
    return replace(TrainConfig(epochs=1, train_photos=8, val_photos=4, batch=4), **changes)
