"""Procedural photos of inbound pallets, with YOLO labels and per-image ground truth.

Each photo shows a wooden pallet carrying a stack of cartons seen from the front: rows of
cartons (layers), packing tape, shipping labels with barcodes, and printed handling marks
(arrows, "fragile" glasses, text) that are *not* damage. Some cartons are damaged — a crushed
corner, a tear, or a wet stain — and some pallets carry mixed goods (cartons of two products).
The scene then goes through what a dock camera does to it: perspective, uneven light, blur,
sensor noise and JPEG compression.

Labels (YOLO format, one line per object: ``class cx cy w h``, normalised):

* ``carton`` / ``damaged_carton``: the front face of every carton;
* ``pallet`` / ``mixed_pallet``: the whole load (cartons and pallet), one of the two, so that a
  mixed load is a learned signal rather than a colour heuristic.

Ground truth per image: carton count, layers, damaged cartons, the mixed flag, and the boxes.
Everything is deterministic by ``(seed, index)``; train and validation sets use different seeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path

import cv2
import numpy as np

from stockflow.inspection import CARTON, CLASSES, DAMAGED, MIXED, PALLET

DAMAGE_KINDS = ("crushed_corner", "tear", "wet_stain")
#: Share of pallets with at least one damaged carton, and with mixed goods.
DAMAGED_SHARE = 0.45
MIXED_SHARE = 0.3

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


@dataclass(frozen=True)
class Product:
    width: int  # carton front, in pixels before the perspective
    height: int
    colour: tuple[int, int, int]  # BGR
    tape: tuple[int, int, int]
    marks: str  # "arrows", "glass", "text" or ""


@dataclass
class Truth:
    """What is in one photo."""

    image: str
    cartons: int
    layers: int
    damaged: int
    mixed: bool
    pallet: bool = True
    damage: list[str] = field(default_factory=list)
    #: (class index, box) per labelled object, after the perspective.
    boxes: list[tuple[int, Box]] = field(default_factory=list)


# ----------------------------------------------------------------------------- drawing
def _kraft(rng: np.random.Generator) -> tuple[int, int, int]:
    base = np.array([70, 120, 170]) + rng.integers(-25, 26, 3)  # BGR brown cardboard
    if rng.random() < 0.25:  # printed / coloured cartons
        base = rng.integers(40, 230, 3)
    return tuple(int(v) for v in np.clip(base, 0, 255))


def _product(rng: np.random.Generator, size: int) -> Product:
    unit = size / 416
    return Product(
        width=int(rng.integers(52, 96) * unit),
        height=int(rng.integers(36, 66) * unit),
        colour=_kraft(rng),
        tape=tuple(int(v) for v in rng.integers(150, 235, 3)),
        marks=str(rng.choice(["arrows", "glass", "text", ""])),
    )


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    top = rng.integers(90, 200, 3)
    bottom = rng.integers(40, 140, 3)
    ramp = np.linspace(0, 1, size)[:, None, None]
    img = (top * (1 - ramp) + bottom * ramp).repeat(size, axis=1)
    img += rng.normal(0, 6, img.shape)
    # floor line and a few wall features (racks, doors) that are neither cartons nor pallets
    floor = int(size * rng.uniform(0.72, 0.86))
    img[floor:] *= rng.uniform(0.6, 0.85)
    for _ in range(int(rng.integers(0, 4))):
        x = int(rng.integers(0, size))
        cv2.line(
            img, (x, 0), (x, floor), tuple(float(v) for v in rng.integers(30, 90, 3)), int(rng.integers(2, 7))
        )
    return np.clip(img, 0, 255).astype(np.uint8)


def _pallet(img: np.ndarray, rng: np.random.Generator, x0: int, x1: int, y_top: int, height: int) -> None:
    wood = np.array([60, 110, 150]) + rng.integers(-20, 21, 3)
    dark = tuple(int(v) for v in wood * 0.45)
    colour = tuple(int(v) for v in wood)
    board = max(3, height // 4)
    cv2.rectangle(img, (x0, y_top), (x1, y_top + board), colour, -1)  # top deck
    cv2.rectangle(img, (x0, y_top + height - board), (x1, y_top + height), colour, -1)  # bottom deck
    for bx in np.linspace(x0, x1 - board * 2, 3).astype(int):  # blocks
        cv2.rectangle(
            img, (int(bx), y_top + board), (int(bx) + board * 2, y_top + height - board), colour, -1
        )
    for _ in range(int((x1 - x0) / 6)):  # grain
        y = int(rng.integers(y_top, y_top + height))
        x = int(rng.integers(x0, x1 - 10))
        cv2.line(img, (x, y), (x + int(rng.integers(5, 25)), y), dark, 1)


def _barcode(img: np.ndarray, rng: np.random.Generator, x: int, y: int, w: int, h: int) -> None:
    cv2.rectangle(img, (x, y), (x + w, y + h), (245, 245, 245), -1)
    pos = x + 2
    while pos < x + w - 2:
        bar = int(rng.integers(1, 3))
        if rng.random() < 0.55:
            cv2.rectangle(img, (pos, y + 2), (pos + bar - 1, y + h - 4), (20, 20, 20), -1)
        pos += bar


def _marks(img: np.ndarray, rng: np.random.Generator, kind: str, x: int, y: int, w: int, h: int) -> None:
    """Printed handling marks: ink on the carton, never damage."""
    ink = (30, 30, 30) if rng.random() < 0.7 else (40, 40, 170)
    s = max(4, min(w, h) // 5)
    cx, cy = x + w - s - 3, y + s + 3
    if kind == "arrows":
        for dx in (0, s):
            cv2.arrowedLine(img, (cx - dx, cy + s // 2), (cx - dx, cy - s // 2), ink, 1, tipLength=0.4)
    elif kind == "glass":
        cv2.line(img, (cx - s // 3, cy - s // 2), (cx + s // 3, cy - s // 2), ink, 1)
        cv2.line(img, (cx - s // 3, cy - s // 2), (cx, cy + s // 4), ink, 1)
        cv2.line(img, (cx + s // 3, cy - s // 2), (cx, cy + s // 4), ink, 1)
        cv2.line(img, (cx, cy + s // 4), (cx, cy + s // 2), ink, 1)
    elif kind == "text":
        for i in range(3):
            yy = y + h - 6 - i * 4
            cv2.line(img, (x + 4, yy), (x + 4 + int(rng.integers(w // 4, w // 2)), yy), ink, 1)


def _carton(img: np.ndarray, rng: np.random.Generator, p: Product, x: int, y: int, w: int, h: int) -> None:
    shade = rng.uniform(0.85, 1.1)
    colour = tuple(int(np.clip(c * shade, 0, 255)) for c in p.colour)
    edge = tuple(int(c * 0.55) for c in colour)
    cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
    cv2.rectangle(img, (x, y), (x + w, y + h), edge, 1)
    tape = max(2, w // 9)  # a vertical strip of tape down the middle
    cv2.rectangle(img, (x + w // 2 - tape // 2, y), (x + w // 2 + tape // 2, y + h // 3), p.tape, -1)
    if rng.random() < 0.8:  # shipping label with a barcode
        lw, lh = max(8, w // 3), max(6, h // 3)
        lx = x + int(rng.integers(2, max(3, w - lw - 2)))
        ly = y + h - lh - int(rng.integers(2, max(3, h // 4)))
        _barcode(img, rng, lx, ly, lw, lh)
    _marks(img, rng, p.marks, x, y, w, h)


def _damage(img: np.ndarray, rng: np.random.Generator, kind: str, x: int, y: int, w: int, h: int) -> None:
    base = img[y + h // 2, x + w // 2].astype(float)
    if kind == "crushed_corner":
        d = int(min(w, h) * rng.uniform(0.35, 0.55))
        left = rng.random() < 0.5
        cx = x if left else x + w
        sign = 1 if left else -1
        pts = np.array([[cx, y], [cx + sign * d, y], [cx, y + d]], np.int32)
        cv2.fillPoly(img, [pts], tuple(float(v) for v in base * 0.35))
        for i in range(4):  # creases
            o = int(d * (0.2 + 0.2 * i))
            cv2.line(img, (cx + sign * o, y), (cx, y + o), tuple(float(v) for v in base * 0.2), 2)
    elif kind == "tear":
        pts = []
        px, py = x + int(w * rng.uniform(0.1, 0.3)), y + int(h * rng.uniform(0.3, 0.7))
        for _ in range(7):
            pts.append((px, py))
            px += int(w * rng.uniform(0.08, 0.14))
            py += int(rng.integers(-h // 6, h // 6 + 1))
        pts_arr = np.array(pts, np.int32)
        cv2.polylines(img, [pts_arr], False, (235, 235, 225), max(3, h // 10))
        cv2.polylines(img, [pts_arr], False, (25, 25, 25), max(1, h // 25))
    else:  # wet stain: a darker blotch with soft edges
        mask = np.zeros(img.shape[:2], np.float32)
        centre = (x + int(w * rng.uniform(0.3, 0.7)), y + int(h * rng.uniform(0.4, 0.8)))
        axes = (max(4, int(w * rng.uniform(0.22, 0.38))), max(3, int(h * rng.uniform(0.22, 0.38))))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.5, min(axes) / 3))[..., None]
        darker = img.astype(np.float32) * np.array([0.45, 0.5, 0.55], np.float32)
        img[:] = (img * (1 - mask) + darker * mask).astype(np.uint8)


def _camera(img: np.ndarray, rng: np.random.Generator, boxes: list[tuple[int, Box]]) -> np.ndarray:
    """Perspective, light, blur, noise and JPEG; boxes follow the perspective."""
    size = img.shape[0]
    j = size * 0.035  # a few degrees: a dock camera looks at the load roughly square
    src = np.float32([[0, 0], [size, 0], [size, size], [0, size]])
    dst = src + rng.uniform(-j, j, (4, 2)).astype(np.float32)
    warp = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(img, warp, (size, size), borderMode=cv2.BORDER_REPLICATE)
    for i, (cls, (x0, y0, x1, y1)) in enumerate(boxes):
        corners = np.float32([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]])
        moved = cv2.perspectiveTransform(corners, warp)[0]
        bx0, by0 = np.clip(moved.min(axis=0), 0, size)
        bx1, by1 = np.clip(moved.max(axis=0), 0, size)
        boxes[i] = (cls, (float(bx0), float(by0), float(bx1), float(by1)))
    light = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.3), size)
    light = light[None, :, None] if rng.random() < 0.5 else light[:, None, None]
    out = img.astype(np.float32) * light * rng.uniform(0.75, 1.2) + rng.uniform(-20, 20)
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out += rng.normal(0, rng.uniform(2, 9), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 92))])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


# ----------------------------------------------------------------------------- a photo
def pallet_photo(seed: int, index: int, size: int = 416) -> tuple[np.ndarray, Truth]:
    """One photo and what is in it; the same `(seed, index)` always gives the same photo."""
    rng = np.random.default_rng([seed, index])
    img = _background(rng, size)
    mixed = rng.random() < MIXED_SHARE
    products = [_product(rng, size)]
    if mixed:
        other = _product(rng, size)
        while abs(other.width - products[0].width) < 10 and abs(other.height - products[0].height) < 8:
            other = _product(rng, size)
        products.append(other)
    columns = int(rng.integers(2, 6))
    layers = int(rng.integers(2, 6))
    width = max(p.width for p in products) * columns
    while width > size * 0.9 and columns > 1:
        columns -= 1
        width = max(p.width for p in products) * columns
    height_per = max(p.height for p in products)
    while height_per * layers > size * 0.62 and layers > 1:
        layers -= 1
    pallet_h = max(10, int(size * rng.uniform(0.05, 0.08)))
    floor = int(size * rng.uniform(0.8, 0.93))
    left = int(rng.integers(int(size * 0.04), max(int(size * 0.05), size - width - int(size * 0.04))))
    pallet_top = floor - pallet_h
    _pallet(img, rng, left - 4, left + width + 4, pallet_top, pallet_h)

    boxes: list[tuple[int, Box]] = []
    damaged_cells: set[tuple[int, int]] = set()
    cells = [(layer, col) for layer in range(layers) for col in range(columns)]
    top_partial = rng.random() < 0.35 and layers > 1  # the top layer not full
    top_count = int(rng.integers(1, columns + 1)) if top_partial else columns
    cells = [(layer, col) for layer, col in cells if layer < layers - 1 or col < top_count]
    if rng.random() < DAMAGED_SHARE:
        n = int(rng.integers(1, min(3, len(cells)) + 1))
        picks = rng.choice(len(cells), size=n, replace=False)
        damaged_cells = {cells[int(i)] for i in picks}
    kinds = []
    second = {c for c in cells if mixed and (c[1] + c[0]) % 2 == int(rng.integers(0, 2))} if mixed else set()
    if mixed and not second:
        second = {cells[-1]}
    cell_w = width // columns
    for layer, col in cells:
        p = products[1] if (layer, col) in second else products[0]
        w = min(p.width, cell_w - 2)
        h = p.height
        x = left + col * cell_w + (cell_w - w) // 2
        y = pallet_top - (layer + 1) * height_per + (height_per - h)
        _carton(img, rng, p, x, y, w, h)
        damaged = (layer, col) in damaged_cells
        if damaged:
            kind = str(rng.choice(DAMAGE_KINDS))
            kinds.append(kind)
            _damage(img, rng, kind, x, y, w, h)
        boxes.append((DAMAGED if damaged else CARTON, (x, y, x + w, y + h)))
    stack_top = min(b[1][1] for b in boxes)
    boxes.append((MIXED if mixed else PALLET, (left - 4, stack_top, left + width + 4, floor)))
    img = _camera(img, rng, boxes)
    truth = Truth(
        image=f"{seed}-{index:06d}.jpg",
        cartons=len(cells),
        layers=layers,
        damaged=len(damaged_cells),
        mixed=mixed,
        damage=kinds,
        boxes=boxes,
    )
    return img, truth


def ordinary_photo(seed: int, index: int, size: int = 416) -> tuple[np.ndarray, Truth]:
    """A photo with no pallet in it (a dock, an office, a shelf: shapes, lines, text), for the
    detector to learn that not every photo holds a load and for tests of "no pallet found"."""
    rng = np.random.default_rng([seed, 1_000_000 + index])
    img = _background(rng, size)
    for _ in range(int(rng.integers(3, 12))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        shape = rng.choice(["circle", "polygon", "line", "text", "panel"])
        if shape == "circle":
            cv2.circle(img, (x, y), int(rng.integers(8, size // 5)), colour, -1, cv2.LINE_AA)
        elif shape == "polygon":
            points = rng.integers(0, size, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [points], colour, cv2.LINE_AA)
        elif shape == "line":
            x1, y1 = (int(v) for v in rng.integers(0, size, 2))
            cv2.line(img, (x, y), (x1, y1), colour, int(rng.integers(1, 9)), cv2.LINE_AA)
        elif shape == "text":
            cv2.putText(
                img,
                "EXIT" if rng.random() < 0.5 else "NO 12",
                (x, y),
                cv2.FONT_HERSHEY_SIMPLEX,
                float(rng.uniform(0.5, 2.0)),
                colour,
                2,
                cv2.LINE_AA,
            )
        else:  # a door, a window, a screen: one flat panel, nothing stacked on a pallet
            w, h = (int(v) for v in rng.integers(size // 8, size // 2, 2))
            cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
    img = _camera(img, rng, [])
    return img, Truth(
        image=f"{seed}-o{index:06d}.jpg", cartons=0, layers=0, damaged=0, mixed=False, pallet=False
    )


def yolo_lines(truth: Truth, size: int) -> list[str]:
    """The photo's labels in YOLO format."""
    out = []
    for cls, (x0, y0, x1, y1) in truth.boxes:
        cx, cy, w, h = (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size
        out.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return out


# ----------------------------------------------------------------------------- datasets
def photos(seed: int, count: int, size: int = 416) -> Iterator[tuple[np.ndarray, Truth]]:
    for index in range(count):
        yield pallet_photo(seed, index, size)


def write_split(
    root: Path, split: str, seed: int, count: int, size: int = 416, ordinary: int = 0
) -> list[Truth]:
    """``root/images/<split>/*.jpg``, ``root/labels/<split>/*.txt`` and ``root/<split>.jsonl``:
    `count` pallet photos, then `ordinary` photos without a pallet (empty labels)."""
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    truths = []
    everything = chain(photos(seed, count, size), (ordinary_photo(seed, i, size) for i in range(ordinary)))
    for img, truth in everything:
        cv2.imwrite(str(images / truth.image), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines = yolo_lines(truth, size)
        (labels / truth.image).with_suffix(".txt").write_text("".join(f"{line}\n" for line in lines))
        truths.append(truth)
    with open(root / f"{split}.jsonl", "w", encoding="utf-8") as out:
        for t in truths:
            out.write(json.dumps(asdict(t)) + "\n")
    return truths


def write_dataset(
    root: Path,
    train: int,
    val: int,
    size: int = 416,
    train_seed: int = 1,
    val_seed: int = 2,
    ordinary_share: float = 0.0,
) -> Path:
    """A YOLO dataset (train and validation from different seeds) and its ``data.yaml``;
    `ordinary_share` adds that many photos without a pallet per pallet photo."""
    if train_seed == val_seed:
        raise ValueError("train and validation must come from different seeds")
    write_split(root, "train", train_seed, train, size, round(train * ordinary_share))
    write_split(root, "val", val_seed, val, size, round(val * ordinary_share))
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(CLASSES))
    data = root / "data.yaml"
    data.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return data
