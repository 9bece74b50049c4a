"""Recall trace (批次追溯): where a batch came from and everywhere it went, from its movements.

A batch is traced from the stock movements that name it (one row per event × location × SKU ×
batch, as the ledger books them and the lake keeps them):

* **Backward** (反向追踪): the goods receipts that brought it in (supplier, purchase order,
  location, day, quantity, and the cold-chain curve the receipt carries, when it carries one),
  the dock inspections of the batch and their verdicts, and every hold, release and scrap.
* **Forward** (正向追踪): every movement of on-hand stock, each in one flow (`Flow`): transfers
  out and in, till tickets (dishes made with it included), deliveries to customers, returns,
  write-offs and scrap, what work orders and preps consumed, and what is still on hand, in
  quarantine and in transit per location.
* **Made from it**: a work order that took the batch (issued, or backflushed on a receipt)
  passes it into every batch of goods the order received; a prep that took it, into the prep's
  batch. Those batches are traced forward the same way, level after level
  (`MAX_DEPTH` levels at most; a batch met again is not traced twice).

Every row's on-hand change falls in exactly one flow, so per location and in total
``received + made + transferred in + returned + found = sold + delivered + transferred out +
consumed + written off + on hand`` (`Balance.reconciles`); across locations what left by
transfer and has not arrived is in transit. Quantities are base units.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from stockflow.events import SalesChannel, TemperatureCurve

#: How many levels of batches made from batches a trace follows.
MAX_DEPTH = 5


class Flow(StrEnum):
    """Where a movement of on-hand stock puts it (in: the batch gains stock there; out: loses)."""

    RECEIVED = "received"  # goods receipt from a supplier
    MADE = "made"  # a work order's goods received, a prep made
    TRANSFERRED_IN = "transferred_in"
    RETURNED = "returned"  # brought back to a till
    FOUND = "found"  # a positive adjustment or correction
    SOLD = "sold"  # a till ticket (its dishes' ingredients included)
    DELIVERED = "delivered"  # issued to a customer's sales order
    TRANSFERRED_OUT = "transferred_out"
    CONSUMED = "consumed"  # issued to a work order or taken by a prep (net of material returned)
    WRITTEN_OFF = "written_off"  # damage, shrinkage, expiry, count variance, scrapped from quarantine


INFLOWS: tuple[Flow, ...] = (Flow.RECEIVED, Flow.MADE, Flow.TRANSFERRED_IN, Flow.RETURNED, Flow.FOUND)
OUTFLOWS: tuple[Flow, ...] = (
    Flow.SOLD,
    Flow.DELIVERED,
    Flow.TRANSFERRED_OUT,
    Flow.CONSUMED,
    Flow.WRITTEN_OFF,
)
#: The flow of each event type's on-hand changes, whatever their sign (a material returned from
#: a work order is consumption undone); event types not named here go by the sign of the change
#: (found or written off).
_FLOW_OF: dict[str, Flow] = {
    "goods_receipt": Flow.RECEIVED,
    "transfer_in": Flow.TRANSFERRED_IN,
    "transfer_out": Flow.TRANSFERRED_OUT,
    "pos_sale": Flow.SOLD,
    "pos_return": Flow.RETURNED,
    "sales_issue": Flow.DELIVERED,
    "material_issued": Flow.CONSUMED,
}
#: Quality: the events that hold, release or scrap a batch, and the inspection that quarantines it.
QUALITY_EVENTS = frozenset({"quality_hold", "pallet_inspected"})
WORK_ORDER_GOODS = "production_receipt"
PREP = "prep_produced"


class Via(StrEnum):
    """How a batch was made from another."""

    WORK_ORDER = "work_order"
    PREP = "prep"


@dataclass(frozen=True, slots=True)
class TracedMovement:
    """One movement row of the lake (`inventory_changed`), as much of it as a trace reads."""

    event_id: str
    event_type: str
    occurred_at: datetime
    location: str
    sku: str
    batch: str
    on_hand_delta: int = 0
    quarantined_delta: int = 0
    in_transit_delta: int = 0
    reference: str = ""
    counterparty: str = ""
    dish: str = ""
    apply_seq: int = 0

    @property
    def key(self) -> BatchKey:
        return BatchKey(self.sku, self.batch)


@dataclass(frozen=True, slots=True, order=True)
class BatchKey:
    sku: str
    batch: str


def flow_of(mv: TracedMovement) -> Flow | None:
    """The flow a movement's on-hand change belongs to (None: it moves no on-hand stock)."""
    if not mv.on_hand_delta:
        return None
    if mv.event_type == WORK_ORDER_GOODS or mv.event_type == PREP:
        # the goods made come in; the materials a backflush or a prep takes go out
        return Flow.MADE if mv.on_hand_delta > 0 and _is_output(mv) else Flow.CONSUMED
    known = _FLOW_OF.get(mv.event_type)
    if known is not None:
        return known
    return Flow.FOUND if mv.on_hand_delta > 0 else Flow.WRITTEN_OFF


