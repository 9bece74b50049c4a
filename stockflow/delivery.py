"""How an event reached the stream: live, as it happened, or backfilled: history sent after the
fact (the simulated history `stockflow up` writes at start, an import from an older system, a
replay of what a device kept).

A producer that sends history says so with the record header ``stockflow-delivery: backfill``
(Kafka; over HTTP the request header of the same name). The worker lands the event with its
delivery, and the KPIs that describe live operation (data freshness, voucher lag) count live
events only and the backfilled ones apart.

An event without the header is live, however late it arrives: a till that was offline for two
days sends live events late, and that lateness is exactly what those KPIs are there to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Delivery(StrEnum):
    LIVE = "live"
    BACKFILL = "backfill"


#: The record header (Kafka) and request header (HTTP) that names an event's delivery.
DELIVERY_HEADER = "stockflow-delivery"

Headers = Mapping[str, bytes | str | None] | Iterable[tuple[str, bytes | str | None]] | None


def delivery_of(headers: Headers) -> Delivery:
    """The delivery a producer gave with its headers: `BACKFILL` when a header named
    `DELIVERY_HEADER` (any case) says ``backfill``; `LIVE` otherwise (no header, another value)."""
    if not headers:
        return Delivery.LIVE
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if not isinstance(name, str) or name.strip().lower() != DELIVERY_HEADER:
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
        if text.strip().lower() == Delivery.BACKFILL.value:
            return Delivery.BACKFILL
    return Delivery.LIVE


def delivery_headers(delivery: Delivery) -> list[tuple[str, bytes]]:
    """The record headers that carry `delivery` (none for a live event: live is the default)."""
    if delivery is Delivery.LIVE:
        return []
    return [(DELIVERY_HEADER, delivery.value.encode())]


#: The header (HTTP request and Kafka record) an edge agent puts on what it forwards from its
#: outbox: the agent's name. Events that carry it were taken at a store or gateway and may
#: have waited there while the network was down, so the stream checks them for conflicts with
#: what happened centrally meanwhile (`stockflow.conflicts`).
EDGE_HEADER = "stockflow-edge"


def edge_of(headers: Headers) -> str | None:
    """The edge agent an event came through (its `EDGE_HEADER`), or None for a direct producer."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if not isinstance(name, str) or name.strip().lower() != EDGE_HEADER:
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
        return text.strip()[:64] or None
    return None


def edge_headers(agent: str | None) -> list[tuple[str, bytes]]:
    """The record headers that name the edge agent `agent` (none without one)."""
    return [(EDGE_HEADER, agent.encode())] if agent else []
