"""An inspection event through the real broker and worker: a damaged pallet's batch is
quarantined in the stock API until it is released; one inspected before its receipt holds the
receipt when it comes."""

import math
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from stockflow.events import GoodsReceipt, HoldAction, PalletInspected, QualityHold
from tests.support import get_json, post_json, post_multipart, wait_until

pytestmark = pytest.mark.integration


def send(worker, *events):
    status, body = post_json(f"{worker.url}/events", [e.model_dump(mode="json") for e in events])
    assert status == 202, body


def batch(worker, sku, batch_id):
    found = get_json(f"{worker.url}/stock/WH1/{sku}")["batches"]
    return next((b for b in found if b["batch"] == batch_id), None)


def test_a_damaged_pallet_is_quarantined_until_released(stack):
    worker = stack.worker()
    sku = next(code for code, s in sorted(stack.catalog.skus.items()) if s.batch_managed)
    supplier = stack.catalog.skus[sku].supplier or sorted(stack.catalog.suppliers)[0]
    now = datetime.now(UTC)

    def receipt(event_id, batch_id):
        return GoodsReceipt(
            event_id=event_id, occurred_at=now, source="RF-WH1", location="WH1", purchase_order="PO-INS",
            supplier=supplier, sku=sku, batch=batch_id, expiry_date=date(2027, 6, 30), qty=Decimal(30),
            unit_cost=Decimal("4.20"),
        )  # fmt: skip

    def inspection(event_id, batch_id, verdict, damaged):
        return PalletInspected(
            event_id=event_id, occurred_at=now, source="dock-cam-1", location="WH1", inspection_id=f"INS-{event_id}",
            supplier=supplier, purchase_order="PO-INS", sku=sku, batch=batch_id, cartons=30, layers=5,
            damaged_cartons=damaged, confidence=0.9, verdict=verdict,
        )  # fmt: skip

    send(worker, receipt("rcv-1", "LOT-A"), inspection("ins-1", "LOT-A", "quarantine", 2))
    wait_until(lambda: (batch(worker, sku, "LOT-A") or {}).get("quarantined") == 30, 30, "LOT-A quarantined")
    assert get_json(f"{worker.url}/stock/WH1/{sku}")["available"] == 0

    # inspected before the receipt is applied: the receipt goes straight into quarantine
    send(worker, inspection("ins-2", "LOT-B", "manual_review", 0), receipt("rcv-2", "LOT-B"))
    wait_until(
        lambda: (batch(worker, sku, "LOT-B") or {}).get("quarantined") == 30, 30, "LOT-B held on receipt"
    )

    release = QualityHold(
        event_id="rel-1", occurred_at=now, source="qa", location="WH1", sku=sku, batch="LOT-B",
        action=HoldAction.RELEASE, reason="checked by hand: fine",
    )  # fmt: skip
    send(worker, release)
    wait_until(lambda: batch(worker, sku, "LOT-B")["quarantined"] == 0, 30, "LOT-B released")
    assert batch(worker, sku, "LOT-A")["quarantined"] == 30  # the damaged one stays held


def jpeg(image) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes()


def test_a_photo_posted_to_inspections_quarantines_the_damaged_batch(stack, tmp_path):
    """POST /inspections runs the committed model in the worker: a damaged pallet's photo is
    recorded and its batch quarantined; a photo without a pallet and a file that is no photo
    record nothing; the command line does the same."""
    from tests.vision import damaged_and_sound
    from vision.inspector import inspection_id

    worker = stack.worker()
    sku = next(code for code, s in sorted(stack.catalog.skus.items()) if s.batch_managed)
    supplier = stack.catalog.skus[sku].supplier or sorted(stack.catalog.suppliers)[0]
    now = datetime.now(UTC)
    (damaged, _), (sound, _), (ordinary, _) = damaged_and_sound()
    receipt = GoodsReceipt(
        event_id="rcv-photo", occurred_at=now, source="RF-WH1", location="WH1", purchase_order="PO-CAM",
        supplier=supplier, sku=sku, batch="LOT-CAM", expiry_date=date(2027, 6, 30), qty=Decimal(24),
        unit_cost=Decimal("4.20"),
    )  # fmt: skip
    send(worker, receipt)
    delivery = {
        "supplier": supplier,
        "sku": sku,
        "location": "WH1",
        "batch": "LOT-CAM",
        "purchase_order": "PO-CAM",
    }
    status, body = post_multipart(
        f"{worker.url}/inspections", delivery, {"image": ("pallet.jpg", jpeg(damaged))}
    )
    assert status == 202, body
    assert (
        body["verdict"] == "quarantine"
        and body["damaged_cartons"] >= 1
        and body["event_id"].startswith("insp-")
    )
    assert body["model"].startswith("pallet-yolo11n-320.onnx@")
    wait_until(
        lambda: (batch(worker, sku, "LOT-CAM") or {}).get("quarantined") == 24, 30, "LOT-CAM quarantined"
    )
    from tests.support.network import auth_headers

    req = urllib.request.Request(worker.url + body["annotated"], headers=auth_headers())
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Type"] == "image/jpeg" and resp.read()[:2] == b"\xff\xd8"
    # the same photo again for the same delivery is the same inspection (one event id)
    status, again = post_multipart(
        f"{worker.url}/inspections", delivery, {"image": ("pallet.jpg", jpeg(damaged))}
    )
    assert status == 202 and again["event_id"] == body["event_id"]

    status, none = post_multipart(
        f"{worker.url}/inspections", delivery, {"image": ("dock.jpg", jpeg(ordinary))}
    )
    assert (status, none["pallet_found"]) == (200, False) and "event_id" not in none
    status, refused = post_multipart(
        f"{worker.url}/inspections", delivery, {"image": ("notes.txt", b"not a photo")}
    )
    assert (status, refused["error"]) == (400, "not_a_photo")
    status, refused = post_multipart(
        f"{worker.url}/inspections", {"sku": sku}, {"image": ("p.jpg", jpeg(sound))}
    )
    assert (status, refused["error"], refused["detail"]) == (
        400,
        "missing_fields",
        "required: supplier, location",
    )

    # the command line: a sound pallet is accepted and recorded, a text file is refused (exit 2)
    photo, notes = tmp_path / "sound.jpg", tmp_path / "notes.txt"
    photo.write_bytes(jpeg(sound))
    notes.write_text("not a photo")
    env = {
        **os.environ,
        "STOCKFLOW_VAR_DIR": str(stack.settings.var_dir),
        "STOCKFLOW_WEB_PORT": str(worker.settings.web_port),
        "COLUMNS": "250",
    }
    args = ["--supplier", supplier, "--sku", sku, "--location", "WH1", "--batch", "LOT-OK"]
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "inspect", str(photo), str(notes), *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "not an image" in run.stderr and "accept" in run.stdout, run.stdout
    inspected = stack.settings.var_dir / "inspections"
    assert len(list(inspected.glob("insp-*.jpg"))) == 2  # the damaged photo's and the sound one's
    recorded = inspection_id(photo.read_bytes(), supplier, sku, "LOT-OK", None)

    def applied():
        return get_json(f"{worker.url}/reconcile/WH1?positions=no&events={recorded}")["applied"][recorded]

    wait_until(applied, 30, "the command's inspection applied by the stream")
    assert (batch(worker, sku, "LOT-CAM") or {}).get("quarantined") == 24


