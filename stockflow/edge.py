"""An edge agent's rules: a store box or PDA gateway that keeps working while the network is down.

The agent takes its devices' events (the same schemas, the same credentials as the workers),
keeps each in a local outbox before it answers, and forwards them to the workers when it can
reach them. These are its rules, free of any storage or network:

* the order it forwards in: per source, by the source's running number (`forward_order`);
* what the workers' answer about a forwarded event means for the outbox (`settle`): an event
  leaves the outbox only once it is in the record (``landed``) or refused there
  (``dead_lettered``, kept with the reason); one the workers do not know a while after it was
  sent (a broker or worker that crashed and lost it) is sent again: retries are harmless
  duplicates, the event id decides;
* how long to wait between tries while offline (`backoff_seconds`);
* the store's stock as the agent sees it: the core ledger over the last synced snapshot plus
  the events still in the outbox (`local_stock`), and purchase suggestions from the synced
  master data and the sales the agent saw (`offline_plan`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from stockflow.events import PosReturn, PosSale, SalesIssue
from stockflow.ledger import Ledger, Position, PositionKey, StockRejected
from stockflow.masterdata import Catalog
from stockflow.replenishment import BatchCount, Plan, SeriesInput, StockCount, plan, usable_stock

#: Days of sales the agent keeps per SKU for its offline suggestions.
SALES_DAYS_KEPT = 56


class OutboxState(StrEnum):
    """Where an event in the outbox stands."""

    #: taken from a device, not yet acknowledged by the workers
    WAITING = "waiting"
    #: acknowledged by the workers (produced to the broker), not yet known to be in the record
    SENT = "sent"
    #: refused by the workers or the stream: kept, with the reason, for a person to see
    DEAD_LETTERED = "dead_lettered"


class Outcome(StrEnum):
    """What to do with a forwarded event after asking the workers where it stands."""

    DELETE = "delete"  # in the record: the outbox is done with it
    DEAD_LETTER = "dead_letter"  # refused: keep it with the reason
    KEEP = "keep"  # on its way: ask again later
    RESEND = "resend"  # lost on the way: send it again


@dataclass(frozen=True, slots=True)
class Settlement:
    outcome: Outcome
    reason: str = ""
    detail: str = ""


def settle(
    answer: Mapping[str, Any], sent_at: datetime, now: datetime, resend_after: timedelta
) -> Settlement:
    """What the workers' answer about one forwarded event (``GET /events/{id}``) means.

    ``landed`` deletes it; ``dead_lettered`` keeps it with the reason; ``pending`` waits;
    ``unknown`` waits `resend_after` since it was sent (the record may still be on its way)
    and then sends it again (a broker or worker lost it)."""
    status = answer.get("status")
    if status == "landed":
        return Settlement(Outcome.DELETE)
    if status == "dead_lettered":
        return Settlement(
            Outcome.DEAD_LETTER, str(answer.get("reason") or "dead_lettered"), str(answer.get("detail") or "")
        )
    if status == "unknown" and now - sent_at >= resend_after:
        return Settlement(Outcome.RESEND)
    return Settlement(Outcome.KEEP)


def backoff_seconds(failures: int, cap: float, rng: random.Random | None = None) -> float:
    """The wait after `failures` failed tries in a row: doubling from half a second up to
    `cap`, each drawn between half and all of it (so many agents coming back do not retry in
    step)."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, 0.5 * 2 ** min(failures - 1, 32))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def forward_order(source: str, source_seq: int | None, arrival: int) -> tuple[str, bool, int, int]:
    """The outbox's forwarding order: per source by its running number (events without one in
    the order they arrived, after the numbered ones), so each till's events reach the record in
    the order it made them, whatever order they reached the agent in."""
    return (source, source_seq is None, source_seq if source_seq is not None else 0, arrival)


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One position of the last synced snapshot (as the workers' ``GET /stock/{location}``
    lists it: per batch, with its expiry)."""

    location: str
    sku: str
    batch: str
    on_hand: int
    reserved: int = 0
    quarantined: int = 0
    in_transit: int = 0
    expiry: date | None = None


def snapshot_rows(answer: Mapping[str, Any]) -> list[SnapshotRow]:
    """The positions in a ``GET /stock/{location}`` answer."""
    rows = []
    for item in answer.get("items", ()):
        for b in item.get("batches", ()):
            expiry = b.get("expiry_date")
            rows.append(
                SnapshotRow(
                    item["location"],
                    item["sku"],
                    b["batch"],
                    int(b.get("on_hand", 0)),
                    int(b.get("reserved", 0)),
                    int(b.get("quarantined", 0)),
                    int(b.get("in_transit", 0)),
                    date.fromisoformat(expiry) if expiry else None,
                )
            )
    return rows


@dataclass
class LocalStock:
    """The store's stock as the agent sees it, and the outbox events the rules refused."""

    ledger: Ledger
    refused: list[tuple[str, str]]


