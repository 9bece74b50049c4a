"""``POST /inspections``: a dock camera (or a person) uploads a pallet photo; the worker
inspects it with the edge detector and records the result as a ``pallet_inspected`` event.

The request is ``multipart/form-data`` with the photo in ``image`` and the delivery in
``supplier``, ``sku``, ``location`` and optionally ``batch``, ``purchase_order``, ``source``.
Answers: 202 with the result and the event id when a pallet was found (the stream then
quarantines the batch unless the verdict is accept); 200 with ``pallet_found: false`` and no
event for a photo without a pallet; 400 with the reason for anything else. The annotated photo
is kept under ``var/inspections/`` and served at ``GET /inspections/{id}.jpg``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from faust import web

from stockflow.events import Event, encode_event
from stockflow.services.inspections import (
    OPTIONAL,
    REQUIRED,
    Delivery,
    InspectionRefused,
    record_inspection_async,
)
from streams.app import app
from streams.stock import send, settings, state

_ID = re.compile(r"^insp-[0-9a-f]{24}$")
_inspector: Any = None


def inspection_dir() -> Path:
    return settings.var_dir / "inspections"


def _load_inspector() -> Any:
    global _inspector
    if _inspector is None:
        from vision.detector import DEFAULT_MODEL
        from vision.inspector import Inspector

        _inspector = Inspector(settings.inspection_model or DEFAULT_MODEL, threads=1)
    return _inspector


class _Stream:
    """Publishes into the stream from this worker's event loop."""

    async def publish(self, event: Event) -> None:
        await send(event.topic, event.location_id, encode_event(event))


def _inspect(photo: bytes, delivery: Delivery) -> tuple[Any, str]:
    """Blocking: decode, detect, apply the rules, keep the annotated photo."""
    from vision.inspector import inspection_id

    seen = _load_inspector().inspect_bytes(photo)
    event_id = inspection_id(photo, delivery.supplier, delivery.sku, delivery.batch, delivery.purchase_order)
    if seen.result.pallet_found:
        seen.write_annotated(inspection_dir() / f"{event_id}.jpg")
    return seen, event_id


def _refuse(view: web.View, error: str, detail: str, status: int = 400) -> web.Response:
    state.counters["inspections.refused"] += 1
    return view.json({"error": error, "detail": detail}, status=status)


@app.page("/inspections")
class Inspections(web.View):
    async def post(self, request: web.Request) -> web.Response:
        from vision.inspector import NotAPhoto

        try:
            form = await request.post()
        except ValueError as exc:  # not multipart, or over the size limit
            return _refuse(self, "malformed_upload", str(exc))
        upload = form.get("image")
        if upload is None or not hasattr(upload, "file"):
            return _refuse(self, "missing_image", "send the photo as the multipart field 'image'")
        try:
            delivery = Delivery.from_fields({f: str(form.get(f) or "") for f in (*REQUIRED, *OPTIONAL)})
        except InspectionRefused as exc:
            return _refuse(self, exc.reason, exc.detail)
        source = str(form.get("source") or "").strip() or "inspection-api"
        photo = upload.file.read()
        loop = asyncio.get_running_loop()
        try:
            seen, event_id = await loop.run_in_executor(None, _inspect, photo, delivery)
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
        try:
            event = await record_inspection_async(
                result,
                delivery,
                _Stream(),
                event_id=event_id,
                source=source,
                model=seen.model,
                image=f"inspections/{event_id}.jpg",
            )
        except InspectionRefused as exc:
            return _refuse(self, exc.reason, exc.detail)
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