def _is_output(mv: TracedMovement) -> bool:
    """The made item's own row of a work order's receipt or of a prep (not a material's)."""
    return mv.event_type == WORK_ORDER_GOODS or mv.sku == mv.dish


def flow_qty(flow: Flow, on_hand_delta: int) -> int:
    """A change as a quantity of its flow: positive for what the flow's name says."""
    return on_hand_delta if flow in INFLOWS else -on_hand_delta


# ------------------------------------------------------------------------------ the trace
@dataclass(frozen=True, slots=True)
class CurveReference:
    """The cold-chain curve a receipt or transfer carries (`stockflow.events.TemperatureCurve`):
    the logger's readings, or the sensor and the span whose readings to take."""

    logger: str = ""
    sensor: str = ""
    start: datetime | None = None
    end: datetime | None = None
    points: tuple[tuple[datetime, float], ...] = ()

    @property
    def readings(self) -> int:
        return len(self.points)

    @property
    def min_c(self) -> float | None:
        return min((c for _, c in self.points), default=None)

    @property
    def max_c(self) -> float | None:
        return max((c for _, c in self.points), default=None)

    def summary(self) -> str:
        """One line a person reads (values only, the same in every language)."""
        parts = [p for p in (self.logger, self.sensor) if p]
        if self.start is not None and self.end is not None:
            parts.append(
                f"{self.start.isoformat(timespec='minutes')}–{self.end.isoformat(timespec='minutes')}"
            )
        if self.points:
            parts.append(f"n={self.readings}")
            parts.append(f"{self.min_c:g}–{self.max_c:g} °C")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Receipt:
    event_id: str
    occurred_at: datetime
    location: str
    qty: int
    quarantined: int  # of it, received straight into quarantine
    supplier: str
    purchase_order: str
    expiry_date: date | None = None
    curve: CurveReference | None = None
    quarantine_reason: str = ""


@dataclass(frozen=True, slots=True)
class Inspection:
    event_id: str
    occurred_at: datetime
    location: str
    inspection_id: str
    verdict: str
    cartons: int | None = None
    damaged_cartons: int | None = None
    supplier: str = ""


@dataclass(frozen=True, slots=True)
class QualityStep:
    """A change of the batch's quarantine: held, released, scrapped (from quarantine), or
    quarantined by an inspection or on receipt."""

    event_id: str
    occurred_at: datetime
    location: str
    action: str
    qty: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """A forward movement: the flow it is in, where, how much, with whom, under which document
    (a transfer, ticket, sales order, work order or prep)."""

    event_id: str
    occurred_at: datetime
    location: str
    flow: Flow
    qty: int
    counterparty: str = ""
    reference: str = ""
    dish: str = ""
    curve: CurveReference | None = None  # a transfer in's, when it carries one


@dataclass(frozen=True, slots=True)
class Balance:
    """One location's flows of a batch (or the batch's across every location) and what is left."""

    location: str
    flows: Mapping[Flow, int]
    on_hand: int
    quarantined: int
    in_transit: int

    def qty(self, flow: Flow) -> int:
        return self.flows.get(flow, 0)

    @property
    def inflow(self) -> int:
        return sum(self.qty(f) for f in INFLOWS)

    @property
    def outflow(self) -> int:
        return sum(self.qty(f) for f in OUTFLOWS)

    @property
    def reconciles(self) -> bool:
        """What came in is what went out and what is on hand."""
        return self.inflow == self.outflow + self.on_hand


@dataclass(frozen=True, slots=True)
class MadeFrom:
    """How a batch was made from a batch of the trace."""

    parent: BatchKey
    via: Via
    reference: str  # the work order, or the prep's id
    event_id: str
    occurred_at: datetime
    location: str
    qty: int  # of the made batch, received by this event