def local_stock(
    catalog: Catalog, timezone: tzinfo | None, snapshot: Iterable[SnapshotRow], pending: Iterable[object]
) -> LocalStock:
    """The core ledger over the last synced snapshot plus the events still in the outbox, in
    forwarding order. An event the rules refuse changes nothing here (the stream will refuse it
    too); its id and reason are listed."""
    ledger = Ledger(catalog, timezone)
    for row in snapshot:
        ledger.seed(
            PositionKey(row.location, row.sku, row.batch),
            Position(row.on_hand, row.reserved, row.quarantined, row.in_transit),
            row.expiry,
        )
    refused: list[tuple[str, str]] = []
    for event in pending:
        pending_now = [event]
        while pending_now:
            current = pending_now.pop(0)
            try:
                result = ledger.apply(current)
            except StockRejected as exc:
                refused.append((current.event_id, exc.reason))  # type: ignore[attr-defined]
                continue
            pending_now[:0] = result.follow_ups
    return LocalStock(ledger, refused)


def units_sold(event: object, catalog: Catalog) -> list[tuple[str, str, int]]:
    """(location, SKU, base units) each line of a sale or issue takes out of demand (a return
    gives back: negative); nothing for other events, SKUs the catalogue does not know, or
    quantities its units cannot convert (the stream refuses those)."""
    if isinstance(event, PosSale | PosReturn):
        sign = 1 if isinstance(event, PosSale) else -1
        lines = [(event.store, line.sku, line.qty, line.unit, sign) for line in event.lines]
    elif isinstance(event, SalesIssue):
        lines = [(event.location, event.sku, event.qty, event.unit, 1)]
    else:
        return []
    out = []
    for location, code, qty, unit, sign in lines:
        sku = catalog.skus.get(code)
        if sku is None:
            continue
        try:
            out.append((location, code, sign * catalog.to_base_units(sku, qty, unit)))
        except ValueError:
            continue
    return out


def offline_plan(
    catalog: Catalog,
    ledger: Ledger,
    locations: Sequence[str],
    daily_sales: Mapping[tuple[str, str], Mapping[date, int]],
    today: date,
) -> Plan:
    """Replenishment for the agent's locations from what it has: the synced master data
    (reorder points, suppliers and their lead times, MOQ, packs), the local stock, and the
    sales it saw over the last `SALES_DAYS_KEPT` days (the same planning rules the central
    flow applies, without its forecasts)."""
    first = today - timedelta(days=SALES_DAYS_KEPT)
    days = [first + timedelta(days=i) for i in range(SALES_DAYS_KEPT)]
    items = []
    for location in locations:
        skus = set(ledger.skus_at(location)) | {sku for loc, sku in daily_sales if loc == location}
        for code in sorted(skus):
            if code not in catalog.skus:
                continue
            batches = ledger.batches_at(location, code)
            total = Position.total(batches.values())
            position, usable = usable_stock(
                StockCount(
                    total.on_hand,
                    total.quarantined,
                    total.reserved,
                    total.in_transit,
                    tuple(
                        BatchCount(
                            b, p.on_hand, p.quarantined, p.reserved, ledger.batch_expiry(location, code, b)
                        )
                        for b, p in sorted(batches.items())
                    ),
                )
            )
            sold = daily_sales.get((location, code), {})
            history = [float(max(0, sold.get(d, 0))) for d in days]
            items.append(SeriesInput(location, code, history, position, batches=usable))
    return plan(catalog, items, today)
