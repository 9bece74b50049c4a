"""Training the pallet detector with ultralytics YOLO on the CPU, fully offline.

The model is built from a model YAML (no pretrained weights are fetched), trained on photos
from `vision.synth`, and exported to ONNX for the edge detector (`vision.detector`).
Ultralytics is told before it is imported never to install packages, fetch fonts or reach its
hub, and to keep its settings under the run's own directory.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    model_yaml: str = "yolo11n.yaml"  # shipped with ultralytics: the architecture only
    imgsz: int = 320
    epochs: int = 50
    batch: int = 16
    train_photos: int = 500
    val_photos: int = 100
    photo_size: int = 416
    train_seed: int = 1
    val_seed: int = 2
    seed: int = 0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    workers: int = 1

    @property
    def name(self) -> str:
        return f"pallet-{Path(self.model_yaml).stem}-{self.imgsz}"


def offline(config_dir: Path) -> None:
    """Environment for ultralytics: no auto-install, no network checks, settings in `config_dir`.

    Must run before ultralytics is first imported (it reads these at import)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["MPLCONFIGDIR"] = str(config_dir / "matplotlib")  # ultralytics imports matplotlib
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ["DO_NOT_TRACK"] = "1"


def _ultralytics(config_dir: Path, threads: int) -> Any:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    offline(config_dir)
    import torch
    import ultralytics
    from ultralytics.utils import SETTINGS, torch_utils

    SETTINGS.update(
        {
            **dict.fromkeys(
                ("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb"), False
            ),
            **{
                key: str(config_dir / key.removesuffix("_dir"))
                for key in ("datasets_dir", "weights_dir", "runs_dir")
            },
        }
    )
    # ultralytics resets CPU training to cpu_count - 1 threads (one thread on two cores)
    torch_utils.NUM_THREADS = threads
    torch.set_num_threads(threads)
    return ultralytics


def train(cfg: TrainConfig, data_yaml: Path, out_dir: Path) -> Path:
    """Train; returns the best weights (``best.pt``) under `out_dir`."""
    out_dir = out_dir.resolve()  # ultralytics puts a relative project under its own runs dir
    ultralytics = _ultralytics(out_dir / "ultralytics", cfg.threads)
    model = ultralytics.YOLO(cfg.model_yaml, task="detect")
    model.train(
        data=str(data_yaml),
        epochs=cfg.epochs,
        imgsz=cfg.imgsz,
        batch=cfg.batch,
        nbs=cfg.batch,  # the default (64) accumulates gradients over 4 batches: slow on short runs
        device="cpu",
        workers=cfg.workers,
        seed=cfg.seed,
        deterministic=True,
        pretrained=False,
        amp=False,
        plots=False,  # plots fetch a font
        project=str(out_dir),
        name="train",
        exist_ok=True,
        verbose=False,
    )
    best = out_dir / "train" / "weights" / "best.pt"
    if not best.exists():
        raise RuntimeError(f"training ended without weights in {best.parent}")
    return best


def export_onnx(weights: Path, imgsz: int, target: Path, threads: int = 1) -> Path:
    """The ONNX model (fixed batch 1 and size, opset OpenCV's DNN reads) at `target`."""
    ultralytics = _ultralytics(weights.parent / "ultralytics", threads)
    exported = ultralytics.YOLO(str(weights)).export(
        format="onnx", imgsz=imgsz, opset=12, simplify=True, dynamic=False, device="cpu"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exported, target)
    return target


def training_metrics(out_dir: Path) -> dict[str, Any]:
    """The last epoch's validation figures from ultralytics' ``results.csv``."""
    import csv

    rows = list(csv.DictReader((out_dir.resolve() / "train" / "results.csv").open()))
    last = {k.strip(): v for k, v in rows[-1].items()}
    pick = {
        "epochs": "epoch",
        "precision": "metrics/precision(B)",
        "recall": "metrics/recall(B)",
        "map50": "metrics/mAP50(B)",
        "map50_95": "metrics/mAP50-95(B)",
    }
    return {k: float(last[v]) for k, v in pick.items() if v in last}


def write_report(path: Path, cfg: TrainConfig, command: str, figures: dict[str, Any], seconds: float) -> None:
    report = {
        "model": path.with_suffix(".onnx").name,
        "command": command,
        "config": asdict(cfg),
        "train_seconds": round(seconds, 1),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **figures,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