@dataclass(frozen=True, slots=True)
class BatchTrace:
    key: BatchKey
    depth: int  # 0: a batch asked for; n: made from a batch of depth n - 1
    made_from: tuple[MadeFrom, ...]
    receipts: tuple[Receipt, ...]
    inspections: tuple[Inspection, ...]
    quality: tuple[QualityStep, ...]
    steps: tuple[Step, ...]
    balances: tuple[Balance, ...]  # one per location it reached
    total: Balance  # every location together ("" location)
    made: tuple[BatchKey, ...]  # batches made from this one

    @property
    def locations(self) -> tuple[str, ...]:
        return tuple(b.location for b in self.balances)

    def steps_in(self, *flows: Flow) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.flow in flows)

    @property
    def customers(self) -> tuple[str, ...]:
        """The customers it was delivered to, and the customers named on its tickets (a ticket
        without one names its channel)."""
        channels = {c.value for c in SalesChannel}
        found = {s.counterparty for s in self.steps_in(Flow.DELIVERED)}
        found |= {s.counterparty for s in self.steps_in(Flow.SOLD) if s.counterparty not in channels}
        return tuple(sorted(c for c in found if c))


@dataclass(frozen=True, slots=True)
class Trace:
    batch: str
    sku: str | None
    batches: tuple[BatchTrace, ...]  # the batches asked for (depth 0) first, then what was made
    #: batches made from the deepest level traced, not followed (`MAX_DEPTH` reached)
    not_followed: tuple[BatchKey, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.batches)

    def roots(self) -> tuple[BatchTrace, ...]:
        return tuple(b for b in self.batches if b.depth == 0)


# --------------------------------------------------------------------- the rules, step by step
def asked(movements: Iterable[TracedMovement], batch: str, sku: str | None = None) -> list[TracedMovement]:
    """The movements of the batch asked for (of every SKU that has a batch of that code, or of
    `sku` only)."""
    return [mv for mv in movements if mv.batch == batch and (sku is None or mv.sku == sku)]


def inputs_taken(movements: Iterable[TracedMovement]) -> tuple[set[str], set[str]]:
    """The work orders and the preps (their event ids) that took stock of these movements'
    batches: the ones whose goods are made from them."""
    orders: set[str] = set()
    preps: set[str] = set()
    for mv in movements:
        if mv.on_hand_delta >= 0:
            continue
        if mv.event_type == "material_issued" or (mv.event_type == WORK_ORDER_GOODS and mv.reference):
            orders.add(mv.reference)
        elif mv.event_type == PREP and not _is_output(mv):
            preps.add(mv.event_id)
    return orders, preps


def made_links(
    movements: Iterable[TracedMovement], goods: Iterable[TracedMovement]
) -> list[tuple[BatchKey, MadeFrom]]:
    """Each (made batch, how) for the goods rows (`production_receipt` of the work orders and
    `prep_produced` rows of the preps `inputs_taken` found) made from these movements' batches.
    A work order passes every batch it took into every batch of goods it received."""
    by_order: dict[str, set[BatchKey]] = defaultdict(set)
    by_prep: dict[str, set[BatchKey]] = defaultdict(set)
    for mv in movements:
        if mv.on_hand_delta >= 0:
            continue
        if mv.event_type == "material_issued" or (mv.event_type == WORK_ORDER_GOODS and mv.reference):
            by_order[mv.reference].add(mv.key)
        elif mv.event_type == PREP and not _is_output(mv):
            by_prep[mv.event_id].add(mv.key)
    links: list[tuple[BatchKey, MadeFrom]] = []
    for g in goods:
        if g.on_hand_delta <= 0 or not _is_output(g):
            continue
        if g.event_type == WORK_ORDER_GOODS:
            parents, via = by_order.get(g.reference, set()), Via.WORK_ORDER
        elif g.event_type == PREP:
            parents, via = by_prep.get(g.event_id, set()), Via.PREP
        else:
            continue
        for parent in sorted(parents):
            if parent == g.key:
                continue  # made into itself: nothing new to follow
            links.append(
                (
                    g.key,
                    MadeFrom(
                        parent, via, g.reference, g.event_id, g.occurred_at, g.location, g.on_hand_delta
                    ),
                )
            )
    return links


