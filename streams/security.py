"""Who is calling the workers' HTTP API, and what a request may look like.

An aiohttp middleware in front of every view:

* the ``Host`` header must name this worker (localhost, its ``web_host`` or one of
  ``allowed_hosts``), so a page that rebinds its own DNS name to 127.0.0.1 gets 421;
* every path but ``/health`` needs ``Authorization: Bearer <token>`` (401 without a valid one);
  the credential is kept on the request for the views' scope checks (`require`). The one
  exception: a POST to a delivery platform's callback path (`PLATFORM_SIGNED_PATHS`) carries
  no token; the platform signs its body and the view checks that signature before it reads
  anything else (`streams.delivery_platforms`);
* a POST to a JSON endpoint must say ``Content-Type: application/json`` (415 otherwise), so a
  cross-site form or ``no-cors`` fetch, which cannot send that type without a preflight, is
  refused; its body has a size limit (413) and a nesting limit (400), checked here, and large
  bodies are parsed off the event loop (`read_json`).

The rules about credentials and scopes are the core's (`stockflow.identity`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web as aioweb

from stockflow.config import Settings
from stockflow.delivery_platforms import Platform, callback_path
from stockflow.identity import Action, Credential, Kind, Refusal, authorize, bearer_token, credential_for
from stores.credentials import CredentialCache, CredentialStore

log = logging.getLogger(__name__)

CREDENTIAL_KEY = "stockflow.credential"
OPEN_PATHS = frozenset({"/health"})
#: POSTs authenticated by a delivery platform's signature instead of a bearer token.
PLATFORM_SIGNED_PATHS = frozenset(callback_path(platform) for platform in Platform)
#: Bodies larger than this are parsed in a thread, so one big request does not stall the stream.
PARSE_INLINE_BYTES = 64 * 1024

_ANONYMOUS = Credential("anonymous (authentication off)", Kind.SERVICE, "", "")


class BadRequest(Exception):
    """A request refused before any view runs: `status`, a stable `reason`, and a detail."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


def refusal_response(status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> Any:
    return aioweb.json_response({"error": reason, "detail": detail}, status=status, headers=headers)


class Guard:
    """The middleware's settings and credential cache (one per worker)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.credentials = CredentialCache(CredentialStore(settings.credentials_path))
        hosts = {"localhost", "127.0.0.1", "::1", settings.web_host, *settings.allowed_hosts}
        self.allowed_hosts = {h.lower().strip("[]") for h in hosts if h}
        self.json_limits = {
            "/events": settings.events_max_body_kb * 1024,
            "/events/status": settings.events_max_body_kb * 1024,
            "/alerts": settings.alerts_max_body_kb * 1024,
        }
        self.refused: dict[str, int] = {}

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host = host_header.strip().lower()
        if host.startswith("["):  # [::1]:6066
            host = host[1 : host.find("]")] if "]" in host else host
        else:
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return host in self.allowed_hosts

    def identify(self, request: aioweb.Request) -> Credential | Refusal:
        if not self.settings.auth_required:
            return _ANONYMOUS
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return Refusal(
                401, "unauthenticated", "send Authorization: Bearer <token> (stockflow devices add)"
            )
        found = credential_for(token, self.credentials.by_id())
        if isinstance(found, Refusal):  # perhaps made a moment ago: look at the file once more
            found = credential_for(token, self.credentials.by_id(fresh=True))
        return found

    def count(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def middleware(self) -> Callable[..., Awaitable[Any]]:
        @aioweb.middleware
        async def guard(request: aioweb.Request, handler: Callable[..., Awaitable[Any]]) -> Any:
            if not self.host_allowed(request.headers.get("Host")):
                self.count("unknown_host")
                return refusal_response(421, "unknown_host", "this worker does not answer to that Host")
            if request.path in OPEN_PATHS:
                return await handler(request)
            if request.method == "POST" and request.path in PLATFORM_SIGNED_PATHS:
                return await handler(request)  # the view verifies the platform's signature
            found = self.identify(request)
            if isinstance(found, Refusal):
                self.count(found.reason)
                return refusal_response(
                    found.status, found.reason, found.detail, {"WWW-Authenticate": "Bearer"}
                )
            request[CREDENTIAL_KEY] = found
            if request.method == "POST" and request.path in self.json_limits:
                if request.content_type != "application/json":
                    self.count("unsupported_media_type")
                    return refusal_response(
                        415, "unsupported_media_type", f"send application/json, not {request.content_type!r}"
                    )
                limit = self.json_limits[request.path]
                if request.content_length is not None and request.content_length > limit:
                    self.count("too_large")
                    return refusal_response(413, "too_large", f"the body is over {limit} bytes")
            try:
                return await handler(request)
            except BadRequest as exc:
                self.count(exc.reason)
                return refusal_response(exc.status, exc.reason, exc.detail)

        return guard


def credential_of(request: Any) -> Credential:
    """The caller's credential (set by the middleware). Faust views get aiohttp's request."""
    return request[CREDENTIAL_KEY]


def require(request: Any, action: Action, location: str | None = None, event_type: str | None = None) -> None:
    """Raise `BadRequest` (403) unless the caller may do `action` at `location`."""
    refusal = authorize(credential_of(request), action, location, event_type)
    if refusal is not None:
        raise BadRequest(refusal.status, refusal.reason, refusal.detail)


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _parse(body: bytes, max_depth: int) -> Any:
    try:
        value = json.loads(body)
    except RecursionError:
        raise BadRequest(400, "too_deep", f"JSON nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, "malformed_json", str(exc)) from None
    if json_depth_exceeds(value, max_depth):
        raise BadRequest(400, "too_deep", f"JSON nested deeper than {max_depth} levels")
    return value


async def read_json(request: Any, limit: int, max_depth: int) -> Any:
    """The request's JSON body: at most `limit` bytes (413), nested at most `max_depth` (400),
    parsed in a thread when large."""
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, "too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if size > PARSE_INLINE_BYTES:
        return await asyncio.to_thread(_parse, body, max_depth)
    return _parse(body, max_depth)
