"""The one client of the stream workers' HTTP API (`streams.views`), for the flows, the CLI and
the dashboards: publish events and alerts, read stock, read a partition's state for the
reconciliation, health. Reads are retried while a worker answers 503 (partitions moving)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockflow.alerts import Alert
from stockflow.config import get_settings
from stockflow.events import Event, encode_event
from stockflow.ledger import Position, PositionKey


def client_token(settings: Any) -> str | None:
    """The credential a client of the workers presents: `STOCKFLOW_API_TOKEN`, else the service
    token `stockflow up` keeps in `var/service.token` (None: neither)."""
    if settings.api_token:
        return settings.api_token
    try:
        return Path(settings.service_token_path).read_text().strip() or None
    except FileNotFoundError:
        return None


class StockApiError(RuntimeError):
    """The stream workers' API could not be read (or refused what was sent). `status` is the
    HTTP status when the workers answered, None when they could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def request_json(
    url: str, body: bytes | None = None, attempts: int = 20, timeout: float = 10.0, token: str | None = None
) -> Any:
    """JSON from the workers' API; retried while a worker answers 503 (partitions moving) or
    cannot be reached."""
    headers = {"Content-Type": "application/json"} if body else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 — our own API
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == attempts - 1:
                raise StockApiError(f"{url}: HTTP {exc.code}: {exc.read()[:500]!r}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            if attempt == attempts - 1:
                raise StockApiError(f"{url}: {exc}") from exc
        time.sleep(0.5)
    raise StockApiError(f"{url}: no answer")  # pragma: no cover


@dataclass(frozen=True)
class PartitionState:
    """The state of the partition that owns a location, taken in one step of its worker."""

    partition: int
    #: The apply_seq the state includes every event up to.
    applied_seq: int
    landed_seq: int
    positions: dict[PositionKey, Position]
    #: Positions touched by applied events whose lake rows are not written yet.
    unlanded: frozenset[PositionKey]
    #: For the event ids asked about: whether the state has applied them.
    applied: dict[str, bool]


class WorkerClient:
    """The stream workers' HTTP API at `web_url` (any worker: stock requests are routed to the
    one that owns the location)."""

    def __init__(
        self, web_url: str, attempts: int = 20, timeout: float = 10.0, token: str | None = None
    ) -> None:
        self.web_url = web_url.rstrip("/")
        self.attempts = attempts
        self.timeout = timeout
        #: The credential presented (default: this installation's service token).
        self.token = token if token is not None else client_token(get_settings())

    def _json(self, path: str, body: bytes | None = None) -> Any:
        return request_json(f"{self.web_url}{path}", body, self.attempts, self.timeout, self.token)

    # --------------------------------------------------------------------- writes
    def publish(self, event: Event) -> None:
        """Produce one event into the stream (`POST /events`)."""
        self.publish_json(encode_event(event))

    def publish_json(self, payload: bytes) -> list[str]:
        """Produce events given as JSON (one, or a list); the ids accepted."""
        answer = self._json("/events", payload)
        if not answer.get("accepted"):
            raise StockApiError(f"the stream did not accept the event: {answer}")
        return list(answer["accepted"])

    def publish_alert(self, alert: Alert) -> None:
        """Raise an alert: the workers land it in the lake and publish it on the alerts topic
        (`POST /alerts`), as they do their own. Its id is deterministic, so a retry is a
        harmless duplicate."""
        answer = self._json("/alerts", alert.model_dump_json().encode())
        if alert.alert_id not in answer.get("accepted", []):
            raise StockApiError(f"the workers did not accept the alert: {answer}")

    def publish_changes(self, changes: Sequence[Any], chunk: int = 2000) -> None:
        """Publish recorded master-data changes on the master-data topic (`POST /masterdata`),
        in order, in requests of at most `chunk`; a retry republishes the same versions, which
        the workers ignore."""
        for start in range(0, len(changes), chunk):
            part = changes[start : start + chunk]
            body = b"[" + b",".join(c.model_dump_json().encode() for c in part) + b"]"
            answer = self._json("/masterdata", body)
            if len(answer.get("accepted", [])) != len(part):
                raise StockApiError(f"the workers did not take the master-data changes: {answer}")

    # --------------------------------------------------------------------- reads
    def stock(self, location: str, sku: str | None = None) -> dict[str, Any]:
        """`GET /stock/{location}` (every SKU there), or one SKU's batches with totals."""
        path = f"/stock/{_quote(location)}" + (f"/{_quote(sku)}" if sku is not None else "")
        return self._json(path)

    def partition_state(
        self, location: str, event_ids: Collection[str] = (), positions: bool = True
    ) -> PartitionState:
        """`GET /reconcile/{location}`: the state of the partition that owns the location."""
        query = {"events": ",".join(sorted(set(event_ids)))} if event_ids else {}
        if not positions:
            query["positions"] = "no"
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        body = self._json(f"/reconcile/{_quote(location)}{suffix}")
        return PartitionState(
            partition=int(body["partition"]),
            applied_seq=int(body["applied_seq"]),
            landed_seq=int(body.get("landed_seq", 0)),
            positions={PositionKey(*row[:3]): Position(*row[3:]) for row in body["positions"]},
            unlanded=frozenset(PositionKey(*row) for row in body["unlanded"]),
            applied={k: bool(v) for k, v in body.get("applied", {}).items()},
        )

    def applied(self, location: str, event_ids: Collection[str]) -> dict[str, bool]:
        """Which of these events the state of the partition owning `location` has applied."""
        if not event_ids:
            return {}
        return self.partition_state(location, event_ids, positions=False).applied

    def health(self) -> dict[str, Any]:
        """`GET /health`: partitions owned, counters, lake progress."""
        return self._json("/health")


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def workers_running(settings: Any) -> bool:
    """Whether this installation's stream workers answer (`GET /health`) now."""
    try:
        request_json(f"{settings.web_url.rstrip('/')}/health", attempts=1, timeout=2.0)
    except StockApiError:
        return False
    return True


@dataclass(frozen=True)
class MasterDataPublisher:
    """`stockflow.services.masterdata.ChangePublisher` through the workers' API."""

    client: WorkerClient

    def publish(self, changes: Sequence[Any]) -> None:
        self.client.publish_changes(changes)


def masterdata_publisher(settings: Any) -> MasterDataPublisher | None:
    """The publisher of master-data changes when the stream workers are running; None when
    they are not (they read the recorded catalogue when they start)."""
    if not workers_running(settings):
        return None
    return MasterDataPublisher(WorkerClient(settings.web_url))