def trace_batches(
    batch: str,
    sku: str | None,
    levels: list[list[TracedMovement]],
    links: Iterable[tuple[BatchKey, MadeFrom]],
    payloads: Mapping[str, Mapping[str, Any]] | None = None,
    inspections: Iterable[Mapping[str, Any]] = (),
    not_followed: Iterable[BatchKey] = (),
) -> Trace:
    """The trace from the movements read level by level (level 0: the batch asked for; level
    n: the batches made from level n − 1), the links between them (`made_links`), the recorded
    events behind receipts and holds by event id (`payloads`: what the movements do not carry,
    a curve, an expiry, a reason) and the dock inspections that name the batches."""
    payloads = payloads or {}
    depth_of: dict[BatchKey, int] = {}
    rows: dict[BatchKey, dict[tuple[str, str], TracedMovement]] = defaultdict(dict)
    for depth, level in enumerate(levels):
        for mv in level:
            depth_of.setdefault(mv.key, depth)
            # one row per event × location (a row landed twice is the same row)
            rows[mv.key].setdefault((mv.event_id, mv.location), mv)
    made_from: dict[BatchKey, list[MadeFrom]] = defaultdict(list)
    made: dict[BatchKey, set[BatchKey]] = defaultdict(set)
    for child, how in links:
        if child in depth_of and how.parent in depth_of and how not in made_from[child]:
            made_from[child].append(how)
            made[how.parent].add(child)
    by_batch: dict[BatchKey, list[Mapping[str, Any]]] = defaultdict(list)
    for ins in inspections:
        by_batch[BatchKey(str(ins.get("sku", "")), str(ins.get("batch") or ""))].append(ins)
    traced = [
        _batch_trace(
            key,
            depth_of[key],
            sorted(rows[key].values(), key=_in_order),
            made_from[key],
            sorted(made[key]),
            payloads,
            by_batch.get(key, []),
        )
        for key in sorted(depth_of, key=lambda k: (depth_of[k], k))
    ]
    return Trace(batch, sku, tuple(traced), tuple(sorted(set(not_followed) - set(depth_of))))


def _in_order(mv: TracedMovement) -> tuple:
    return (mv.apply_seq, mv.occurred_at, mv.event_id, mv.location)


def _batch_trace(
    key: BatchKey,
    depth: int,
    movements: list[TracedMovement],
    made_from: list[MadeFrom],
    made: list[BatchKey],
    payloads: Mapping[str, Mapping[str, Any]],
    inspections: list[Mapping[str, Any]],
) -> BatchTrace:
    receipts: list[Receipt] = []
    quality: list[QualityStep] = []
    steps: list[Step] = []
    flows: dict[str, dict[Flow, int]] = defaultdict(lambda: defaultdict(int))
    stock: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for mv in movements:
        held = stock[mv.location]
        held[0] += mv.on_hand_delta
        held[1] += mv.quarantined_delta
        held[2] += mv.in_transit_delta
        flow = flow_of(mv)
        payload = payloads.get(mv.event_id, {})
        if flow is not None:
            qty = flow_qty(flow, mv.on_hand_delta)
            flows[mv.location][flow] += qty
            steps.append(
                Step(
                    mv.event_id,
                    mv.occurred_at,
                    mv.location,
                    flow,
                    qty,
                    mv.counterparty,
                    mv.reference,
                    mv.dish,
                    curve_reference(payload) if mv.event_type == "transfer_in" else None,
                )
            )
        elif mv.in_transit_delta > 0:  # a transfer's leg on its way: flows when it arrives
            flows.setdefault(mv.location, defaultdict(int))
        if mv.event_type == "goods_receipt" and mv.on_hand_delta > 0:
            receipts.append(
                Receipt(
                    mv.event_id,
                    mv.occurred_at,
                    mv.location,
                    mv.on_hand_delta,
                    max(mv.quarantined_delta, 0),
                    mv.counterparty or str(payload.get("supplier", "")),
                    mv.reference or str(payload.get("purchase_order", "")),
                    _day(payload.get("expiry_date")),
                    curve_reference(payload),
                    _text(payload, "hold_reason", "quarantine_reason") if mv.quarantined_delta > 0 else "",
                )
            )
        if mv.quarantined_delta and mv.event_type in QUALITY_EVENTS:
            action = mv.reference if mv.event_type == "quality_hold" else "inspection"
            quality.append(
                QualityStep(
                    mv.event_id,
                    mv.occurred_at,
                    mv.location,
                    action,
                    abs(mv.quarantined_delta) if action != "scrap" else -mv.on_hand_delta,
                    _text(payload, "hold_reason", "reason")
                    or (mv.reference if action == "inspection" else ""),
                )
            )
        elif mv.quarantined_delta > 0:  # received (or transferred in) straight into quarantine
            quality.append(
                QualityStep(
                    mv.event_id,
                    mv.occurred_at,
                    mv.location,
                    "received_into_quarantine",
                    mv.quarantined_delta,
                    _text(payload, "hold_reason", "quarantine_reason"),
                )
            )
    balances = tuple(
        Balance(loc, dict(flows.get(loc, {})), *stock[loc])
        for loc in sorted(stock)
        if loc in flows or any(stock[loc])
    )
    total_flows: dict[Flow, int] = defaultdict(int)
    for b in balances:
        for f, q in b.flows.items():
            total_flows[f] += q
    total = Balance(
        "",
        dict(total_flows),
        sum(b.on_hand for b in balances),
        sum(b.quarantined for b in balances),
        sum(b.in_transit for b in balances),
    )
    return BatchTrace(
        key,
        depth,
        tuple(sorted(made_from, key=lambda m: (m.occurred_at, m.event_id, m.parent))),
        tuple(receipts),
        tuple(_inspections(inspections)),
        tuple(quality),
        tuple(steps),
        balances,
        total,
        tuple(made),
    )


