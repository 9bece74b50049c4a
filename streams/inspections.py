"""``POST /inspections``: a dock camera (or a person) uploads a pallet photo; the worker
inspects it with the edge detector and records the result as a ``pallet_inspected`` event.

The request is ``multipart/form-data`` with the photo in ``image`` and the delivery in
``supplier``, ``sku``, ``location`` and optionally ``batch``, ``purchase_order``, ``source``.
Answers: 202 with the result and the event id when a pallet was found (the stream then
quarantines the batch unless the verdict is accept); 200 with ``pallet_found: false`` and no
event for a photo without a pallet; 413 for an upload over ``inspection_max_mb`` or a photo of
more than ``inspection_max_pixels`` (told from its header, before anything is decoded); 415
for a request that is not multipart, or a photo sent as a type that is not an image; 400 with
the reason for anything else (not an image, damaged or cut short, missing fields).

Photos are inspected `PHOTOS_AT_ONCE` at a time in threads of their own: each holds its
decoded photo and an annotated copy (up to twice ``inspection_max_pixels`` × 3 bytes), so the
bound is on memory as much as on CPU; uploads waiting for a turn stay in aiohttp's spooled
files. The annotated photo of a recorded inspection is kept under ``var/inspections/`` (written
once its event is found valid, before it is published), served at
``GET /inspections/{id}.jpg``, and removed after ``inspection_photos_keep_days`` (checked when
the worker starts and hourly)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from aiohttp.web import HTTPRequestEntityTooLarge
from faust import web

from stockflow.events import Event, PalletInspected, encode_event
from stockflow.identity import Action
from stockflow.services.inspections import (
    OPTIONAL,
    REQUIRED,
    Delivery,
    InspectionRefused,
    record_inspection_async,
)
from streams.app import app
from streams.security import BadRequest, require
from streams.stock import send, settings, state

log = logging.getLogger(__name__)

_ID = re.compile(r"^insp-[0-9a-f]{24}$")
#: photos inspected at once (see the module docstring)
PHOTOS_AT_ONCE = max(1, min(4, os.cpu_count() or 1))
PRUNE_EVERY_SECONDS = 3600.0

_photo_threads = ThreadPoolExecutor(PHOTOS_AT_ONCE, thread_name_prefix="inspection")
_photo_turns = asyncio.Semaphore(PHOTOS_AT_ONCE)
_inspector: Any = None


def inspection_dir() -> Path:
    return settings.var_dir / "inspections"


def _load_inspector() -> Any:
    global _inspector
    if _inspector is None:
        from vision.detector import DEFAULT_MODEL
        from vision.inspector import Inspector

        _inspector = Inspector(
            settings.inspection_model or DEFAULT_MODEL, threads=1, max_pixels=settings.inspection_max_pixels
        )
    return _inspector


def prune_annotated_photos(folder: Path, keep_days: int, now: datetime) -> list[Path]:
    """Removes the annotated photos in `folder` (and any write left unfinished) last written
    more than `keep_days` ago; returns the removed ones."""
    cutoff = (now - timedelta(days=keep_days)).timestamp()
    removed = []
    for path in [*folder.glob("*.jpg"), *folder.glob(".*.partial")]:
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            path.unlink()
        except FileNotFoundError:  # removed meanwhile
            continue
        removed.append(path)
    if removed:
        log.info("removed %d annotated photos older than %d days from %s", len(removed), keep_days, folder)
    return removed


async def _prune() -> None:
    loop = asyncio.get_running_loop()
    folder, keep_days = inspection_dir(), settings.inspection_photos_keep_days
    try:
        await loop.run_in_executor(
            _photo_threads, prune_annotated_photos, folder, keep_days, datetime.now(UTC)
        )
    except OSError as exc:  # the next round tries again; the stream goes on
        log.warning("could not remove old annotated photos from %s: %s", folder, exc)


@app.task
async def prune_annotated_photos_on_start() -> None:
    await _prune()


@app.timer(interval=PRUNE_EVERY_SECONDS, name="prune_annotated_photos")
async def prune_annotated_photos_hourly() -> None:
    await _prune()


class PhotoNotKept(Exception):
    """The annotated photo of an inspection about to be recorded could not be written."""


class _Stream:
    """Publishes into the stream from this worker's event loop."""

    async def publish(self, event: Event) -> None:
        await send(event.topic, event.location_id, encode_event(event))


def _inspect(upload: IO[bytes], delivery: Delivery) -> tuple[Any, str]:
    """Blocking: read the upload, check its header, decode, detect, apply the rules."""
    from vision.inspector import inspection_id

    photo = upload.read()
    seen = _load_inspector().inspect_bytes(photo)
    event_id = inspection_id(photo, delivery.supplier, delivery.sku, delivery.batch, delivery.purchase_order)
    return seen, event_id


