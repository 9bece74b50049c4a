"""One photo in, one inspection out: the edge detector, the core's rules, the annotated photo.

Used by ``stockflow inspect`` and the workers' ``POST /inspections``. A file that is not an
image is refused with `NotAPhoto`; a photo with no pallet gives a result with
``pallet_found`` false (and no event), never a guess.

Uploads are untrusted: a PNG of a few kilobytes can declare 32000×32000 pixels, which OpenCV
would try to decode into 3 GB. So the header is read first (Pillow reads only the header on
open) and a photo of more than ``inspection_max_pixels`` is refused with `PhotoTooLarge`
before OpenCV decodes anything; only the formats named in `PHOTO_FORMATS` are opened."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from stockflow.config import get_settings
from stockflow.inspection import Detection, InspectionResult, inspect
from vision.detector import DEFAULT_MODEL, Detector, annotate

#: Pillow's names of the formats taken (its JPEG reader also opens a phone's multi-picture
#: JPEG, which it names MPO)
PHOTO_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")


class NotAPhoto(ValueError):
    """The bytes are not an image this inspection reads (or it is damaged or cut short)."""


class PhotoTooLarge(NotAPhoto):
    """The photo has more pixels than ``inspection_max_pixels`` (told from its header)."""


@dataclass(frozen=True)
class PhotoHeader:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes) -> PhotoHeader:
    """The photo's format and size from its header alone (nothing is decoded)."""
    if not data:
        raise NotAPhoto("the file is empty")
    try:
        with Image.open(BytesIO(data), formats=PHOTO_FORMATS) as image:
            header = PhotoHeader(str(image.format), *image.size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (over `Image.MAX_IMAGE_PIXELS`): far more than any limit here
        raise PhotoTooLarge(f"more pixels than a photo: {exc}") from None
    except Exception as exc:  # whatever a parser chokes on, it is no photo taken here
        raise NotAPhoto(
            f"not an image this inspection reads (JPEG, PNG, BMP, TIFF, WebP), or its header is damaged: {exc}"
        ) from None
    if header.width < 1 or header.height < 1:
        raise NotAPhoto(f"the header says {header.width}×{header.height} pixels")
    return header


def check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise PhotoTooLarge(f"{width}×{height} pixels is more than a photo ({max_pixels:,} at most)")


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """The photo (BGR), after its header has shown it within `max_pixels`."""
    header = read_header(data)
    check_size(header.width, header.height, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise NotAPhoto(
            f"not an image OpenCV can decode: a {header.format} file that is damaged or cut short"
        )
    check_size(image.shape[1], image.shape[0], max_pixels)  # should the decoder disagree with the header
    return image


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
        """Writes the annotated photo as a JPEG (whole or not at all: a reader never sees half)."""
        ok, jpeg = cv2.imencode(".jpg", self.annotated(), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise OSError(f"could not encode the annotated photo for {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
        ) as partial:
            partial.write(jpeg.tobytes())
        os.replace(partial.name, path)
        return path


def model_id(path: Path) -> str:
    """The model's file name and the start of its SHA-256 (what an event records)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{path.name}@{digest[:12]}"


class Inspector:
    """The detector and the rules for photos of at most `max_pixels` (by default the setting
    ``inspection_max_pixels``). Safe to share between threads (the detector keeps a net per
    thread)."""

    def __init__(
        self, model: Path = DEFAULT_MODEL, threads: int | None = None, max_pixels: int | None = None
    ) -> None:
        self.detector = Detector(model, threads=threads)
        self.model = model_id(model)
        self.max_pixels = get_settings().inspection_max_pixels if max_pixels is None else max_pixels

    def inspect_image(self, image: np.ndarray) -> PhotoInspection:
        detections = tuple(self.detector.detect(image))
        return PhotoInspection(inspect(detections), detections, image, self.model)

    def inspect_bytes(self, data: bytes) -> PhotoInspection:
        return self.inspect_image(decode(data, self.max_pixels))


def inspection_id(photo: bytes, *parts: str | None) -> str:
    """One id per photo and delivery: the same photo sent twice for the same pallet is one
    inspection (the stream drops the second as a duplicate)."""
    digest = hashlib.sha256(photo)
    for part in parts:
        digest.update(b"\0" + (part or "").encode())
    return f"insp-{digest.hexdigest()[:24]}"