def test_photos_that_cannot_take_the_worker_down(stack):
    """Decompression bombs (a few kilobytes declaring 32000×32000 pixels), one and four at once,
    are answered 413 from their header and the worker goes on inspecting; a JPEG cut short and a
    damaged header are 400, a body that is not multipart 415. An inspection the event refuses
    leaves no annotated photo; photos older than the days they are kept are removed when the
    worker starts."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.unit.test_inspection_photos import png_declaring
    from tests.vision import damaged_and_sound
    from vision.inspector import inspection_id

    keep_days = stack.settings.inspection_photos_keep_days
    photos = stack.settings.var_dir / "inspections"
    photos.mkdir(parents=True)
    day = 24 * 3600
    old, young = photos / f"insp-{'0' * 24}.jpg", photos / f"insp-{'1' * 24}.jpg"
    unfinished = photos / f".insp-{'2' * 24}.jpg.x1.partial"
    for path, age_days in ((old, keep_days + 1), (young, keep_days - 1), (unfinished, keep_days + 1)):
        path.write_bytes(b"\xff\xd8 an earlier annotated photo")
        moment = datetime.now(UTC).timestamp() - age_days * day
        os.utime(path, (moment, moment))
    worker = stack.worker()
    wait_until(lambda: not old.exists() and not unfinished.exists(), 60, "the old annotated photos removed")
    assert young.exists()

    sku = next(code for code, s in sorted(stack.catalog.skus.items()) if s.batch_managed)
    supplier = stack.catalog.skus[sku].supplier or sorted(stack.catalog.suppliers)[0]
    delivery = {"supplier": supplier, "sku": sku, "location": "WH1", "batch": "LOT-BOMB"}
    bomb = png_declaring(32000, 32000)
    assert len(bomb) < 10_000

    def post(name, data, fields=delivery):
        return post_multipart(f"{worker.url}/inspections", fields, {"image": (name, data)})

    status, refused = post("bomb.png", bomb)
    assert (status, refused["error"]) == (413, "too_many_pixels"), refused
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: post(f"bomb-{i}.png", bomb), range(4)))
    assert [(s, b["error"]) for s, b in answers] == [(413, "too_many_pixels")] * 4, answers
    limit = stack.settings.inspection_max_pixels
    side = math.isqrt(limit) + 1  # just over the limit
    status, refused = post("over.png", png_declaring(side, side))
    assert (status, refused["error"]) == (413, "too_many_pixels")
    assert f"{side}×{side} pixels is more than a photo ({limit:,} at most)" in refused["detail"]

    (damaged, _), _, _ = damaged_and_sound()
    whole = jpeg(damaged)
    status, refused = post("cut.jpg", whole[: len(whole) // 2])
    assert (status, refused["error"]) == (400, "not_a_photo") and "cut short" in refused["detail"]
    status, refused = post("header.jpg", whole[:20])
    assert (status, refused["error"]) == (400, "not_a_photo")
    status, refused = post_json(f"{worker.url}/inspections", {"image": "not multipart"})
    assert (status, refused["error"]) == (415, "unsupported_media_type")

    # refused by the event (a batch with a space is no identifier): nothing kept
    refused_delivery = {**delivery, "batch": "LOT BOMB"}
    status, refused = post("pallet.jpg", whole, refused_delivery)
    assert (status, refused["error"]) == (400, "invalid_fields"), refused
    never = inspection_id(whole, supplier, sku, "LOT BOMB", None)
    assert not (photos / f"{never}.jpg").exists()

    # the worker is up and still inspects
    assert worker.proc.poll() is None and worker.health()["ready"]
    status, body = post("pallet.jpg", whole)
    assert status == 202 and body["verdict"] == "quarantine", body
    assert sorted(p.name for p in photos.iterdir()) == sorted([young.name, f"{body['event_id']}.jpg"])
