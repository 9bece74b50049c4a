"""The stream workers' HTTP API as the flows use it: JSON reads retried while partitions move,
and events produced through ``POST /events``."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


class StockApiError(RuntimeError):
    """The stream workers' API could not be read (or refused an event)."""


def request_json(url: str, body: bytes | None = None, attempts: int = 20) -> Any:
    """JSON from the workers' API; retried while a worker answers 503 (partitions moving)."""
    for attempt in range(attempts):
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"} if body else {}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == attempts - 1:
                raise StockApiError(f"{url}: HTTP {exc.code}: {exc.read()[:500]!r}") from exc
        except (urllib.error.URLError, OSError) as exc:
            if attempt == attempts - 1:
                raise StockApiError(f"{url}: {exc}") from exc
        time.sleep(0.5)
    raise StockApiError(f"{url}: no answer")  # pragma: no cover


def publisher(web_url: str) -> Callable[[bytes], None]:
    """Send an approved suggestion's event through the workers' `POST /events`."""

    def publish(event_json: bytes) -> None:
        answer = request_json(f"{web_url}/events", body=event_json)
        if not answer.get("accepted"):
            raise StockApiError(f"the stream did not accept the event: {answer}")

    return publish
