"""The edge detector: the exported YOLO model on OpenCV's DNN module (no torch).

Pre- and post-processing follow ultralytics' own predict step for step, so both give the same
boxes (a test compares them): letterbox to the model's square input (resize, grey 114 padding
split evenly), RGB scaled to 0..1, then per anchor the best class above `conf`, greedy NMS at
`iou`, at most `max_det` boxes, mapped back to the photo and clipped.

NMS runs within groups of classes. ultralytics suppresses only within a class; here a
``carton`` and a ``damaged_carton`` box on the same carton suppress each other (one carton
counted once, by its stronger reading), and so do the two load classes."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stockflow.inspection import CLASSES, Detection

#: cartons suppress cartons, loads suppress loads (class index → group)
COUNTING_GROUPS = (0, 0, 1, 1)
MAX_WH = 7680  # the offset that keeps groups apart in one NMS pass (as in ultralytics)
MODEL_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODEL_DIR / "pallet-yolo11n-320.onnx"


@dataclass(frozen=True)
class Letterbox:
    gain: tuple[float, float]  # x, y
    pad: tuple[int, int]  # left, top


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    h, w = image.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return padded, Letterbox((new_w / w, new_h / h), (left, top))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS: indices kept, by descending score; a box goes when its IoU with a kept one
    exceeds `iou`."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        x0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


class Detector:
    """One model read once; `detect` is one photo (BGR, as OpenCV reads it).

    A ``cv2.dnn.Net`` keeps its buffers between calls and is not safe to share between threads,
    so each thread that detects gets its own net, built from the model's bytes on its first
    call (`net`). One detector can serve a whole thread pool."""

    def __init__(
        self,
        model: Path = DEFAULT_MODEL,
        *,
        imgsz: int | None = None,
        conf: float = 0.25,
        iou: float = 0.7,
        groups: Sequence[int] | None = COUNTING_GROUPS,
        max_det: int = 300,
        threads: int | None = None,
    ) -> None:
        if not model.exists():
            raise FileNotFoundError(f"no detector model at {model}: train one with `stockflow vision train`")
        report = model.with_suffix(".json")
        if imgsz is None:
            if not report.exists():
                raise ValueError(f"{model.name}: give imgsz, or keep its report {report.name} beside it")
            imgsz = int(json.loads(report.read_text())["config"]["imgsz"])
        self.model = model
        self.name = model.stem
        self.imgsz = imgsz
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.groups = None if groups is None else np.asarray(groups, dtype=np.float32)
        if threads is not None:
            cv2.setNumThreads(threads)
        self._onnx = np.frombuffer(model.read_bytes(), np.uint8)
        self._per_thread = threading.local()

    @property
    def net(self) -> cv2.dnn.Net:
        """This thread's net (built on its first use)."""
        net = getattr(self._per_thread, "net", None)
        if net is None:
            net = self._per_thread.net = cv2.dnn.readNetFromONNX(self._onnx)
        return net

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The model's output for one photo, (4 + classes) × anchors, and the letterbox used."""
        if image is None or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("expected a colour photo (height × width × 3)")
        padded, box = letterbox(image, self.imgsz)
        blob = np.ascontiguousarray(padded[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255
        net = self.net
        net.setInput(blob)
        return net.forward()[0], box

    def detect(self, image: np.ndarray) -> list[Detection]:
        out, lb = self.raw(image)
        scores_all = out[4:].T
        cls = scores_all.argmax(1)
        conf = scores_all[np.arange(len(cls)), cls]
        keep = conf > self.conf
        if not keep.any():
            return []
        cx, cy, w, h = out[:4, keep]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        cls, conf = cls[keep], conf[keep]
        offset = (cls if self.groups is None else self.groups[cls]).astype(np.float32)[:, None] * MAX_WH
        kept = nms(boxes + offset, conf, self.iou)[: self.max_det]
        boxes, cls, conf = boxes[kept], cls[kept], conf[kept]
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - lb.pad[0]) / lb.gain[0]
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - lb.pad[1]) / lb.gain[1]
        height, width = image.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return [
            Detection(int(c), float(p), (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
            for b, c, p in zip(boxes, cls, conf, strict=True)
        ]


COLOURS = {0: (80, 200, 80), 1: (40, 40, 230), 2: (230, 160, 40), 3: (200, 60, 200)}


def annotate(image: np.ndarray, detections: Sequence[Detection], caption: str = "") -> np.ndarray:
    """A copy of the photo with every box, its class and confidence, and a caption bar."""
    out = image.copy()
    for d in sorted(detections, key=lambda d: d.cls >= 2, reverse=True):  # loads first, under the cartons
        x0, y0, x1, y1 = (round(v) for v in d.box)
        colour = COLOURS.get(d.cls, (255, 255, 255))
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, 2 if d.cls == 1 else 1)
        label = f"{CLASSES[d.cls]} {d.confidence:.2f}"
        cv2.putText(
            out, label, (x0 + 2, max(y0 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA
        )
    if caption:
        cv2.rectangle(out, (0, 0), (out.shape[1], 18), (0, 0, 0), -1)
        cv2.putText(out, caption, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out
