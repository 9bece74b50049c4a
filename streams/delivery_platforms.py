"""Delivery platforms' callbacks on the workers' web server.

``POST /platforms/{platform}/callbacks`` (``meituan``, ``eleme``): an order, a cancellation or a
refund, signed by the platform with its app secret (`Settings.platform_secret`). No bearer
token: the guard lets these POSTs through (`streams.security.PLATFORM_SIGNED_PATHS`) and this
view checks the signature and the timestamp before it reads the payload. A callback that
passes is mapped onto a till event with our codes (`stockflow.delivery_platforms`), produced to
Kafka and answered with the platform's acknowledgement once the broker has it; anything else
is answered in the platform's error shape and nothing is produced.

The workers speak plain HTTP: the platform reaches them through the company's HTTPS reverse
proxy, which terminates TLS (docs/en/operators.md)."""

from __future__ import annotations

import logging

from faust import web

from lake import now_utc
from stockflow.delivery_platforms import (
    CallbackRefused,
    Platform,
    acknowledgement,
    pos_event,
    read_callback,
    refusal,
)
from stockflow.events import EventRejected, PosReturn, PosSale, check_event_time, encode_event
from streams.app import app
from streams.security import BadRequest, read_json
from streams.stock import EVENT_TIME_AHEAD, settings, state

log = logging.getLogger(__name__)


@app.page("/platforms/{platform}/callbacks")
class PlatformCallbacks(web.View):
    """A delivery platform's callback: verified, mapped, produced, acknowledged."""

    async def post(self, request: web.Request, platform: str) -> web.Response:
        try:
            chosen = Platform(platform)
        except ValueError:
            return self.json(
                {"error": "unknown_platform", "detail": f"no delivery platform {platform!r}"}, status=404
            )
        try:
            event = await self._till_event(chosen, request)
        except CallbackRefused as exc:
            state.counters["platform_callbacks.refused"] += 1
            log.info("%s callback refused: %s", chosen.value, exc.reason)
            return self.json(refusal(chosen, exc), status=exc.status, headers=_retry_after(exc))
        try:
            acknowledged = await app.producer.send(
                str(event.topic), event.location_id.encode(), encode_event(event), None, None, None
            )
            await acknowledged
        except Exception as exc:  # the broker did not take it: the platform sends it again
            not_taken = CallbackRefused(503, "not_acknowledged", f"{type(exc).__name__}: {exc}")
            return self.json(refusal(chosen, not_taken), status=503, headers={"Retry-After": "1"})
        state.counters["platform_callbacks.taken"] += 1
        return self.json(acknowledgement(chosen))

    async def _till_event(self, platform: Platform, request: web.Request) -> PosSale | PosReturn:
        """The callback's till event, or `CallbackRefused`."""
        if state.draining:
            raise CallbackRefused(503, "draining", "this worker is shutting down; send again shortly")
        secret = settings.platform_secret(platform.value)
        if secret is None:
            raise CallbackRefused(
                403, "platform_not_configured", f"no app secret is set up for {platform.value}"
            )
        if request.content_type != "application/json":
            raise CallbackRefused(
                415, "unsupported_media_type", f"send application/json, not {request.content_type!r}"
            )
        try:
            envelope = await read_json(
                request, settings.platform_callback_max_body_kb * 1024, settings.json_max_depth
            )
        except BadRequest as exc:
            raise CallbackRefused(exc.status, exc.reason, exc.detail) from None
        now = now_utc()
        callback = read_callback(platform, secret, envelope, now, settings.platform_callback_max_skew_seconds)
        event = pos_event(callback, state.load_catalog())
        try:
            check_event_time(event, now, settings.event_time_earliest, EVENT_TIME_AHEAD)
        except EventRejected as exc:
            raise CallbackRefused(400, exc.reason, exc.detail) from None
        return event


def _retry_after(refused: CallbackRefused) -> dict[str, str] | None:
    return {"Retry-After": "5"} if refused.status == 503 else None