def _is_image_type(content_type: str) -> bool:
    """An image type, or none in particular (what a client sends when it does not know)."""
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("image/") or kind in ("", "application/octet-stream")


def _refuse(view: web.View, error: str, detail: str, status: int = 400) -> web.Response:
    state.counters["inspections.refused"] += 1
    return view.json({"error": error, "detail": detail}, status=status)


@app.page("/inspections")
class Inspections(web.View):
    async def post(self, request: web.Request) -> web.Response:
        from vision.inspector import NotAPhoto, PhotoTooLarge

        if request.content_type != "multipart/form-data":
            detail = f"send multipart/form-data with the photo in 'image', not {request.content_type!r}"
            return _refuse(self, "unsupported_media_type", detail, status=415)
        try:
            form = await request.post()
        except HTTPRequestEntityTooLarge:
            detail = f"the upload is over {settings.inspection_max_mb} MB"
            return _refuse(self, "too_large", detail, status=413)
        except ValueError as exc:  # a malformed multipart body
            return _refuse(self, "malformed_upload", str(exc))
        upload = form.get("image")
        if upload is None or not hasattr(upload, "file"):
            return _refuse(self, "missing_image", "send the photo as the multipart field 'image'")
        if not _is_image_type(upload.content_type or ""):
            detail = f"the photo was sent as {upload.content_type!r}: send an image (JPEG, PNG, ...)"
            return _refuse(self, "unsupported_media_type", detail, status=415)
        try:
            delivery = Delivery.from_fields({f: str(form.get(f) or "") for f in (*REQUIRED, *OPTIONAL)})
        except InspectionRefused as exc:
            return _refuse(self, exc.reason, exc.detail)
        try:
            require(request, Action.POST_INSPECTION, delivery.location)
        except BadRequest as exc:  # a dock camera inspects at its own locations only
            return _refuse(self, exc.reason, exc.detail, status=exc.status)
        source = str(form.get("source") or "").strip() or "inspection-api"
        loop = asyncio.get_running_loop()
        async with _photo_turns:  # the photo and its annotated copy are in memory until the answer
            try:
                seen, event_id = await loop.run_in_executor(_photo_threads, _inspect, upload.file, delivery)
            except PhotoTooLarge as exc:
                return _refuse(self, "too_many_pixels", str(exc), status=413)
            except NotAPhoto as exc:
                return _refuse(self, "not_a_photo", str(exc))
            except FileNotFoundError as exc:  # no model on this worker
                return _refuse(self, "no_model", str(exc), status=503)
            result = seen.result
            body: dict[str, Any] = {
                "pallet_found": result.pallet_found,
                "cartons": result.cartons,
                "layers": result.layers,
                "damaged_cartons": result.damaged_cartons,
                "damaged": [{"box": d.box, "confidence": round(d.confidence, 4)} for d in result.damaged],
                "unsure_damage": [
                    {"box": d.box, "confidence": round(d.confidence, 4)} for d in result.unsure_damage
                ],
                "mixed_goods": result.mixed_goods,
                "confidence": round(result.confidence, 4),
                "model": seen.model,
            }
            photo = inspection_dir() / f"{event_id}.jpg"

            async def keep_photo(event: PalletInspected) -> None:
                try:
                    await loop.run_in_executor(_photo_threads, seen.write_annotated, photo)
                except OSError as exc:
                    raise PhotoNotKept(f"the annotated photo could not be written: {exc}") from exc

            try:
                event = await record_inspection_async(
                    result,
                    delivery,
                    _Stream(),
                    event_id=event_id,
                    source=source,
                    model=seen.model,
                    image=f"inspections/{photo.name}",
                    keep_photo=keep_photo,
                )
            except InspectionRefused as exc:
                return _refuse(self, exc.reason, exc.detail)
            except PhotoNotKept as exc:  # nothing was published
                log.warning("%s: %s", photo, exc)
                return _refuse(self, "photo_not_kept", str(exc), status=503)
        if event is None:
            state.counters["inspections.no_pallet"] += 1
            return self.json({**body, "detail": "no pallet found in the photo: nothing recorded"}, status=200)
        state.counters["inspections.recorded"] += 1
        return self.json(
            {
                **body,
                "verdict": result.verdict.value,
                "event_id": event_id,
                "annotated": f"/inspections/{event_id}.jpg",
            },
            status=202,
        )


@app.page("/inspections/{name}")
class AnnotatedPhoto(web.View):
    async def get(self, request: web.Request, name: str) -> web.Response:
        stem = name.removesuffix(".jpg")
        path = inspection_dir() / f"{stem}.jpg"
        if not _ID.match(stem) or not path.exists():
            return self.json({"error": "not_found", "detail": f"no annotated photo {name}"}, status=404)
        return self.bytes(path.read_bytes(), content_type="image/jpeg")
