"""One photo in, one inspection out: the edge detector, the core's rules, the annotated photo.

Used by ``stockflow inspect`` and the workers' ``POST /inspections``. A file that is not an
image is refused with `NotAPhoto`; a photo with no pallet gives a result with
``pallet_found`` false (and no event), never a guess."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stockflow.inspection import Detection, InspectionResult, inspect
from vision.detector import DEFAULT_MODEL, Detector, annotate

MAX_PIXELS = 40_000_000  # a phone photo is 12-50 MP; more is not a photo of a pallet


class NotAPhoto(ValueError):
    """The bytes are not an image OpenCV can read."""


@dataclass(frozen=True)
class PhotoInspection:
    result: InspectionResult
    detections: tuple[Detection, ...]
    photo: np.ndarray
    model: str

    @property
    def caption(self) -> str:
        r = self.result
        if not r.pallet_found:
            return "no pallet found"
        mixed = " | mixed goods" if r.mixed_goods else ""
        return (
            f"{r.verdict.value.upper()} | cartons {r.cartons} | layers {r.layers}"
            f" | damaged {r.damaged_cartons}{mixed} | conf {r.confidence:.2f}"
        )

    def annotated(self) -> np.ndarray:
        return annotate(self.photo, self.detections, self.caption)

    def write_annotated(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), self.annotated(), [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"could not write {path}")
        return path


def model_id(path: Path) -> str:
    """The model's file name and the start of its SHA-256 (what an event records)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{path.name}@{digest[:12]}"


def decode(data: bytes) -> np.ndarray:
    if not data:
        raise NotAPhoto("the file is empty")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise NotAPhoto("not an image OpenCV can read (JPEG, PNG, BMP, TIFF, WebP)")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise NotAPhoto(
            f"{image.shape[1]}×{image.shape[0]} pixels is more than a photo ({MAX_PIXELS:,} at most)"
        )
    return image


class Inspector:
    def __init__(self, model: Path = DEFAULT_MODEL, threads: int | None = None) -> None:
        self.detector = Detector(model, threads=threads)
        self.model = model_id(model)

    def inspect_image(self, image: np.ndarray) -> PhotoInspection:
        detections = tuple(self.detector.detect(image))
        return PhotoInspection(inspect(detections), detections, image, self.model)

    def inspect_bytes(self, data: bytes) -> PhotoInspection:
        return self.inspect_image(decode(data))


def inspection_id(photo: bytes, *parts: str | None) -> str:
    """One id per photo and delivery: the same photo sent twice for the same pallet is one
    inspection (the stream drops the second as a duplicate)."""
    digest = hashlib.sha256(photo)
    for part in parts:
        digest.update(b"\0" + (part or "").encode())
    return f"insp-{digest.hexdigest()[:24]}"