def _inspections(found: list[Mapping[str, Any]]) -> list[Inspection]:
    out = {}
    for p in found:
        event_id = str(p.get("event_id", ""))
        out[event_id] = Inspection(
            event_id,
            _moment(p.get("occurred_at")),
            str(p.get("location", "")),
            str(p.get("inspection_id", event_id)),
            str(p.get("verdict", "")),
            _int(p.get("cartons")),
            _int(p.get("damaged_cartons")),
            str(p.get("supplier", "")),
        )
    return sorted(out.values(), key=lambda i: (i.occurred_at, i.event_id))


# ------------------------------------------------------------------ what an event record says
def curve_reference(payload: Mapping[str, Any]) -> CurveReference | None:
    """The cold-chain curve an event record carries (its `temperature_curve`); None where it
    carries none, or one its schema does not read."""
    raw = payload.get("temperature_curve")
    if not raw:
        return None
    try:
        curve = TemperatureCurve.model_validate(raw)
    except ValueError:
        return None
    points = tuple(sorted((r.at, r.celsius) for r in curve.readings or ()))
    return CurveReference(
        logger=curve.logger or "",
        sensor=curve.sensor or "",
        start=curve.from_at if curve.sensor else (points[0][0] if points else None),
        end=curve.to_at if curve.sensor else (points[-1][0] if points else None),
        points=points,
    )


def _text(payload: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = payload.get(name)
        if value not in (None, ""):
            return str(value)
    return ""


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _day(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        found = datetime.fromisoformat(str(value))
        return found if found.tzinfo else found.replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def events_to_read(levels: Iterable[Iterable[TracedMovement]]) -> dict[str, datetime]:
    """The events whose records a trace reads beyond their movements, with when they occurred:
    receipts and transfers in (curve, expiry), holds and whatever quarantined the batch (the
    reason)."""
    return {
        mv.event_id: mv.occurred_at
        for level in levels
        for mv in level
        if mv.event_type in _RECORDS_READ or mv.quarantined_delta
    }


#: Events whose record a trace reads: a receipt's or transfer's curve and expiry, a hold's reason.
_RECORDS_READ = frozenset({"goods_receipt", "transfer_in", "quality_hold"})


#: How long before a batch's first movement a dock inspection of it is looked for (a pallet
#: may be inspected before its receipt is booked).
INSPECTION_LEAD = timedelta(days=7)


def inspection_window(movements: Iterable[TracedMovement]) -> tuple[datetime, datetime]:
    """When the dock inspections of these movements' batches are looked for: from
    `INSPECTION_LEAD` before the first movement to the last."""
    times = [mv.occurred_at for mv in movements]
    return min(times) - INSPECTION_LEAD, max(times)


def earliest(movements: Iterable[TracedMovement]) -> datetime | None:
    """When the first of these movements occurred (None: there are none). What a batch was made
    into is made after the batch was taken, and a batch made is followed from when it was made."""
    return min((mv.occurred_at for mv in movements), default=None)


def keys_of(movements: Iterable[TracedMovement]) -> list[BatchKey]:
    return sorted({mv.key for mv in movements})


def wanted(movements: Iterable[TracedMovement], keys: Collection[BatchKey]) -> list[TracedMovement]:
    """The movements of these batches (a lake read by batch code alone returns other SKUs')."""
    chosen = set(keys)
    return [mv for mv in movements if mv.key in chosen]
