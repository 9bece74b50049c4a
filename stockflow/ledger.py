"""The stock ledger: events → movements → positions per location × SKU × batch.

Rules, all pure and deterministic (replaying the same accepted events in the same order
always yields the same positions):

* Idempotent by ``event_id``: an event already applied (or already refused) is reported as a
  duplicate and changes nothing; a corrected event needs a new id.
* Atomic per event: either every line of an event applies or none does.
* Quantities are converted into whole base units with the SKU's pack sizes.
* Outflows that name no batch take stock first-expired-first-out (FEFO) from unrestricted
  stock (on hand − quarantined − reserved), then from stock reserved for other orders.
* Negative stock is a per-SKU policy: ``reject`` refuses the whole event,
  ``allow_and_flag`` books it and flags the movement. A POS sale is never refused: the goods
  have left the store, and the till's topic is not ordered with the warehouse scans, so a
  sale may arrive before the receipt that covers it. It is booked and flagged instead.
* A purchase order moves no stock; it is checked against master data like a receipt.
* A transfer-out at the source books the in-transit leg at the destination through a
  derived `TransitDispatched` event, so that each event touches one location only.
* A cycle count moves no stock: the ledger remembers the latest count per position with the
  book quantity at the moment it was taken (``occurred_at``, not when it was applied: the tills'
  topic and the scanners' are not ordered with each other, so a sale made before the count may
  be applied after it, and the other way round; the last `RECENT_MOVEMENTS` movements of each
  location are kept to date the book). Its difference is booked by a ``count_variance`` adjustment,
  which, like the goods that went missing, is never refused for lack of stock.
* A `StockCorrection` moves a position by exactly what it says (it repairs a live state that
  drifted from this ledger; a replay of the record skips it, see `mark_decided`).
* A `ConflictDecided` books a person's decision on a conflict (`stockflow.conflicts`) at exactly
  the conflict's position, never refused for lack of stock (flagged if it goes negative).
* A SKU's lifecycle decides which events it takes (`LIFECYCLE_RULES`): a draft none, a frozen
  SKU everything but buying (purchase orders and receipts), an archived SKU none. A till sale is
  never refused for stock, but a sale of a draft or archived SKU is (the company does not sell
  it). The derived transit leg and a state correction follow what was admitted already.
* A receipt in another currency is booked in the books' currency at the rate valid on its day
  (in the company's time zone); without a rate it is refused. Its movement keeps the invoiced
  currency and cost per base unit beside the converted cost.
* Admission rules (lifecycle and exchange rates) hold when an event enters; a replay of the
  record (``admit=False``) books what was admitted then, whatever the master data says now.
* A serial-managed SKU moves with one distinct serial number per base unit. The ledger keeps
  where each serial is (on hand at a location, in transit to one, sold) and refuses a receipt of
  a serial already in stock, an issue, transfer or write-off of one not on hand there, and a
  return of one not sold; a till sale books its serials whatever the register says. A count
  variance may name none (a count finds quantities, not which units).
* Credit: a reservation or a sales issue for a customer with a credit limit is checked when it
  enters (never on a replay) with `stockflow.finance.credit_check`. The customer's exposure is
  its open receivables (through the `OpenReceivables` port) plus its open orders: what this
  ledger holds reserved for the customer's sales orders, valued as the issue will book it
  (`receivable_value`). A reservation adds its value; an issue adds the value of what its order
  had not reserved (reserved goods issued turn an open order into a receivable). Over the limit
  it is refused (``credit_limit``), or held (``credit_hold``) for a customer whose setting asks
  for approval: a held event is not decided, so that once a `CreditApproved` allows more for the
  order, the same event sent again passes. A reservation names the order's customer (a later
  one naming another is refused, ``customer_mismatch``); the ledger remembers it per order.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from stockflow.alerts import Alert
from stockflow.coldchain import (
    EXCURSION_HOLD,
    ColdChainMonitor,
    check_curve,
    common_range,
    custody_rules,
    excursion_holds,
)
from stockflow.config import get_settings
from stockflow.events import (
    BASE_UNITS_LIMIT,
    AdjustmentReason,
    ChannelQuota,
    ConflictDecided,
    ConflictingDuplicate,
    CreditApproved,
    CycleCount,
    EventRejected,
    ForecastReviewed,
    GoodsReceipt,
    GroupMealAction,
    GroupMealOrder,
    HoldAction,
    InspectionVerdict,
    MaterialIssued,
    OperationReported,
    PalletInspected,
    PosReturn,
    PosSale,
    PrepProduced,
    ProductionReceipt,
    PurchaseOrder,
    QualityHold,
    ReservationAction,
    SalesIssue,
    StockAdjustment,
    StockCorrection,
    StockReservation,
    TemperatureCurve,
    TemperatureReading,
    TransferIn,
    TransferOut,
    TransitDispatched,
    WorkOrderClosed,
    WorkOrderReleased,
    fingerprint,
)
from stockflow.finance import credit_check
from stockflow.masterdata import (
    Catalog,
    InvalidGtin,
    LocationKind,
    NegativeStockPolicy,
    OverLimit,
    Sku,
    SkuKind,
    SkuStatus,
    UnitConversionError,
    validate_gtin,
)
from stockflow.money import ZERO, to_money
from stockflow.production import allowed_issue, issued_as_line, line_of
from stockflow.recipes import RecipeError, consumption, explode

NO_BATCH = ""
#: Movements remembered per location to date a count's book (see the module docstring).
RECENT_MOVEMENTS = 1024
#: How long a sensor's readings are kept for curves that name the sensor and a span.
SENSOR_HISTORY = timedelta(days=2)
#: Precision of a cost per base unit (a case cost divided by its pack size).
UNIT_COST_QUANTUM = Decimal("0.000001")
_FAR_FUTURE = date.max

#: Event types a SKU in each lifecycle state takes (an active SKU takes every event). Buying
#: (purchase orders and receipts) needs an active SKU; a frozen one is sold down, counted,
#: adjusted, moved between own locations, returned by customers, held and inspected.
LIFECYCLE_RULES: dict[SkuStatus, frozenset[str]] = {
    SkuStatus.DRAFT: frozenset(),
    SkuStatus.FROZEN: frozenset(
        {
            "forecast_reviewed",
            "transfer_out",
            "transfer_in",
            "sales_issue",
            "stock_reservation",
            "pos_sale",
            "pos_return",
            "cycle_count",
            "stock_adjustment",
            "quality_hold",
            "pallet_inspected",
            "material_issued",
        }
    ),
    SkuStatus.ARCHIVED: frozenset(),
}


#: The port the credit check reads a customer's open receivables through: customer code → the
#: sum of its open items in the books (what it owes now, before any open order).
OpenReceivables = Callable[[str], Decimal]


def receivable_amounts(sku: Sku, qty: int) -> tuple[Decimal, Decimal]:
    """What issuing `qty` base units of `sku` books as revenue and as output VAT: the wholesale
    price, and the VAT on it, each rounded to the fen (the sales-issue voucher's rule); nothing
    for a SKU without a wholesale price (it is invoiced elsewhere)."""
    if not sku.wholesale_price or qty <= 0:
        return ZERO, ZERO
    net = to_money(qty * sku.wholesale_price)
    return net, to_money(net * sku.vat_rate)


def receivable_value(sku: Sku, qty: int) -> Decimal:
    """What issuing `qty` base units of `sku` books to 应收账款 (`receivable_amounts`, added)."""
    net, vat = receivable_amounts(sku, qty)
    return net + vat


def lifecycle_takes(status: SkuStatus, event_type: str) -> bool:
    """Whether a SKU in this lifecycle state takes this event type (the one rule the ledger
    admits by and planning suggests by)."""
    return status is SkuStatus.ACTIVE or event_type in LIFECYCLE_RULES[status]


#: The refusal of an event a SKU's state does not take, by state.
LIFECYCLE_REASONS: dict[SkuStatus, str] = {
    SkuStatus.DRAFT: "sku_draft",
    SkuStatus.FROZEN: "sku_frozen",
    SkuStatus.ARCHIVED: "sku_archived",
}


class PositionKey(NamedTuple):
    """Location × SKU × batch (a tuple: hashed and compared in C, on every change)."""

    location: str
    sku: str
    batch: str = NO_BATCH


@dataclass(slots=True)
class Position:
    """Stock of one location × SKU × batch, in base units."""

    on_hand: int = 0
    reserved: int = 0
    quarantined: int = 0
    in_transit: int = 0

    @property
    def unrestricted(self) -> int:
        """On hand that is neither quarantined nor reserved."""
        return self.on_hand - self.quarantined - self.reserved

    def is_empty(self) -> bool:
        return not (self.on_hand or self.reserved or self.quarantined or self.in_transit)

    @classmethod
    def total(cls, positions: Iterable[Position]) -> Position:
        """The sum of several positions (e.g. every batch of a SKU at a location)."""
        out = cls()
        for p in positions:
            out.on_hand += p.on_hand
            out.reserved += p.reserved
            out.quarantined += p.quarantined
            out.in_transit += p.in_transit
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> Position:
        return cls(data["on_hand"], data["reserved"], data["quarantined"], data["in_transit"])

    def copy(self) -> Position:
        return Position(self.on_hand, self.reserved, self.quarantined, self.in_transit)

    def as_dict(self) -> dict[str, int]:
        return {
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "quarantined": self.quarantined,
            "in_transit": self.in_transit,
        }


@dataclass(frozen=True, slots=True)
class Movement:
    """What one event did to one position (deltas and the position after)."""

    event_id: str
    event_type: str
    occurred_at: datetime
    location: str
    sku: str
    batch: str
    on_hand_delta: int
    reserved_delta: int
    quarantined_delta: int
    in_transit_delta: int
    after: Position
    reference: str = ""
    counterparty: str = ""
    #: Cost (receipts, in the books' currency) or VAT-inclusive price (till lines) per base unit.
    unit_cost: Decimal | None = None
    unit_price: Decimal | None = None
    negative_stock: bool = False
    #: A receipt invoiced in another currency than the books': that currency and the invoiced
    #: cost per base unit in it (None for everything booked in the books' own currency).
    currency: str | None = None
    original_unit_cost: Decimal | None = None
    #: Made to a recipe: the dish or semi-finished item this row belongs to (on the dish's own
    #: row, on each ingredient it took, on a prep's every row); "" for everything else.
    dish: str = ""
    #: The dish's own row of a till line: base units of the dish sold or refunded (it moves no
    #: stock: a dish is made to order); 0 on every other row.
    portions: int = 0
    #: Work orders (the order is the row's `reference`): the labour and the overhead an
    #: operation report adds to the order's cost (its own row, which moves no stock), and the
    #: subcontractor's fee on the row of the finished goods a subcontracted order brings back.
    labour: Decimal | None = None
    overhead: Decimal | None = None
    service_fee: Decimal | None = None
    #: The row of finished goods received from a work order: base units the order still had
    #: to make before this receipt (its cost so far is shared over them); 0 on every other row.
    order_open_qty: int = 0
    #: Cold-chain goods received into quarantine because their curve did not clear them
    #: (`stockflow.coldchain.check_curve`: curve_missing, curve_gap, curve_out_of_range), or
    #: held on hand for an excursion (temperature_excursion); "" for everything else.
    hold_reason: str = ""

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.location, self.sku, self.batch)


@dataclass(frozen=True, slots=True)
class CountRecord:
    """A cycle count as the ledger took it: what was counted and what the book said then."""

    event_id: str
    count_id: str
    occurred_at: datetime
    key: PositionKey
    counted: int
    book: int

    @property
    def variance(self) -> int:
        """Counted − book, in base units (negative: goods missing)."""
        return self.counted - self.book


@dataclass(frozen=True, slots=True)
class MenuChange:
    """A dish sold out, or back, for a channel at a store (`channel` "" stands for the
    channels without a quota of their own). Its id derives from the event that changed it."""

    event_id: str
    occurred_at: datetime
    store: str
    dish: str
    channel: str
    sold_out: bool
    #: Whole portions the channel can still make from what it may take (0 when sold out).
    portions_left: int


@dataclass(slots=True)
class _Allocation:
    """Ingredients kept at a store for a channel's quota of a dish or for a group-meal order:
    ingredient → batch → base units reserved; `target` the quota's portions (0: an order)."""

    held: dict[str, dict[str, int]] = field(default_factory=dict)
    target: int = 0
    dish: str = ""
    channel: str = ""

    def copy(self) -> _Allocation:
        return _Allocation({i: dict(b) for i, b in self.held.items()}, self.target, self.dish, self.channel)

    def total(self, ingredient: str) -> int:
        return sum(self.held.get(ingredient, {}).values())


def quota_holder(channel: str, dish: str) -> str:
    """The allocation a channel's quota of a dish is kept under."""
    return f"quota:{channel}:{dish}"


def order_holder(order: str) -> str:
    """The allocation a group-meal order is kept under."""
    return f"group:{order}"


@dataclass(slots=True)
class WorkOrder:
    """A released work order as the ledger keeps it: where and what it makes, to which BOM
    day, and what went in and came out so far (base units)."""

    work_order: str
    location: str
    product: str
    qty: int
    bom_day: date
    due_date: date
    backflush: bool = False
    subcontractor: str | None = None
    #: Base units issued per SKU (returns taken off).
    issued: dict[str, int] = field(default_factory=dict)
    received: int = 0
    #: Per operation: good units, scrapped units, hours reported.
    reported: dict[str, list[Any]] = field(default_factory=dict)
    closed: bool = False

    @property
    def open_qty(self) -> int:
        return max(self.qty - self.received, 0)

    def as_list(self) -> list[Any]:
        return [
            self.work_order,
            self.location,
            self.product,
            self.qty,
            self.bom_day.isoformat(),
            self.due_date.isoformat(),
            self.backflush,
            self.subcontractor,
            dict(self.issued),
            self.received,
            {op: [good, scrap, str(hours)] for op, (good, scrap, hours) in self.reported.items()},
            self.closed,
        ]

    @classmethod
    def from_list(cls, data: list[Any]) -> WorkOrder:
        wo, location, product, qty, bom_day, due, backflush, sub, issued, received, reported, closed = data
        return cls(
            wo,
            location,
            product,
            qty,
            date.fromisoformat(bom_day),
            date.fromisoformat(due),
            backflush,
            sub,
            dict(issued),
            received,
            {op: [good, scrap, Decimal(hours)] for op, (good, scrap, hours) in reported.items()},
            closed,
        )

    def copy(self) -> WorkOrder:
        return WorkOrder.from_list(self.as_list())


@dataclass(frozen=True, slots=True)
class LedgerResult:
    event_id: str
    duplicate: bool
    movements: tuple[Movement, ...] = ()
    follow_ups: tuple[TransitDispatched, ...] = ()
    menu: tuple[MenuChange, ...] = ()
    #: A reading's excursions that lasted long enough (their holds are among the movements).
    alerts: tuple[Alert, ...] = ()

    @property
    def negative_stock(self) -> bool:
        return any(m.negative_stock for m in self.movements)


class StockRejected(EventRejected):
    """The event is well-formed but the ledger refuses it (master data or stock rules)."""

    #: Whether the refusal decides the event id: a redelivery of it stays refused.
    decided: bool = True


class CreditHeld(StockRejected):
    """Over the customer's credit limit, held for a person's approval: not decided, so that the
    same event sent again after a `CreditApproved` is taken."""

    decided = False


@dataclass(slots=True)
class _Line:
    """One stock-affecting line of an event, resolved against master data."""

    sku: Sku
    qty: int
    batch: str | None
    reference: str = ""
    counterparty: str = ""
    unit_cost: Decimal | None = None
    unit_price: Decimal | None = None
    currency: str | None = None
    original_unit_cost: Decimal | None = None
    dish: str = ""
    portions: int = 0
    #: A till line made to a recipe books its rows apart, under the event id and this suffix
    #: (two dishes may take the same ingredient batch; each line keeps its own rows).
    part: str = ""
    labour: Decimal | None = None
    overhead: Decimal | None = None
    service_fee: Decimal | None = None
    order_open_qty: int = 0
    hold_reason: str = ""


@dataclass(slots=True)
class _Change:
    key: PositionKey
    before: Position
    after: Position
    negative_stock: bool = False
    line: _Line | None = None
    part: str = ""


@dataclass
class _Txn:
    """Working copy of the positions one event touches; committed only if the event is valid."""

    ledger: Ledger
    #: Whether the admission rules hold (an event entering), or not (a replay of the record).
    admit: bool = True
    touched: dict[PositionKey, Position] = field(default_factory=dict)
    order: list[_Change] = field(default_factory=list)
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    #: SKU × serial number of every serial the event named so far (one unit, one line); None
    #: until it names one (most events move SKUs that are not serial-managed).
    serials_named: set[tuple[str, str]] | None = None
    #: Allocations (quotas, group-meal orders) this event changes: (store, holder) → the
    #: allocation after it (None: removed); written back when the event is taken.
    allocations: dict[tuple[str, str], _Allocation | None] = field(default_factory=dict)

    def get(self, key: PositionKey) -> Position:
        pos = self.touched.get(key)
        if pos is None:
            pos = self.ledger.position(key).copy()
            self.touched[key] = pos
        return pos

    def change(
        self,
        key: PositionKey,
        line: _Line | None,
        negative: bool = False,
        part: str | None = None,
        **deltas: int,
    ) -> None:
        pos = self.get(key)
        before = pos.copy()
        for name, delta in deltas.items():
            setattr(pos, name, getattr(pos, name) + delta)
        if part is None:
            part = line.part if line is not None else ""
        self.order.append(_Change(key, before, pos.copy(), negative, line, part))

    def batches(self, location: str, sku: str) -> list[str]:
        known = set(self.ledger.batches_at(location, sku))
        known.update(k.batch for k in self.touched if k.location == location and k.sku == sku)
        return sorted(known, key=lambda b: (self.ledger.batch_expiry(location, sku, b) or _FAR_FUTURE, b))


class Ledger:
    """Positions plus the memory needed to apply the next event (applied ids, batch expiries,
    open reservations)."""

    def __init__(
        self,
        catalog: Catalog,
        timezone: tzinfo | None = None,
        receivables: OpenReceivables | None = None,
        excursion_minutes: float | None = None,
        excursion_holds: bool | None = None,
    ) -> None:
        self.catalog = catalog
        #: The company's time zone (a receipt's day picks its exchange rate); None: the settings'.
        self.timezone = timezone
        #: Customers' open receivables for the credit check; None: none known (0).
        self.receivables = receivables
        self._stock: dict[str, dict[str, dict[str, Position]]] = {}
        #: (location, SKU) → its batches with stock on hand, in order, as last asked; dropped
        #: whenever a position of theirs changes (every temperature reading asks).
        self._on_hand_batches: dict[tuple[str, str], tuple[str, ...]] = {}
        #: location → (the catalogue's cold-chain codes it was made from, the cold-chain SKUs on
        #: hand there with their batches, the temperatures inside every one of their ranges);
        #: dropped whenever a position there changes, remade when the codes change.
        self._cold_stock: dict[
            str, tuple[list[str], tuple[tuple[Sku, tuple[str, ...]], ...], tuple[float, float]]
        ] = {}
        #: Every event id decided (applied or refused) → the fingerprint of its content (0: unknown).
        self._applied: dict[str, int] = {}
        self._expiry: dict[PositionKey, date] = {}
        self._reservations: dict[tuple[str, str, str], dict[str, int]] = {}
        self._last_issued_batch: dict[tuple[str, str], str] = {}
        self._counts: dict[PositionKey, CountRecord] = {}
        #: Batches an inspection held that have not arrived yet: their receipt goes into quarantine.
        self._hold_on_receipt: set[PositionKey] = set()
        self._recent: dict[str, deque[tuple[datetime, PositionKey, int]]] = {}
        self._newest: dict[str, datetime] = {}  # the latest occurred_at among a location's recent
        #: Serial-managed SKUs: SKU → serial → the location it is on hand at, or in transit to;
        #: SKU → serials sold and not returned.
        self._serials_on_hand: dict[str, dict[str, str]] = {}
        self._serials_in_transit: dict[str, dict[str, str]] = {}
        self._serials_sold: dict[str, set[str]] = {}
        #: Sales order → its customer (as a reservation named it); what a person approved above
        #: the credit limit per customer × sales order.
        self._order_customer: dict[str, str] = {}
        self._credit_approved: dict[tuple[str, str], Decimal] = {}
        #: Derived from the reservations: sales order → (location, SKU) it holds stock at, and
        #: customer → its sales orders that hold stock.
        self._order_reserved: dict[str, set[tuple[str, str]]] = {}
        self._customer_orders: dict[str, set[str]] = {}
        #: Ingredients kept for channels' quotas and group-meal orders: (store, holder) → what
        #: is held; the stores with quotas (store → {(channel, dish)}); the dishes sold out per
        #: store × dish × channel ("" the channels without a quota).
        self._allocations: dict[tuple[str, str], _Allocation] = {}
        self._quotas_at: dict[str, set[tuple[str, str]]] = {}
        self._sold_out: set[tuple[str, str, str]] = set()
        #: Work orders by their code (closed ones kept: their events come no more).
        self._work_orders: dict[str, WorkOrder] = {}
        #: Each sensor's readings of the last `SENSOR_HISTORY` (a curve may name a sensor and a
        #: span instead of carrying its readings), oldest first as they came.
        self._sensor_readings: dict[str, deque[tuple[datetime, float]]] = {}
        #: How long a reading outside a SKU's range may last before the batches on hand are
        #: held (None: the settings'), and the excursions open now.
        self.excursion_minutes = (
            get_settings().excursion_minutes if excursion_minutes is None else excursion_minutes
        )
        self.coldchain = ColdChainMonitor(timedelta(minutes=self.excursion_minutes))
        #: Whether an excursion holds the batches on hand (None: the settings').
        self.excursion_holds = get_settings().excursion_holds if excursion_holds is None else excursion_holds

    def seed(self, key: PositionKey, position: Position, expiry: date | None = None) -> None:
        """Start a position from what another ledger holds (an edge agent's last synced snapshot
        of its store), as if the events behind it had been applied here."""
        if position.is_empty():
            return
        self._stock.setdefault(key.location, {}).setdefault(key.sku, {})[key.batch] = position.copy()
        self._on_hand_batches.pop((key.location, key.sku), None)
        self._cold_stock.pop(key.location, None)
        if expiry is not None:
            self._expiry[key] = expiry

    # ---------------------------------------------------------------- reading
    def position(self, key: PositionKey) -> Position:
        return self._stock.get(key.location, {}).get(key.sku, {}).get(key.batch) or Position()

    def batches_at(self, location: str, sku: str) -> dict[str, Position]:
        return self._stock.get(location, {}).get(sku, {})

    def skus_at(self, location: str) -> dict[str, dict[str, Position]]:
        return self._stock.get(location, {})

    def locations(self) -> list[str]:
        return sorted(self._stock)

    def positions(self) -> Iterator[tuple[PositionKey, Position]]:
        for location, skus in self._stock.items():
            for sku, batches in skus.items():
                for batch, pos in batches.items():
                    yield PositionKey(location, sku, batch), pos

    def batch_expiry(self, location: str, sku: str, batch: str) -> date | None:
        """Expiry of a batch as this location knows it (from its receipt or its transfer)."""
        return self._expiry.get(PositionKey(location, sku, batch))

    def has_applied(self, event_id: str) -> bool:
        """Whether this event id has been decided (applied or refused)."""
        return event_id in self._applied

    def decided_content(self, event_id: str) -> int | None:
        """The fingerprint of the content decided under this id (0: unknown), None: not decided."""
        return self._applied.get(event_id)

    def mark_refused(self, event_id: str, content: int = 0) -> None:
        """Remember a refusal decided earlier (when rebuilding from the record)."""
        self._applied.setdefault(event_id, content)

    def mark_decided(self, event_id: str, content: int = 0) -> None:
        """Remember an event as decided without applying it (a replay of the record skips
        state corrections, yet a redelivered one must not apply to the rebuilt state)."""
        self._applied.setdefault(event_id, content)

    def reconsider(self, event_id: str) -> None:
        """Forget a refusal just made (a refusal changes nothing else), so that the event can be
        decided again: the stream does so when the master data it lacked may have arrived."""
        self._applied.pop(event_id, None)

    def latest_counts(self) -> Iterator[CountRecord]:
        """The latest cycle count of every position ever counted."""
        return iter(self._counts.values())

    def counted_after(self, key: PositionKey, when: datetime) -> CountRecord | None:
        """The latest count of a position if it was taken after `when` (it is applied already:
        the ledger holds only counts it applied)."""
        record = self._counts.get(key)
        return record if record is not None and record.occurred_at > when else None

    def later_changes(self, key: PositionKey, after: datetime) -> list[tuple[datetime, int]]:
        """On-hand changes of a position applied already that were made after `after` (when,
        delta), among the last `RECENT_MOVEMENTS` on-hand changes of its location."""
        newest = self._newest.get(key.location)
        if newest is None or newest <= after:
            return []
        return [(t, d) for t, k, d in self._recent.get(key.location, ()) if t > after and k == key]

    def serials_on_hand(self, location: str, sku: str) -> set[str]:
        """The serial numbers of a serial-managed SKU on hand at a location."""
        return {serial for serial, at in self._serials_on_hand.get(sku, {}).items() if at == location}

    def serials_in_transit(self, location: str, sku: str) -> set[str]:
        """The serial numbers of a SKU in transit to a location."""
        return {serial for serial, to in self._serials_in_transit.get(sku, {}).items() if to == location}

    def serial_location(self, sku: str, serial: str) -> str | None:
        """Where a serial is on hand (None: not on hand anywhere in this ledger)."""
        return self._serials_on_hand.get(sku, {}).get(serial)

    def serials_sold(self, sku: str) -> set[str]:
        """The serial numbers of a SKU sold and not returned."""
        return set(self._serials_sold.get(sku, ()))

    @property
    def applied_count(self) -> int:
        return len(self._applied)

    def order_customer(self, sales_order: str) -> str | None:
        """The customer a reservation named for this sales order (None: none did)."""
        return self._order_customer.get(sales_order)

    def open_orders(self, customer: str) -> Decimal:
        """The customer's open orders in this ledger: the stock reserved for its sales orders and
        not yet issued, valued as the issue will book it (`receivable_value`)."""
        total = ZERO
        for order in self._customer_orders.get(customer, ()):
            for location, sku_code in self._order_reserved.get(order, ()):
                sku = self.catalog.skus.get(sku_code)
                if sku is not None:
                    qty = sum(self._reservations.get((location, order, sku_code), {}).values())
                    total += receivable_value(sku, qty)
        return total

    def allocation(self, store: str, holder: str) -> dict[str, int]:
        """Base units per ingredient kept at `store` for a quota or a group-meal order
        (`quota_holder`, `order_holder`)."""
        kept = self._allocations.get((store, holder))
        return {i: kept.total(i) for i in kept.held} if kept is not None else {}

    def quotas(self, store: str) -> dict[tuple[str, str], int]:
        """The channels' quotas at a store: (channel, dish) → portions to keep."""
        out = {}
        for channel, dish in self._quotas_at.get(store, ()):
            out[(channel, dish)] = self._allocations[(store, quota_holder(channel, dish))].target
        return out

    def sold_out(self, store: str) -> set[tuple[str, str]]:
        """The (dish, channel) pairs sold out at a store ("" the channels without a quota)."""
        return {(dish, channel) for at, dish, channel in self._sold_out if at == store}

    def work_order(self, code: str) -> WorkOrder | None:
        """A work order as it stands (a copy), None when none was released under `code`."""
        found = self._work_orders.get(code)
        return found.copy() if found is not None else None

    def work_orders(self, location: str | None = None, open_only: bool = True) -> list[WorkOrder]:
        """The work orders (copies) at `location` (every location: None), open ones only."""
        return [
            wo.copy()
            for wo in self._work_orders.values()
            if (location is None or wo.location == location) and not (open_only and wo.closed)
        ]

    def credit_approved(self, customer: str, sales_order: str) -> Decimal:
        """What people approved above the customer's credit limit for this sales order."""
        return self._credit_approved.get((customer, sales_order), ZERO)

    # ---------------------------------------------------------------- snapshots
    def snapshot(self) -> dict[str, Any]:
        """Everything the ledger remembers, as JSON-ready values detached from the live state
        (restore with `from_snapshot`): applying the same events after a restore gives exactly
        what applying them here gives."""
        return {
            "stock": [
                [location, sku, batch, pos.on_hand, pos.reserved, pos.quarantined, pos.in_transit]
                for location, skus in self._stock.items()
                for sku, batches in skus.items()
                for batch, pos in batches.items()
            ],
            "decided": list(self._applied),
            "fingerprints": list(self._applied.values()),
            "expiry": [[k.location, k.sku, k.batch, d.isoformat()] for k, d in self._expiry.items()],
            "reservations": [[*key, dict(held)] for key, held in self._reservations.items()],
            "last_issued_batch": [[*key, batch] for key, batch in self._last_issued_batch.items()],
            "counts": [
                [
                    c.event_id,
                    c.count_id,
                    c.occurred_at.isoformat(),
                    c.key.location,
                    c.key.sku,
                    c.key.batch,
                    c.counted,
                    c.book,
                ]
                for c in self._counts.values()
            ],
            "hold_on_receipt": [[k.location, k.sku, k.batch] for k in self._hold_on_receipt],
            "recent": {
                location: [[t.isoformat(), k.location, k.sku, k.batch, delta] for t, k, delta in recent]
                for location, recent in self._recent.items()
            },
            "newest": {location: t.isoformat() for location, t in self._newest.items()},
            "serials_on_hand": {sku: dict(at) for sku, at in self._serials_on_hand.items() if at},
            "serials_in_transit": {sku: dict(to) for sku, to in self._serials_in_transit.items() if to},
            "serials_sold": {sku: sorted(sold) for sku, sold in self._serials_sold.items() if sold},
            "order_customers": dict(self._order_customer),
            "credit_approved": [
                [customer, order, str(amount)] for (customer, order), amount in self._credit_approved.items()
            ],
            "allocations": [
                [store, holder, a.dish, a.channel, a.target, a.held]
                for (store, holder), a in self._allocations.items()
            ],
            "sold_out": [list(key) for key in sorted(self._sold_out)],
            "work_orders": [wo.as_list() for wo in self._work_orders.values()],
            "sensor_readings": {
                sensor: [[at.isoformat(), celsius] for at, celsius in readings]
                for sensor, readings in self._sensor_readings.items()
            },
            "cold_chain": self.coldchain.snapshot(),
        }

    @classmethod
    def from_snapshot(
        cls,
        catalog: Catalog,
        data: Mapping[str, Any],
        receivables: OpenReceivables | None = None,
        excursion_minutes: float | None = None,
        excursion_holds: bool | None = None,
    ) -> Ledger:
        ledger = cls(
            catalog,
            receivables=receivables,
            excursion_minutes=excursion_minutes,
            excursion_holds=excursion_holds,
        )
        stock = ledger._stock
        for location, sku, batch, on_hand, reserved, quarantined, in_transit in data["stock"]:
            stock.setdefault(location, {}).setdefault(sku, {})[batch] = Position(
                on_hand, reserved, quarantined, in_transit
            )
        decided = data["decided"]
        ledger._applied = dict(zip(decided, data.get("fingerprints") or [0] * len(decided), strict=True))
        ledger._expiry = {PositionKey(lo, sk, ba): date.fromisoformat(d) for lo, sk, ba, d in data["expiry"]}
        ledger._reservations = {(lo, order, sk): dict(held) for lo, order, sk, held in data["reservations"]}
        ledger._last_issued_batch = {(lo, sk): ba for lo, sk, ba in data["last_issued_batch"]}
        ledger._counts = {}
        for event_id, count_id, at, lo, sk, ba, counted, book in data["counts"]:
            key = PositionKey(lo, sk, ba)
            ledger._counts[key] = CountRecord(
                event_id, count_id, datetime.fromisoformat(at), key, counted, book
            )
        ledger._hold_on_receipt = {PositionKey(lo, sk, ba) for lo, sk, ba in data["hold_on_receipt"]}
        ledger._recent = {
            location: deque(
                (
                    (datetime.fromisoformat(t), PositionKey(lo, sk, ba), delta)
                    for t, lo, sk, ba, delta in rows
                ),
                maxlen=RECENT_MOVEMENTS,
            )
            for location, rows in data["recent"].items()
        }
        ledger._newest = {location: datetime.fromisoformat(t) for location, t in data["newest"].items()}
        # checkpoints taken before serial numbers were kept have none
        ledger._serials_on_hand = {sku: dict(at) for sku, at in data.get("serials_on_hand", {}).items()}
        ledger._serials_in_transit = {sku: dict(to) for sku, to in data.get("serials_in_transit", {}).items()}
        ledger._serials_sold = {sku: set(sold) for sku, sold in data.get("serials_sold", {}).items()}
        # nor customers of orders, nor credit approvals, those taken before the credit check
        ledger._order_customer = dict(data.get("order_customers", {}))
        ledger._credit_approved = {
            (customer, order): Decimal(amount) for customer, order, amount in data.get("credit_approved", [])
        }
        # nor quotas and group meals, those taken before recipes
        for store, holder, dish, channel, target, held in data.get("allocations", []):
            ledger._allocations[(store, holder)] = _Allocation(
                {i: dict(b) for i, b in held.items()}, target, dish, channel
            )
            if target:
                ledger._quotas_at.setdefault(store, set()).add((channel, dish))
        ledger._sold_out = {(store, dish, channel) for store, dish, channel in data.get("sold_out", [])}
        # nor work orders, those taken before manufacturing
        ledger._work_orders = {row[0]: WorkOrder.from_list(row) for row in data.get("work_orders", [])}
        # nor sensor readings, those taken before curves
        ledger._sensor_readings = {
            sensor: deque((datetime.fromisoformat(at), celsius) for at, celsius in readings)
            for sensor, readings in data.get("sensor_readings", {}).items()
        }
        ledger.coldchain.restore(data.get("cold_chain", []))
        for location, order, sku in ledger._reservations:
            ledger._order_reserved.setdefault(order, set()).add((location, sku))
        for order in ledger._order_reserved:
            ledger._index_order(order)
        return ledger

    # ---------------------------------------------------------------- writing
    def apply(self, event: object, admit: bool = True) -> LedgerResult:
        """Apply one validated event; raise `StockRejected` and change nothing if it is refused.

        `admit`: the event is entering (the lifecycle and exchange-rate rules hold); False for a
        replay of the record, which books what was admitted then whatever master data says now."""
        event_id: str = event.event_id  # type: ignore[attr-defined]
        content = fingerprint(event)  # type: ignore[arg-type]
        known = self._applied.get(event_id)
        if known is not None:
            if known and known != content:
                raise ConflictingDuplicate(event_id)
            return LedgerResult(event_id, duplicate=True)
        if isinstance(event, TemperatureReading):
            self._check_location(event.location)
            stocked, within = self._cold_chain_stock(event.location)
            raised = tuple(self.coldchain.observe(event, stocked, within))
            self._keep_reading(event)
            self._applied[event_id] = content
            return LedgerResult(event_id, False, self._hold_excursions(raised, admit), alerts=raised)
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise StockRejected("unsupported_event", f"the ledger does not book {type(event).__name__}")
        txn = _Txn(self, admit)
        try:
            if admit and type(event) not in _FOLLOWS_ADMITTED:
                self._admit(event)
            follow_ups = handler(self, txn, event) or ()
            menu = self._menu_after(txn, event) if self._quotas_at or txn.allocations else []
        except StockRejected as refused:
            if refused.decided:  # a redelivery of a refused event stays refused
                self._applied[event_id] = content
            raise
        movements = self._commit(event, txn)
        for effect in txn.on_commit:
            effect()
        self._keep_allocations(txn, menu)
        self._remember(movements)
        self._applied[event_id] = content
        return LedgerResult(
            event_id, duplicate=False, movements=movements, follow_ups=tuple(follow_ups), menu=tuple(menu)
        )

    def apply_accepted(
        self, events: Iterable[object], admit: bool = True
    ) -> Iterator[tuple[object, LedgerResult]]:
        """Apply events as the stream does, each transfer's transit leg right after its dispatch,
        yielding the accepted ones with their results; a refused event changes nothing and is
        skipped (the stream sends it to the dead letters). `admit`: as for `apply`."""
        for event in events:
            pending = [event]
            while pending:
                current = pending.pop(0)
                try:
                    result = self.apply(current, admit)
                except StockRejected:
                    continue
                yield current, result
                pending[:0] = result.follow_ups

    def _remember(self, movements: Iterable[Movement]) -> None:
        """Keep on-hand changes to date counts by; one made before a count but applied after it
        belongs to that count's book."""
        for mv in movements:
            if not mv.on_hand_delta:
                continue
            recent = self._recent.get(mv.location)
            if recent is None:
                recent = self._recent[mv.location] = deque(maxlen=RECENT_MOVEMENTS)
            recent.append((mv.occurred_at, mv.key, mv.on_hand_delta))
            newest = self._newest.get(mv.location)
            if newest is None or mv.occurred_at > newest:
                self._newest[mv.location] = mv.occurred_at
            record = self._counts.get(mv.key)
            if record is not None and mv.occurred_at < record.occurred_at:
                self._counts[mv.key] = replace(record, book=record.book + mv.on_hand_delta)

    def _book_at(self, key: PositionKey, on_hand: int, when: datetime) -> int:
        """On hand as of `when`: without the changes applied already that were made later."""
        newest = self._newest.get(key.location)
        if newest is None or newest <= when:  # the usual case: nothing made later was applied yet
            return on_hand
        later = sum(d for t, k, d in self._recent.get(key.location, ()) if t > when and k == key)
        return on_hand - later

    def _commit(self, event: object, txn: _Txn) -> tuple[Movement, ...]:
        # Net the changes per position (an event may touch one position several times), and per
        # part of the event (a till line made to a recipe books its rows apart).
        first: dict[tuple[str, PositionKey], _Change] = {}
        last: dict[tuple[str, PositionKey], _Change] = {}
        negative: dict[tuple[str, PositionKey], bool] = {}
        # the event line behind a position's changes (a reservation released by the same
        # event changes the position again, with no line of its own)
        lines: dict[tuple[str, PositionKey], _Line] = {}
        for ch in txn.order:
            at = (ch.part, ch.key)
            first.setdefault(at, ch)
            last[at] = ch
            if ch.line is not None:
                lines[at] = ch.line
            negative[at] = negative.get(at, False) or ch.negative_stock
        final: dict[PositionKey, Position] = {}
        for ch in txn.order:
            final[ch.key] = ch.after
        for key, after in final.items():
            self._on_hand_batches.pop((key.location, key.sku), None)
            if (sku := self.catalog.skus.get(key.sku)) is None or sku.is_cold_chain:
                self._cold_stock.pop(key.location, None)  # only cold-chain goods make a difference
            batches = self._stock.setdefault(key.location, {}).setdefault(key.sku, {})
            if after.is_empty():
                batches.pop(key.batch, None)
                if not batches:
                    del self._stock[key.location][key.sku]
            else:
                batches[key.batch] = after
        event_id: str = event.event_id  # type: ignore[attr-defined]
        movements = []
        for at, ch in last.items():
            part, key = at
            before, after = first[at].before, ch.after
            line = lines.get(at)
            movements.append(
                Movement(
                    event_id=event_id + part,
                    event_type=event.event_type,  # type: ignore[attr-defined]
                    occurred_at=event.occurred_at,  # type: ignore[attr-defined]
                    location=key.location,
                    sku=key.sku,
                    batch=key.batch,
                    on_hand_delta=after.on_hand - before.on_hand,
                    reserved_delta=after.reserved - before.reserved,
                    quarantined_delta=after.quarantined - before.quarantined,
                    in_transit_delta=after.in_transit - before.in_transit,
                    # the position after the whole event, also on a part's row (two lines of a
                    # ticket may take the same batch: each row says where the event left it)
                    after=final[key].copy(),
                    reference=line.reference if line else "",
                    counterparty=line.counterparty if line else "",
                    unit_cost=line.unit_cost if line else None,
                    unit_price=line.unit_price if line else None,
                    negative_stock=negative[at],
                    currency=line.currency if line else None,
                    original_unit_cost=line.original_unit_cost if line else None,
                    dish=line.dish if line else "",
                    portions=line.portions if line else 0,
                    labour=line.labour if line else None,
                    overhead=line.overhead if line else None,
                    service_fee=line.service_fee if line else None,
                    order_open_qty=line.order_open_qty if line else 0,
                    hold_reason=line.hold_reason if line else "",
                )
            )
        return tuple(movements)

    # ---------------------------------------------------------------- checks
    def _admit(self, event: Any) -> None:
        """The lifecycle rule: refuse an event that names a SKU whose state does not take it (an
        unknown SKU is left to the handler, which refuses it as unknown)."""
        if type(event) in _NO_SKU:
            return
        codes = [line.sku for line in event.lines] if type(event) in _TICKETS else (event.sku,)
        for code in codes:
            sku = self.catalog.skus.get(code)
            if sku is None or sku.status is SkuStatus.ACTIVE:
                continue
            if not lifecycle_takes(sku.status, event.event_type):
                raise StockRejected(
                    LIFECYCLE_REASONS[sku.status],
                    f"SKU {code} is {sku.status.value}: it takes no {event.event_type}",
                )

    def _local_day(self, moment: datetime) -> date:
        """The company's calendar day of a moment."""
        if self.timezone is None:
            self.timezone = get_settings().tz
        return moment.astimezone(self.timezone).date()

    def _check_location(self, location: str, kind: LocationKind | None = None) -> None:
        loc = self.catalog.locations.get(location)
        if loc is None:
            raise StockRejected("unknown_location", f"location {location!r} is not in master data")
        if kind is not None and loc.kind != kind:
            raise StockRejected("wrong_location_kind", f"location {location!r} is a {loc.kind}, not a {kind}")

    def _resolve(
        self,
        sku_code: str,
        qty: Decimal,
        unit: str,
        gtin: str | None = None,
        batch: str | None = None,
        **extra: object,
    ) -> _Line:
        sku = self.catalog.skus.get(sku_code)
        if sku is None:
            raise StockRejected("unknown_sku", f"SKU {sku_code!r} is not in master data")
        if gtin is not None:
            try:
                scanned = validate_gtin(gtin)
            except InvalidGtin as exc:
                raise StockRejected("invalid_gtin", f"scanned GTIN {gtin!r}: {exc}") from exc
            if scanned != sku.gtin:
                raise StockRejected(
                    "gtin_mismatch", f"scanned GTIN {scanned} belongs to no {sku_code!r} (expects {sku.gtin})"
                )
        try:
            base = self.catalog.to_base_units(sku, qty, unit)
        except UnitConversionError as exc:
            raise StockRejected("unit_conversion", str(exc)) from exc
        if not sku.batch_managed:
            batch = NO_BATCH
        return _Line(sku=sku, qty=base, batch=batch, **extra)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- movements
    def _inflow(self, txn: _Txn, location: str, line: _Line, batch: str) -> None:
        txn.change(PositionKey(location, line.sku.sku, batch), line, on_hand=line.qty)

    def _outflow(
        self,
        txn: _Txn,
        location: str,
        line: _Line,
        what: str,
        own_reservation: tuple[str, str] | None = None,
        refusable: bool = True,
    ) -> list[tuple[str, int]]:
        """Take `line.qty` off on-hand stock; return the (batch, qty) allocation."""
        sku = line.sku
        remaining = line.qty
        allocation: list[tuple[str, int]] = []

        def take(batch: str, limit: int) -> None:
            nonlocal remaining
            qty = min(remaining, limit)
            if qty > 0:
                txn.change(PositionKey(location, sku.sku, batch), line, on_hand=-qty)
                allocation.append((batch, qty))
                remaining -= qty

        if line.batch is not None:
            pos = txn.get(PositionKey(location, sku.sku, line.batch))
            take(line.batch, pos.on_hand - pos.quarantined)
            shortfall_batch = line.batch
        else:
            candidates = txn.batches(location, sku.sku)
            if own_reservation is not None:
                for batch, qty in list(self._reservations.get((location, *own_reservation), {}).items()):
                    pos = txn.get(PositionKey(location, sku.sku, batch))
                    take(batch, min(qty, pos.on_hand - pos.quarantined))
            for batch in candidates:  # unrestricted stock first
                if remaining <= 0:
                    break
                take(batch, txn.get(PositionKey(location, sku.sku, batch)).unrestricted)
            for batch in candidates:  # then stock reserved for other orders
                if remaining <= 0:
                    break
                pos = txn.get(PositionKey(location, sku.sku, batch))
                take(batch, pos.on_hand - pos.quarantined)
            shortfall_batch = candidates[-1] if candidates else NO_BATCH
        if remaining > 0:
            if refusable and sku.negative_stock is NegativeStockPolicy.REJECT:
                raise StockRejected(
                    "negative_stock",
                    f"{what} of {line.qty} {sku.base_unit} of {sku.sku} at {location} exceeds the "
                    f"{line.qty - remaining} {sku.base_unit} of unrestricted stock"
                    + (f" in batch {line.batch!r}" if line.batch else ""),
                )
            txn.change(
                PositionKey(location, sku.sku, shortfall_batch), line, negative=True, on_hand=-remaining
            )
            allocation.append((shortfall_batch, remaining))
        if allocation:
            last_batch = allocation[-1][0]
            txn.on_commit.append(lambda: self._last_issued_batch.__setitem__((location, sku.sku), last_batch))
        return allocation

    # ---------------------------------------------------------------- serial numbers
    def _listed_serials(
        self, txn: _Txn, line: _Line, serials: list[str] | None, optional: bool = False
    ) -> tuple[str, ...]:
        """The serials an event line lists, checked against its SKU and quantity: one distinct
        serial per base unit of a serial-managed SKU (none for other SKUs; `optional`: a line
        that may list none, a count variance)."""
        sku = line.sku
        if not sku.serial_managed:
            raise StockRejected(
                "serials_not_managed", f"{sku.sku} is not serial-managed: its events list no serials"
            )
        if serials is None and optional:
            return ()
        listed = tuple(serials or ())
        distinct = set(listed)
        if len(distinct) != len(listed) or len(listed) != line.qty:
            raise StockRejected(
                "serials_mismatch",
                f"{line.qty} {sku.base_unit} of serial-managed {sku.sku} need {line.qty} distinct "
                f"serial numbers; the event lists {len(listed)} ({len(distinct)} distinct)",
            )
        named = {(sku.sku, serial) for serial in listed}
        if txn.serials_named is None:
            txn.serials_named = named
        elif again := txn.serials_named & named:
            raise StockRejected(
                "serials_mismatch",
                f"serial {sorted(again)[0][1]} of {sku.sku} is listed twice in one event",
            )
        else:
            txn.serials_named |= named
        return listed

    def _serials_arrive(self, txn: _Txn, sku: str, serials: tuple[str, ...], location: str) -> None:
        """Serials that come into stock (a receipt, a positive adjustment): none may be in stock
        or on its way anywhere in this ledger already."""
        on_hand = self._serials_on_hand.get(sku, {})
        in_transit = self._serials_in_transit.get(sku, {})
        for serial in serials:
            where = on_hand.get(serial)
            if where is not None:
                raise StockRejected(
                    "serial_in_stock", f"serial {serial} of {sku} is already on hand at {where}"
                )
            where = in_transit.get(serial)
            if where is not None:
                raise StockRejected(
                    "serial_in_stock", f"serial {serial} of {sku} is already in transit to {where}"
                )
        txn.on_commit.append(lambda: self._put_on_hand(sku, serials, location))

    def _serials_leave(
        self, txn: _Txn, sku: str, serials: tuple[str, ...], location: str, sold: bool, refusable: bool = True
    ) -> None:
        """Serials that leave a location's stock (an issue, a transfer, a write-off; `sold`: to a
        customer). Each must be on hand there, unless the outflow is never refused for stock."""
        on_hand = self._serials_on_hand.get(sku, {})
        if refusable:
            for serial in serials:
                where = on_hand.get(serial)
                if where != location:
                    raise StockRejected(
                        "serial_not_in_stock",
                        f"serial {serial} of {sku} is not on hand at {location}"
                        + (f" (it is at {where})" if where else ""),
                    )

        def take() -> None:
            held = self._serials_on_hand.get(sku, {})
            for serial in serials:
                held.pop(serial, None)
            if sold:
                self._serials_sold.setdefault(sku, set()).update(serials)

        txn.on_commit.append(take)

    def _put_on_hand(self, sku: str, serials: Iterable[str], location: str) -> None:
        held = self._serials_on_hand.setdefault(sku, {})
        sold = self._serials_sold.get(sku)
        for serial in serials:
            held[serial] = location
            if sold:
                sold.discard(serial)

    def _require_batch(self, line: _Line, what: str) -> str:
        if line.batch is None:
            raise StockRejected(
                "missing_batch", f"{line.sku.sku} is batch-managed: a {what} must name the batch"
            )
        return line.batch

    def _release_reservation(self, txn: _Txn, location: str, order: str, sku: str, qty: int) -> None:
        held = dict(self._reservations.get((location, order, sku), {}))
        if not held:
            return
        for batch in sorted(held):
            take = min(qty, held[batch], txn.get(PositionKey(location, sku, batch)).reserved)
            if take > 0:
                txn.change(PositionKey(location, sku, batch), None, reserved=-take)
                held[batch] -= take
                qty -= take
        remaining = {b: q for b, q in held.items() if q > 0}

        def store() -> None:
            if remaining:
                self._reservations[(location, order, sku)] = remaining
            else:
                self._reservations.pop((location, order, sku), None)
            self._reserved_at(order, location, sku, bool(remaining))

        txn.on_commit.append(store)

    def _reserved_at(self, order: str, location: str, sku: str, holds: bool) -> None:
        """Keep the indexes of open orders: whether `order` holds stock of `sku` at `location`."""
        at = self._order_reserved.get(order)
        if holds:
            if at is None:
                at = self._order_reserved[order] = set()
            at.add((location, sku))
        elif at is not None:
            at.discard((location, sku))
            if not at:
                del self._order_reserved[order]
        self._index_order(order)

    def _index_order(self, order: str) -> None:
        customer = self._order_customer.get(order)
        if customer is None:
            return
        orders = self._customer_orders.get(customer)
        if order in self._order_reserved:
            if orders is None:
                orders = self._customer_orders[customer] = set()
            orders.add(order)
        elif orders is not None:
            orders.discard(order)
            if not orders:
                del self._customer_orders[customer]

    # ---------------------------------------------------------------- credit
    def _check_credit(self, txn: _Txn, customer: str | None, order: str, amount: Decimal) -> None:
        """Refuse (or hold) an entering event that adds `amount` to the exposure of a customer
        with a credit limit beyond that limit and what was approved above it for the order."""
        if not txn.admit or customer is None or amount <= 0:
            return
        known = self.catalog.customers.get(customer)
        if known is None or known.credit_limit is None:
            return
        receivables = self.receivables(customer) if self.receivables is not None else ZERO
        orders = self.open_orders(customer)
        approved = self.credit_approved(customer, order)
        decision = credit_check(
            known.credit_limit, known.over_credit_limit, receivables + orders, amount, approved
        )
        if decision.allowed:
            return
        detail = (
            f"customer {customer}, sales order {order}: {decision.detail}; "
            f"open receivables {receivables}, open orders {orders}"
            + (f"; approved above the limit for this order {approved}" if approved else "")
        )
        raise (CreditHeld if decision.held else StockRejected)(decision.reason, detail)

    # ---------------------------------------------------------------- handlers
    def _goods_receipt(self, txn: _Txn, ev: GoodsReceipt) -> None:
        self._check_location(ev.location)
        if ev.supplier not in self.catalog.suppliers:
            raise StockRejected("unknown_supplier", f"supplier {ev.supplier!r} is not in master data")
        line = self._resolve(
            ev.sku, ev.qty, ev.unit, ev.gtin, ev.batch, reference=ev.purchase_order, counterparty=ev.supplier
        )
        unit_factor = line.sku.units()[ev.unit]
        if ev.currency == self.catalog.currency:
            line.unit_cost = (ev.unit_cost / unit_factor).quantize(UNIT_COST_QUANTUM)
        else:
            self._convert_cost(txn, ev, line, unit_factor)
        batch = self._require_batch(line, "goods receipt") if line.sku.batch_managed else NO_BATCH
        if line.sku.is_perishable and line.sku.batch_managed:
            if ev.expiry_date is None:
                raise StockRejected(
                    "missing_expiry", f"{line.sku.sku} is perishable: a receipt needs expiry_date"
                )
            where = PositionKey(ev.location, line.sku.sku, batch)
            known = self._expiry.get(where)
            if known is not None and known != ev.expiry_date:
                raise StockRejected(
                    "expiry_conflict", f"batch {batch!r} of {line.sku.sku} already expires on {known}"
                )
            expiry = ev.expiry_date
            txn.on_commit.append(lambda: self._expiry.__setitem__(where, expiry))
        if line.sku.serial_managed or ev.serials is not None:
            serials = self._listed_serials(txn, line, ev.serials)
            self._serials_arrive(txn, line.sku.sku, serials, ev.location)
        self._check_licences(ev, txn.admit)
        self._inflow(txn, ev.location, line, batch)
        custody = self._custody(line, ev.temperature_curve, ev.occurred_at)
        if custody or PositionKey(ev.location, line.sku.sku, batch) in self._hold_on_receipt:
            line.hold_reason = custody
            txn.change(PositionKey(ev.location, line.sku.sku, batch), line, quarantined=line.qty)

    def _check_licences(self, ev: GoodsReceipt, admit: bool) -> None:
        """Goods are not received from a supplier with a licence expired before the receipt's
        day (an entering receipt; a replay books what was received)."""
        if not admit:
            return
        supplier = self.catalog.suppliers[ev.supplier]
        if not supplier.licences:
            return
        expired = supplier.expired_licences(self._local_day(ev.occurred_at))
        if expired:
            raise StockRejected(
                "supplier_licence_expired",
                "; ".join(f"{lic.kind} {lic.number} expired on {lic.valid_until}" for lic in expired),
            )

    def _custody(self, line: _Line, curve: TemperatureCurve | None, arrived: datetime) -> str:
        """Why cold-chain goods arriving with `curve` go into quarantine ("": they do not;
        goods that are not cold-chain need no curve). A curve sent is always checked; none at
        all quarantines them where the company requires one (`cold_chain_custody`)."""
        if not line.sku.is_cold_chain:
            return ""
        settings = get_settings()
        if curve is None and not settings.cold_chain_custody:
            return ""  # a curve is required only where the company says so; one sent is checked
        rules = custody_rules(line.sku, self.excursion_minutes, settings.curve_max_gap_minutes)
        if curve is None:
            return check_curve(line.sku, [], *rules).reason
        if curve.readings is not None:  # the logger's readings, up to the hand-over
            points = [(r.at, r.celsius) for r in curve.readings]
            return check_curve(line.sku, points, *rules, span=(None, arrived)).reason
        assert curve.sensor is not None and curve.from_at is not None and curve.to_at is not None
        start, end = curve.from_at, curve.to_at
        taken = [(at, c) for at, c in self._sensor_readings.get(curve.sensor, ()) if start <= at <= end]
        return check_curve(line.sku, taken, *rules, span=(start, end)).reason

    def _cold_chain_stock(
        self, location: str
    ) -> tuple[tuple[tuple[Sku, tuple[str, ...]], ...], tuple[float, float]]:
        """The cold-chain SKUs on hand at a location, with their batches on hand, and the
        temperatures inside all of their ranges (`stockflow.coldchain.common_range`)."""
        codes = self.catalog.cold_chain_codes()
        cached = self._cold_stock.get(location)
        if cached is not None and cached[0] is codes:
            return cached[1], cached[2]
        stocked = tuple(self._cold_chain_on_hand(location, codes))
        within = common_range(sku for sku, _ in stocked)
        self._cold_stock[location] = (codes, stocked, within)
        return stocked, within

    def _cold_chain_on_hand(self, location: str, codes: list[str]) -> list[tuple[Sku, tuple[str, ...]]]:
        stock = self._stock.get(location)
        if not stock:
            return []
        stocked = []
        known = self._on_hand_batches
        for code in codes:
            batches = stock.get(code)
            if not batches:
                continue
            sku = self.catalog.skus[code]
            if not sku.is_cold_chain:  # changed in place since the codes were listed
                continue
            held = known.get((location, code))
            if held is None:
                held = known[(location, code)] = tuple(
                    sorted([b for b, p in batches.items() if p.on_hand > 0])
                )
            if held:
                stocked.append((sku, held))
        return stocked

    def _hold_excursions(self, raised: tuple[Alert, ...], admit: bool) -> tuple[Movement, ...]:
        """Put the batches an excursion found on hand into quarantine as the reading that made it
        last long enough is applied (`stockflow.coldchain.excursion_holds`): the holds' rows land
        with the reading, and a replay of the reading holds them again the same way."""
        movements: tuple[Movement, ...] = ()
        for excursion in raised if self.excursion_holds else ():
            for hold in excursion_holds(excursion, self.catalog.skus[excursion.sku].base_unit):
                try:
                    held = self.apply(hold, admit).movements
                except StockRejected:  # a refused hold changed nothing; the others stand
                    continue
                movements += tuple(replace(mv, hold_reason=EXCURSION_HOLD) for mv in held)
        return movements

    def _keep_reading(self, reading: TemperatureReading) -> None:
        """Keep a sensor's reading for curves that name the sensor; forget those more than
        `SENSOR_HISTORY` older than its newest."""
        readings = self._sensor_readings.get(reading.sensor)
        if readings is None:
            readings = self._sensor_readings[reading.sensor] = deque()
        readings.append((reading.occurred_at, reading.celsius))
        newest = max(readings[-1][0], readings[0][0])
        while readings and readings[0][0] < newest - SENSOR_HISTORY:
            readings.popleft()

    def _convert_cost(self, txn: _Txn, ev: GoodsReceipt, line: _Line, unit_factor: int) -> None:
        """A receipt invoiced in another currency: its cost at the rate valid on its day, the
        invoiced currency and cost kept beside it. Without a rate an entering receipt is refused;
        a replayed one keeps its quantities and no cost (its landed rows hold what was booked)."""
        day = self._local_day(ev.occurred_at)
        rate = self.catalog.rate_on(ev.currency, day)
        if rate is None and txn.admit:
            raise StockRejected(
                "no_exchange_rate",
                f"no {ev.currency} to {self.catalog.currency} exchange rate is valid on {day}: "
                "a receipt is booked in the books' currency",
            )
        line.currency = ev.currency
        line.original_unit_cost = (ev.unit_cost / unit_factor).quantize(UNIT_COST_QUANTUM)
        if rate is not None:
            line.unit_cost = (ev.unit_cost * rate / unit_factor).quantize(UNIT_COST_QUANTUM)

    def _purchase_order(self, txn: _Txn, ev: PurchaseOrder) -> None:
        """Checked like a receipt (location, supplier, SKU, unit); it moves no stock."""
        self._check_location(ev.location)
        if ev.supplier not in self.catalog.suppliers:
            raise StockRejected("unknown_supplier", f"supplier {ev.supplier!r} is not in master data")
        self._resolve(ev.sku, ev.qty, ev.unit, reference=ev.purchase_order, counterparty=ev.supplier)

    def _forecast_reviewed(self, txn: _Txn, ev: ForecastReviewed) -> None:
        """A planning decision on record: checked against master data; it moves no stock."""
        self._check_location(ev.location)
        if ev.sku not in self.catalog.skus:
            raise StockRejected("unknown_sku", f"SKU {ev.sku!r} is not in master data")

    def _transfer_out(self, txn: _Txn, ev: TransferOut) -> list[TransitDispatched]:
        self._check_location(ev.from_location)
        self._check_location(ev.to_location)
        line = self._resolve(
            ev.sku, ev.qty, ev.unit, ev.gtin, ev.batch, reference=ev.transfer_id, counterparty=ev.to_location
        )
        serials: tuple[str, ...] | None = None
        if line.sku.serial_managed or ev.serials is not None:
            serials = self._listed_serials(txn, line, ev.serials)
            self._serials_leave(txn, ev.sku, serials, ev.from_location, sold=False)
        allocation = self._outflow(txn, ev.from_location, line, "transfer")
        legs = []
        start = 0
        for i, (batch, qty) in enumerate(allocation):
            legs.append(
                TransitDispatched(
                    event_id=f"{ev.event_id}:transit:{i}",
                    occurred_at=ev.occurred_at,
                    source=ev.source,
                    transfer_id=ev.transfer_id,
                    from_location=ev.from_location,
                    to_location=ev.to_location,
                    sku=ev.sku,
                    batch=batch,
                    qty_base=qty,
                    expiry_date=self._expiry.get(PositionKey(ev.from_location, ev.sku, batch)),
                    serials=None if serials is None else list(serials[start : start + qty]),
                )
            )
            start += qty
        return legs

    def _transit_dispatched(self, txn: _Txn, ev: TransitDispatched) -> None:
        self._check_location(ev.to_location)
        sku = self.catalog.skus.get(ev.sku)
        if sku is None:
            raise StockRejected("unknown_sku", f"SKU {ev.sku!r} is not in master data")
        if ev.expiry_date is not None:
            expiry = ev.expiry_date
            where = PositionKey(ev.to_location, ev.sku, ev.batch)
            txn.on_commit.append(lambda: self._expiry.setdefault(where, expiry))
        line = _Line(
            sku=sku, qty=ev.qty_base, batch=ev.batch, reference=ev.transfer_id, counterparty=ev.from_location
        )
        txn.change(PositionKey(ev.to_location, ev.sku, ev.batch), line, in_transit=ev.qty_base)
        if ev.serials:
            txn.on_commit.append(lambda: self._serials_dispatched(ev.sku, ev.serials or (), ev.to_location))

    def _serials_dispatched(self, sku: str, serials: Iterable[str], destination: str) -> None:
        """Serials on their way to `destination`; one already on hand there arrived ahead of its
        leg (the scanners' topic and the transits' are not ordered with each other)."""
        on_hand = self._serials_on_hand.get(sku, {})
        in_transit = self._serials_in_transit.setdefault(sku, {})
        for serial in serials:
            if on_hand.get(serial) != destination:
                in_transit[serial] = destination

    def _transfer_in(self, txn: _Txn, ev: TransferIn) -> None:
        self._check_location(ev.to_location)
        self._check_location(ev.from_location)
        line = self._resolve(
            ev.sku,
            ev.qty,
            ev.unit,
            ev.gtin,
            ev.batch,
            reference=ev.transfer_id,
            counterparty=ev.from_location,
        )
        if line.sku.serial_managed or ev.serials is not None:
            self._serials_received(txn, ev, self._listed_serials(txn, line, ev.serials))
        remaining = line.qty
        if line.batch is not None:
            plan = [(line.batch, remaining)]
        else:  # receive against what is in transit, first-expiring first
            plan = []
            for batch in txn.batches(ev.to_location, ev.sku):
                transit = txn.get(PositionKey(ev.to_location, ev.sku, batch)).in_transit
                if transit > 0 and remaining > 0:
                    qty = min(transit, remaining)
                    plan.append((batch, qty))
                    remaining -= qty
            if remaining > 0:
                plan.append((plan[-1][0] if plan else NO_BATCH, remaining))
        custody = self._custody(line, ev.temperature_curve, ev.occurred_at)
        line.hold_reason = custody
        for batch, qty in plan:
            txn.change(PositionKey(ev.to_location, ev.sku, batch), line, on_hand=qty, in_transit=-qty)
            if custody:
                txn.change(PositionKey(ev.to_location, ev.sku, batch), line, quarantined=qty)

    def _serials_received(self, txn: _Txn, ev: TransferIn, serials: tuple[str, ...]) -> None:
        """A transfer's serials arrive: those in transit here are taken off transit; one whose leg
        has not been applied yet is simply received (the leg then finds it here). A serial on hand
        anywhere in this ledger, or on its way to another location, cannot arrive here."""
        on_hand = self._serials_on_hand.get(ev.sku, {})
        in_transit = self._serials_in_transit.get(ev.sku, {})
        for serial in serials:
            where = on_hand.get(serial)
            if where is not None:
                raise StockRejected(
                    "serial_in_stock", f"serial {serial} of {ev.sku} is on hand at {where}, not in transit"
                )
            where = in_transit.get(serial)
            if where is not None and where != ev.to_location:
                raise StockRejected(
                    "serial_in_stock", f"serial {serial} of {ev.sku} is in transit to {where}, not here"
                )

        def receive() -> None:
            arriving = self._serials_in_transit.get(ev.sku, {})
            for serial in serials:
                arriving.pop(serial, None)
            self._put_on_hand(ev.sku, serials, ev.to_location)

        txn.on_commit.append(receive)

    def _sales_issue(self, txn: _Txn, ev: SalesIssue) -> None:
        self._check_location(ev.location)
        line = self._resolve(
            ev.sku, ev.qty, ev.unit, ev.gtin, ev.batch, reference=ev.sales_order, counterparty=ev.customer
        )
        if line.sku.serial_managed or ev.serials is not None:
            serials = self._listed_serials(txn, line, ev.serials)
            self._serials_leave(txn, ev.sku, serials, ev.location, sold=True)
        self._outflow(txn, ev.location, line, "issue", own_reservation=(ev.sales_order, ev.sku))
        # what the order had reserved is an open order already: only the rest adds to the exposure
        reserved = sum(self._reservations.get((ev.location, ev.sales_order, ev.sku), {}).values())
        unreserved = receivable_value(line.sku, line.qty - min(line.qty, reserved))
        self._check_credit(txn, ev.customer, ev.sales_order, unreserved)
        self._release_reservation(txn, ev.location, ev.sales_order, ev.sku, line.qty)

    def _stock_reservation(self, txn: _Txn, ev: StockReservation) -> None:
        self._check_location(ev.location)
        line = self._resolve(ev.sku, ev.qty, ev.unit, reference=ev.sales_order)
        if ev.action is ReservationAction.RELEASE:
            self._release_reservation(txn, ev.location, ev.sales_order, ev.sku, line.qty)
            return
        remaining = line.qty
        plan: list[tuple[str, int]] = []
        for batch in txn.batches(ev.location, ev.sku):
            free = txn.get(PositionKey(ev.location, ev.sku, batch)).unrestricted
            qty = min(free, remaining)
            if qty > 0:
                plan.append((batch, qty))
                remaining -= qty
        if remaining > 0:
            raise StockRejected(
                "insufficient_stock",
                f"cannot reserve {line.qty} {line.sku.base_unit} of {ev.sku} at {ev.location}: "
                f"only {line.qty - remaining} unrestricted",
            )
        customer = self._order_customer.get(ev.sales_order)
        if ev.customer is not None and customer is not None and ev.customer != customer and txn.admit:
            raise StockRejected(
                "customer_mismatch",
                f"sales order {ev.sales_order} is for customer {customer}, not {ev.customer}",
            )
        customer = customer or ev.customer
        self._check_credit(txn, customer, ev.sales_order, receivable_value(line.sku, line.qty))
        for batch, qty in plan:
            txn.change(PositionKey(ev.location, ev.sku, batch), line, reserved=qty)

        def store() -> None:
            if customer is not None:
                self._order_customer.setdefault(ev.sales_order, customer)
            held = self._reservations.setdefault((ev.location, ev.sales_order, ev.sku), {})
            for batch, qty in plan:
                held[batch] = held.get(batch, 0) + qty
            self._reserved_at(ev.sales_order, ev.location, ev.sku, True)

        txn.on_commit.append(store)

    def _credit_approval(self, txn: _Txn, ev: CreditApproved) -> None:
        """A person allows `amount` above the customer's limit for the order; it moves no stock.
        Entering, it needs a known customer whose over-limit setting asks for approval."""
        self._check_location(ev.location)
        if txn.admit:
            customer = self.catalog.customers.get(ev.customer)
            if customer is None:
                raise StockRejected("unknown_customer", f"customer {ev.customer!r} is not in master data")
            if customer.over_credit_limit is not OverLimit.APPROVAL:
                raise StockRejected(
                    "credit_approval_not_taken",
                    f"customer {ev.customer} is set to {customer.over_credit_limit.value} orders over its "
                    "credit limit: they are not held for approval",
                )
        key = (ev.customer, ev.sales_order)

        def store() -> None:
            self._credit_approved[key] = self._credit_approved.get(key, ZERO) + ev.amount

        txn.on_commit.append(store)

    def _pos_sale(self, txn: _Txn, ev: PosSale) -> None:
        self._check_location(ev.store, LocationKind.STORE)
        for number, line_in in enumerate(ev.lines, 1):
            line = self._resolve(
                line_in.sku,
                line_in.qty,
                line_in.unit,
                line_in.gtin,
                line_in.batch,
                reference=ev.ticket,
                counterparty=ev.customer or ev.channel.value,
            )
            line.unit_price = _per_base_unit(line_in.unit_price, line_in.qty, line.qty)
            if line.sku.kind is SkuKind.DISH:
                self._made_to_order(txn, ev, number, line, sold=True)
                continue
            if line.sku.serial_managed or line_in.serials is not None:
                serials = self._listed_serials(txn, line, line_in.serials)
                # the goods have left: sold wherever the register had them
                txn.on_commit.append(
                    lambda sku=line.sku.sku, sold=serials: self._serials_sold_at_till(sku, sold)
                )
            self._outflow(txn, ev.store, line, "sale", refusable=False)

    def _recipe_consumption(
        self, product: str, qty: int, location: str, when: datetime | date
    ) -> dict[str, int]:
        """Base units per stocked SKU that making `qty` of `product` takes (`stockflow.recipes`),
        with the recipe in effect at `location` on `when` (a day, or the company's day of a
        moment); refused beyond the base-unit limit."""
        day = when if not isinstance(when, datetime) else self._local_day(when)
        try:
            taken = consumption(self.catalog, product, qty, location, day)
        except RecipeError as exc:
            raise StockRejected(exc.reason, exc.detail) from exc
        for code, units in taken.items():
            if units > BASE_UNITS_LIMIT:
                raise StockRejected(
                    "quantity_out_of_range",
                    f"{qty} of {product} takes {units} of {code}, more than {BASE_UNITS_LIMIT} base units",
                )
        return taken

    def _made_to_order(
        self, txn: _Txn, ev: PosSale | PosReturn, number: int, line: _Line, sold: bool, restock: bool = False
    ) -> None:
        """A till line of a dish: its own row (what was sold or refunded, at what price; no
        stock), and the ingredients its recipe takes first-expired-first-out (never refused:
        the dish has left), or, for a refund of an untouched dish, gives back. Booked apart
        under the event id and ``:<line number>``. A sale takes first what its group-meal order
        or its channel's quota of the dish keeps."""
        dish = line.sku.sku
        line.part, line.dish, line.portions = f":{number}", dish, line.qty
        taken = self._recipe_consumption(dish, line.qty, ev.store, ev.occurred_at)
        txn.change(PositionKey(ev.store, dish, NO_BATCH), line)
        if not sold and not restock:
            return
        kept = None
        if sold:
            order = ev.order if isinstance(ev, PosSale) else None
            holder = order_holder(order) if order else quota_holder(ev.channel.value, dish)
            if self._held(txn, ev.store, holder) is not None:
                kept = self._edit(txn, ev.store, holder)
        for code, units in taken.items():
            ingredient = _Line(
                sku=self.catalog.skus[code],
                qty=units,
                batch=None,
                reference=line.reference,
                counterparty=line.counterparty,
                dish=dish,
                part=line.part,
            )
            if sold:
                rest = self._take_kept(txn, ev.store, kept, ingredient) if kept is not None else units
                if rest:
                    ingredient.qty = rest
                    self._outflow(txn, ev.store, ingredient, "sale", refusable=False)
            else:
                batch = self._last_issued_batch.get((ev.store, code), NO_BATCH)
                self._inflow(txn, ev.store, ingredient, batch)

    # ---------------------------------------------------------------- quotas and group meals
    def _held(self, txn: _Txn, store: str, holder: str) -> _Allocation | None:
        at = (store, holder)
        return txn.allocations[at] if at in txn.allocations else self._allocations.get(at)

    def _edit(self, txn: _Txn, store: str, holder: str, new: _Allocation | None = None) -> _Allocation:
        """The allocation this event changes (a working copy), `new` when there is none."""
        at = (store, holder)
        if at not in txn.allocations:
            kept = self._allocations.get(at)
            txn.allocations[at] = kept.copy() if kept is not None else None
        if txn.allocations[at] is None:
            txn.allocations[at] = new if new is not None else _Allocation()
        return txn.allocations[at]  # type: ignore[return-value]

    def _quotas_now(self, txn: _Txn, store: str) -> dict[tuple[str, str], _Allocation]:
        """The quotas at a store as this event leaves them: (channel, dish) → allocation."""
        out = {}
        for channel, dish in self._quotas_at.get(store, ()):
            kept = self._held(txn, store, quota_holder(channel, dish))
            if kept is not None and kept.target:
                out[(channel, dish)] = kept
        for (at, _holder), kept in txn.allocations.items():
            if at == store and kept is not None and kept.target:
                out[(kept.channel, kept.dish)] = kept
        return out

    def _fill(
        self,
        txn: _Txn,
        store: str,
        kept: _Allocation,
        wanted: Mapping[str, int],
        reference: str,
        counterparty: str,
        release: bool = True,
    ) -> None:
        """Bring what `kept` holds of each ingredient to `wanted`: reserve more unrestricted
        stock first-expired-first-out as far as there is, and (`release`) give back what is no
        longer wanted."""
        for code in sorted(wanted.keys() | kept.held.keys()):
            sku = self.catalog.skus.get(code)
            if sku is None:
                continue
            line = _Line(
                sku=sku, qty=0, batch=None, reference=reference, counterparty=counterparty, dish=kept.dish
            )
            have, want = kept.total(code), wanted.get(code, 0)
            if have < want:
                held = kept.held.setdefault(code, {})
                for batch in txn.batches(store, code):
                    key = PositionKey(store, code, batch)
                    qty = min(txn.get(key).unrestricted, want - have)
                    if qty > 0:
                        txn.change(key, line, reserved=qty)
                        held[batch] = held.get(batch, 0) + qty
                        have += qty
                    if have >= want:
                        break
                if not held:
                    del kept.held[code]
            elif have > want and release:
                held = kept.held[code]
                excess = have - want
                for batch in sorted(
                    held, key=lambda b: (self.batch_expiry(store, code, b) or _FAR_FUTURE, b), reverse=True
                ):
                    if excess <= 0:
                        break
                    give = min(held[batch], excess)
                    key = PositionKey(store, code, batch)
                    unreserve = min(give, txn.get(key).reserved)
                    if unreserve > 0:
                        txn.change(key, line, reserved=-unreserve)
                    held[batch] -= give
                    excess -= give
                    if not held[batch]:
                        del held[batch]
                if not held:
                    del kept.held[code]

    def _take_kept(self, txn: _Txn, store: str, kept: _Allocation, line: _Line) -> int:
        """Take a sale's ingredient first from what `kept` holds (earliest expiry first); return
        the base units still to take."""
        code = line.sku.sku
        held = kept.held.get(code)
        remaining = line.qty
        if not held:
            return remaining
        for batch in sorted(held, key=lambda b: (self.batch_expiry(store, code, b) or _FAR_FUTURE, b)):
            key = PositionKey(store, code, batch)
            pos = txn.get(key)
            qty = min(remaining, held[batch], pos.on_hand - pos.quarantined)
            if qty <= 0:
                continue
            txn.change(key, line, on_hand=-qty, reserved=-min(qty, pos.reserved))
            held[batch] -= qty
            if not held[batch]:
                del held[batch]
            remaining -= qty
            txn.on_commit.append(lambda b=batch: self._last_issued_batch.__setitem__((store, code), b))
            if not remaining:
                break
        if not held:
            del kept.held[code]
        return remaining

    def _channel_quota(self, txn: _Txn, ev: ChannelQuota) -> None:
        """Keep (or stop keeping) a dish's ingredients for a channel's portions."""
        self._check_location(ev.location, LocationKind.STORE)
        self._dish(ev.dish)
        channel = ev.channel.value
        holder = quota_holder(channel, ev.dish)
        kept = self._edit(txn, ev.location, holder, _Allocation(dish=ev.dish, channel=channel))
        kept.target = ev.portions
        wanted = (
            self._recipe_consumption(ev.dish, ev.portions, ev.location, ev.occurred_at) if ev.portions else {}
        )
        self._fill(txn, ev.location, kept, wanted, holder, channel)

    def _group_meal_order(self, txn: _Txn, ev: GroupMealOrder) -> None:
        """Reserve a group meal's ingredients (the recipes in effect on its day), replace them
        for a revised order, or release what is left."""
        self._check_location(ev.location, LocationKind.STORE)
        holder = order_holder(ev.order)
        if self._held(txn, ev.location, holder) is None:
            if ev.action is GroupMealAction.CLOSE:  # served in full: nothing left to release
                return
            if ev.action is GroupMealAction.CANCEL:
                raise StockRejected(
                    "unknown_group_meal", f"group meal {ev.order} holds nothing at {ev.location} to cancel"
                )
        wanted: dict[str, int] = {}
        for meal in ev.lines if ev.action is GroupMealAction.CONFIRM else ():
            self._dish(meal.dish)
            for code, units in self._recipe_consumption(
                meal.dish, meal.portions, ev.location, ev.serve_date
            ).items():
                wanted[code] = wanted.get(code, 0) + units
        kept = self._edit(txn, ev.location, holder, _Allocation(channel="group_meal"))
        self._fill(txn, ev.location, kept, wanted, ev.order, ev.customer or "group_meal")

    def _dish(self, code: str) -> Sku:
        sku = self.catalog.skus.get(code)
        if sku is None:
            raise StockRejected("unknown_sku", f"SKU {code!r} is not in master data")
        if sku.kind is not SkuKind.DISH:
            raise StockRejected("not_a_dish", f"{code} is {sku.kind.value}: only a dish is made to order")
        return sku

    def _menu_after(self, txn: _Txn, event: Any) -> list[MenuChange]:
        """After an event at a store with quotas: top its quotas up when one of their
        ingredients came in, and say which dishes it sold out, or brought back, per channel."""
        stores = {key.location for key in txn.touched} | {store for store, _ in txn.allocations}
        changes: list[MenuChange] = []
        for store in sorted(stores):
            quotas = self._quotas_now(txn, store)
            flagged = {(dish, channel) for at, dish, channel in self._sold_out if at == store}
            if not quotas and not flagged:
                continue
            touched = {key.sku for key in txn.touched if key.location == store}
            grew = {
                ch.key.sku
                for ch in txn.order
                if ch.key.location == store and ch.after.on_hand > ch.before.on_hand
            }
            day = self._local_day(event.occurred_at)
            for dish in sorted({d for _, d in quotas} | {d for d, _ in flagged}):
                channels = sorted(c for c, d in quotas if d == dish)
                try:
                    need = explode(self.catalog, dish, 1, store, day)
                except RecipeError:
                    continue
                if not (need.keys() & touched) and not channels and not flagged:
                    continue
                if grew & need.keys() and not isinstance(event, ChannelQuota):
                    for channel in channels:  # replenished: the quotas are topped up
                        kept = self._edit(txn, store, quota_holder(channel, dish))
                        wanted = consumption(self.catalog, dish, kept.target, store, day)
                        self._fill(
                            txn, store, kept, wanted, quota_holder(channel, dish), channel, release=False
                        )
                left: dict[str, int] = {}
                for channel in channels:
                    kept = self._held(txn, store, quota_holder(channel, dish))
                    left[channel] = _portions(need, kept.total if kept is not None else lambda _: 0)
                left[""] = _portions(need, partial(_unrestricted, txn, store))
                if not channels:  # no quota left for this dish: only its flags are cleared
                    left = {c: 1 for d, c in flagged if d == dish}
                for channel in sorted({c for d, c in flagged if d == dish} - left.keys()):
                    left[channel] = 1  # a quota ended: the channel sells from open stock again
                for channel, portions in sorted(left.items()):
                    sold_out = portions < 1
                    if sold_out != ((dish, channel) in flagged):
                        changes.append(
                            MenuChange(
                                event_id=f"{event.event_id}:menu:{dish}:{channel or 'open'}",
                                occurred_at=event.occurred_at,
                                store=store,
                                dish=dish,
                                channel=channel,
                                sold_out=sold_out,
                                portions_left=max(portions, 0) if channel in channels or channel == "" else 0,
                            )
                        )
        return changes

    def _keep_allocations(self, txn: _Txn, menu: Iterable[MenuChange]) -> None:
        for (store, holder), kept in txn.allocations.items():
            if kept is None or (not kept.held and not kept.target):
                self._allocations.pop((store, holder), None)
            else:
                self._allocations[(store, holder)] = kept
            if holder.startswith("quota:"):
                _, channel, dish = holder.split(":", 2)
                at = self._quotas_at.setdefault(store, set())
                if kept is not None and kept.target:
                    at.add((channel, dish))
                else:
                    at.discard((channel, dish))
                if not at:
                    del self._quotas_at[store]
        for change in menu:
            flag = (change.store, change.dish, change.channel)
            if change.sold_out:
                self._sold_out.add(flag)
            else:
                self._sold_out.discard(flag)

    def _prep_produced(self, txn: _Txn, ev: PrepProduced) -> None:
        """A semi-finished item made from its recipe: the ingredients out (refused for want of
        stock as any issue is, by each ingredient's policy), the item in as a batch."""
        self._check_location(ev.location)
        line = self._resolve(ev.sku, ev.qty, ev.unit, None, ev.batch, reference=ev.prep_id)
        sku = line.sku
        if sku.kind is not SkuKind.SEMI_FINISHED:
            raise StockRejected(
                "not_semi_finished", f"{sku.sku} is {sku.kind.value}: only a semi-finished item is prepped"
            )
        line.dish = sku.sku
        batch = self._require_batch(line, "prep") if sku.batch_managed else NO_BATCH
        for code, units in self._recipe_consumption(sku.sku, line.qty, ev.location, ev.occurred_at).items():
            ingredient = _Line(
                sku=self.catalog.skus[code], qty=units, batch=None, reference=ev.prep_id, dish=sku.sku
            )
            self._outflow(txn, ev.location, ingredient, "prep")
        self._made_batch_expiry(txn, ev, sku, batch)
        self._inflow(txn, ev.location, line, batch)

    def _made_batch_expiry(self, txn: _Txn, ev: Any, sku: Sku, batch: str) -> None:
        """A batch made here (a prep, a work order's goods) of a perishable batch-managed SKU
        expires on the event's `expiry_date`, else its shelf life after the day it was made;
        a batch already known keeps its one expiry (another is refused)."""
        if not (sku.is_perishable and sku.batch_managed):
            return
        try:
            expiry = ev.expiry_date or date.fromordinal(
                self._local_day(ev.occurred_at).toordinal() + (sku.shelf_life_days or 0)
            )
        except (OverflowError, ValueError) as exc:
            raise StockRejected(
                "expiry_out_of_range", f"{sku.sku} made {ev.occurred_at} cannot expire: {exc}"
            ) from exc
        where = PositionKey(ev.location, sku.sku, batch)
        known = self._expiry.get(where)
        if known is not None and known != expiry:
            raise StockRejected("expiry_conflict", f"batch {batch!r} of {sku.sku} already expires on {known}")
        txn.on_commit.append(lambda: self._expiry.__setitem__(where, expiry))

    # ---------------------------------------------------------------- work orders
    def _open_work_order(self, code: str, location: str) -> WorkOrder:
        self._check_location(location)  # a location master data lacks is that, not a wrong order
        wo = self._work_orders.get(code)
        if wo is None:
            raise StockRejected("unknown_work_order", f"no work order {code!r} was released")
        if wo.location != location:
            raise StockRejected("wrong_location", f"work order {code} is at {wo.location}, not {location}")
        if wo.closed:
            raise StockRejected("work_order_closed", f"work order {code} is closed")
        return wo

    def _bom_of(self, wo: WorkOrder) -> Any:
        bom = self.catalog.bom_for(wo.product, wo.bom_day)
        if bom is None:  # released to it, so it was there: master data lost it since
            raise StockRejected("no_bom", f"{wo.product} has no BOM in effect on {wo.bom_day.isoformat()}")
        return bom

    def _change_work_order(self, txn: _Txn, wo: WorkOrder) -> None:
        txn.on_commit.append(lambda: self._work_orders.__setitem__(wo.work_order, wo))

    def _work_order_released(self, txn: _Txn, ev: WorkOrderReleased) -> None:
        """A work order released: to the BOM in effect on the day, at a plant; a subcontracted
        one names a subcontractor's location, and its materials are sent, never backflushed."""
        self._check_location(ev.location, LocationKind.PLANT)
        known = self._work_orders.get(ev.work_order)
        if known is not None:
            raise StockRejected("work_order_exists", f"work order {ev.work_order} was released already")
        line = self._resolve(ev.product, ev.qty, ev.unit)
        if line.sku.status is not SkuStatus.ACTIVE and txn.admit:
            raise StockRejected(
                LIFECYCLE_REASONS.get(line.sku.status, "sku_frozen"),
                f"{ev.product} is {line.sku.status.value}: no work order makes it",
            )
        day = self._local_day(ev.occurred_at)
        if self.catalog.bom_for(ev.product, day) is None:
            raise StockRejected("no_bom", f"{ev.product} has no BOM in effect on {day.isoformat()}")
        if ev.subcontractor is not None:
            self._check_location(ev.subcontractor, LocationKind.SUBCONTRACTOR)
            if ev.backflush:
                raise StockRejected(
                    "backflush_subcontracted",
                    f"work order {ev.work_order} is subcontracted: its materials are sent, not backflushed",
                )
        wo = WorkOrder(
            ev.work_order, ev.location, ev.product, line.qty, day, ev.due_date, ev.backflush, ev.subcontractor
        )
        self._change_work_order(txn, wo)

    def _material_issued(self, txn: _Txn, ev: MaterialIssued) -> None:
        """Material issued to an order (or sent to its subcontractor), or returned from it: a BOM
        material or a substitute valid on the order's BOM day, never more than the order may
        take of its line (scrap included), never more back than it had."""
        wo = self._open_work_order(ev.work_order, ev.location).copy()
        bom = self._bom_of(wo)
        line = self._resolve(
            ev.sku,
            ev.qty,
            ev.unit,
            ev.gtin,
            ev.batch,
            reference=wo.work_order,
            counterparty=wo.subcontractor or "",
        )
        found = line_of(bom, ev.sku, wo.bom_day)
        if found is None:
            raise StockRejected(
                "not_on_bom",
                f"{ev.sku} is neither a material of {wo.product}'s BOM nor a substitute valid on "
                f"{wo.bom_day.isoformat()}",
            )
        bom_line, _ = found
        had = wo.issued.get(ev.sku, 0)
        if ev.returned:
            if line.qty > had:
                raise StockRejected(
                    "over_return",
                    f"{line.qty} {line.sku.base_unit} of {ev.sku} back; work order {wo.work_order} had {had}",
                )
            batch = self._require_batch(line, "return") if line.sku.batch_managed else NO_BATCH
            self._inflow(txn, ev.location, line, batch)
            wo.issued[ev.sku] = had - line.qty
        else:
            wo.issued[ev.sku] = had + line.qty
            allowed = allowed_issue(self.catalog, bom, bom_line, wo.qty)
            issued = issued_as_line(bom, wo.issued, wo.bom_day)[bom_line.sku]
            if issued > allowed:
                raise StockRejected(
                    "over_issue",
                    f"work order {wo.work_order} may take {allowed} {self.catalog.skus[bom_line.sku].base_unit} "
                    f"of {bom_line.sku} (substitutes counted at their ratio); this issue makes it {float(issued):g}",
                )
            self._outflow(txn, ev.location, line, "issue")
        self._change_work_order(txn, wo)

    def _operation_reported(self, txn: _Txn, ev: OperationReported) -> None:
        """An operation reported: its hours at the routing's rates add labour and overhead to
        the order's cost (a row of its own that moves no stock)."""
        wo = self._open_work_order(ev.work_order, ev.location).copy()
        operation = self._bom_of(wo).operation(ev.operation)
        if operation is None:
            raise StockRejected(
                "unknown_operation", f"{wo.product}'s routing has no operation {ev.operation!r}"
            )
        done = wo.reported.setdefault(ev.operation, [0, 0, Decimal(0)])
        if done[0] + ev.good_qty > wo.qty:
            raise StockRejected(
                "report_beyond_order",
                f"operation {ev.operation} of work order {wo.work_order}: {done[0] + ev.good_qty} good units "
                f"reported, the order makes {wo.qty}",
            )
        done[0] += ev.good_qty
        done[1] += ev.scrap_qty
        done[2] += ev.hours
        row = _Line(
            sku=self.catalog.skus[wo.product],
            qty=0,
            batch=NO_BATCH,
            reference=wo.work_order,
            counterparty=wo.subcontractor or "",
            labour=to_money(ev.hours * operation.labour_rate),
            overhead=to_money(ev.hours * operation.overhead_rate),
        )
        txn.change(PositionKey(ev.location, wo.product, NO_BATCH), row)
        self._change_work_order(txn, wo)

    def _production_receipt(self, txn: _Txn, ev: ProductionReceipt) -> None:
        """Finished goods received: never beyond the order; a backflushed order's materials for
        everything received so far are issued first (what was issued already counts)."""
        wo = self._open_work_order(ev.work_order, ev.location).copy()
        line = self._resolve(
            wo.product,
            ev.qty,
            ev.unit,
            None,
            ev.batch,
            reference=wo.work_order,
            counterparty=wo.subcontractor or "",
            service_fee=to_money(ev.service_fee) if ev.service_fee else None,
            order_open_qty=wo.open_qty,
        )
        if wo.received + line.qty > wo.qty:
            raise StockRejected(
                "completion_beyond_order",
                f"work order {wo.work_order} makes {wo.qty}; {wo.received} received, {line.qty} more is beyond it",
            )
        if ev.service_fee and wo.subcontractor is None:
            raise StockRejected(
                "fee_not_subcontracted", f"work order {wo.work_order} is made in house: it has no service fee"
            )
        if wo.backflush:
            bom = self._bom_of(wo)
            made = issued_as_line(bom, wo.issued, wo.bom_day)
            for bom_line in bom.lines:
                need = allowed_issue(self.catalog, bom, bom_line, wo.received + line.qty) - math.ceil(
                    made[bom_line.sku]
                )
                if need > 0:
                    material = _Line(
                        sku=self.catalog.skus[bom_line.sku], qty=need, batch=None, reference=wo.work_order
                    )
                    self._outflow(txn, ev.location, material, "backflush")
                    wo.issued[bom_line.sku] = wo.issued.get(bom_line.sku, 0) + need
        sku = line.sku
        batch = self._require_batch(line, "production receipt") if sku.batch_managed else NO_BATCH
        self._made_batch_expiry(txn, ev, sku, batch)
        self._inflow(txn, ev.location, line, batch)
        wo.received += line.qty
        self._change_work_order(txn, wo)

    def _work_order_closed(self, txn: _Txn, ev: WorkOrderClosed) -> None:
        """A work order closed: a row of its own (no stock moves) on which what the order's cost
        still holds is booked as the production variance."""
        wo = self._open_work_order(ev.work_order, ev.location).copy()
        wo.closed = True
        row = _Line(
            sku=self.catalog.skus[wo.product],
            qty=0,
            batch=NO_BATCH,
            reference=wo.work_order,
            counterparty=wo.subcontractor or "",
        )
        txn.change(PositionKey(ev.location, wo.product, NO_BATCH), row)
        self._change_work_order(txn, wo)

    def _serials_sold_at_till(self, sku: str, serials: tuple[str, ...]) -> None:
        held = self._serials_on_hand.get(sku, {})
        for serial in serials:
            held.pop(serial, None)
        self._serials_sold.setdefault(sku, set()).update(serials)

    def _pos_return(self, txn: _Txn, ev: PosReturn) -> None:
        self._check_location(ev.store, LocationKind.STORE)
        for number, line_in in enumerate(ev.lines, 1):
            line = self._resolve(
                line_in.sku,
                line_in.qty,
                line_in.unit,
                line_in.gtin,
                line_in.batch,
                reference=ev.original_ticket or ev.ticket,
                counterparty=ev.channel.value,
            )
            line.unit_price = _per_base_unit(line_in.unit_price, line_in.qty, line.qty)
            if line.sku.kind is SkuKind.DISH:
                self._made_to_order(txn, ev, number, line, sold=False, restock=ev.restock_ingredients)
                continue
            batch = line.batch
            if batch is None:
                batch = self._last_issued_batch.get((ev.store, line.sku.sku), NO_BATCH)
            if line.sku.serial_managed or line_in.serials is not None:
                self._serials_returned(
                    txn, line.sku.sku, self._listed_serials(txn, line, line_in.serials), ev.store
                )
            self._inflow(txn, ev.store, line, batch)

    def _serials_returned(self, txn: _Txn, sku: str, serials: tuple[str, ...], store: str) -> None:
        """Serials a customer brings back: each must have been sold and not be on hand."""
        sold = self._serials_sold.get(sku, set())
        on_hand = self._serials_on_hand.get(sku, {})
        for serial in serials:
            if serial not in sold or serial in on_hand:
                raise StockRejected(
                    "serial_not_sold", f"serial {serial} of {sku} was not sold (or is back in stock)"
                )
        txn.on_commit.append(lambda: self._put_on_hand(sku, serials, store))

    def _cycle_count(self, txn: _Txn, ev: CycleCount) -> None:
        self._check_location(ev.location)
        line = self._resolve(ev.sku, ev.counted_qty, ev.unit, ev.gtin, ev.batch, reference=ev.count_id)
        batch = self._require_batch(line, "cycle count") if line.sku.batch_managed else NO_BATCH
        key = PositionKey(ev.location, ev.sku, batch)
        book = self._book_at(key, txn.get(key).on_hand, ev.occurred_at)
        record = CountRecord(ev.event_id, ev.count_id, ev.occurred_at, key, line.qty, book)
        txn.on_commit.append(lambda: self._counts.__setitem__(key, record))

    def _stock_adjustment(self, txn: _Txn, ev: StockAdjustment) -> None:
        self._check_location(ev.location)
        line = self._resolve(
            ev.sku,
            abs(ev.qty),
            ev.unit,
            ev.gtin,
            ev.batch,
            reference=ev.reason.value,
            counterparty=ev.count_id or "",
        )
        counted = ev.reason is AdjustmentReason.COUNT_VARIANCE
        serials: tuple[str, ...] = ()
        if line.sku.serial_managed or ev.serials is not None:
            serials = self._listed_serials(txn, line, ev.serials, optional=counted)
        if ev.qty < 0:
            # a counted shortfall is a fact about goods already gone: booked, flagged if negative
            if serials:
                self._serials_leave(txn, ev.sku, serials, ev.location, sold=False, refusable=not counted)
            self._outflow(txn, ev.location, line, f"{ev.reason.value} adjustment", refusable=not counted)
        else:
            batch = self._require_batch(line, "positive adjustment") if line.sku.batch_managed else NO_BATCH
            if serials:
                self._serials_arrive(txn, ev.sku, serials, ev.location)
            self._inflow(txn, ev.location, line, batch)

    def _stock_correction(self, txn: _Txn, ev: StockCorrection) -> None:
        self._check_location(ev.location)
        sku = self.catalog.skus.get(ev.sku)
        if sku is None:
            raise StockRejected("unknown_sku", f"SKU {ev.sku!r} is not in master data")
        batch = ev.batch or NO_BATCH
        line = _Line(sku=sku, qty=abs(ev.on_hand), batch=batch, reference=ev.run_id)
        txn.change(
            PositionKey(ev.location, ev.sku, batch),
            line,
            on_hand=ev.on_hand,
            reserved=ev.reserved,
            quarantined=ev.quarantined,
            in_transit=ev.in_transit,
        )

    def _conflict_decided(self, txn: _Txn, ev: ConflictDecided) -> None:
        """A decision on a conflict: its on-hand change at exactly the conflict's position."""
        self._check_location(ev.location)
        sku = self.catalog.skus.get(ev.sku)
        if sku is None:
            raise StockRejected("unknown_sku", f"SKU {ev.sku!r} is not in master data")
        if not ev.on_hand:
            return
        key = PositionKey(ev.location, ev.sku, ev.batch or NO_BATCH)
        line = _Line(
            sku=sku,
            qty=abs(ev.on_hand),
            batch=key.batch,
            reference=ev.conflict_id,
            counterparty=ev.decision.value,
        )
        txn.change(key, line, negative=txn.get(key).on_hand + ev.on_hand < 0, on_hand=ev.on_hand)

    def _pallet_inspected(self, txn: _Txn, ev: PalletInspected) -> None:
        """A verdict other than accept quarantines the batch (now, or when it is received)."""
        self._check_location(ev.location)
        if ev.supplier not in self.catalog.suppliers:
            raise StockRejected("unknown_supplier", f"supplier {ev.supplier!r} is not in master data")
        sku = self.catalog.skus.get(ev.sku)
        if sku is None:
            raise StockRejected("unknown_sku", f"SKU {ev.sku!r} is not in master data")
        if ev.verdict is InspectionVerdict.ACCEPT:
            return
        if sku.batch_managed and ev.batch is None:
            raise StockRejected(
                "missing_batch", f"{sku.sku} is batch-managed: an inspection must name the batch"
            )
        key = PositionKey(ev.location, sku.sku, ev.batch if sku.batch_managed and ev.batch else NO_BATCH)
        pos = txn.get(key)
        free = pos.on_hand - pos.quarantined
        line = _Line(
            sku=sku, qty=max(free, 0), batch=key.batch, reference=ev.inspection_id, counterparty=ev.supplier
        )
        if free > 0:
            txn.change(key, line, quarantined=free)
        else:
            txn.on_commit.append(lambda: self._hold_on_receipt.add(key))

    def _quality_hold(self, txn: _Txn, ev: QualityHold) -> None:
        self._check_location(ev.location)
        held = self.catalog.skus.get(ev.sku)
        if ev.action is not HoldAction.HOLD and held is not None and (ev.batch or not held.batch_managed):
            # decided: a batch an inspection held before it arrived is no longer awaited
            waiting = PositionKey(
                ev.location, ev.sku, ev.batch if held.batch_managed and ev.batch else NO_BATCH
            )
            txn.on_commit.append(lambda: self._hold_on_receipt.discard(waiting))
        whole_batch = ev.qty is None
        line = self._resolve(ev.sku, ev.qty or Decimal(0), ev.unit, None, ev.batch, reference=ev.action.value)
        wanted = None if whole_batch else line.qty
        batches = [line.batch] if line.batch is not None else txn.batches(ev.location, ev.sku)
        remaining = wanted
        for batch in batches:
            key = PositionKey(ev.location, ev.sku, batch)
            pos = txn.get(key)
            room = pos.on_hand - pos.quarantined if ev.action is HoldAction.HOLD else pos.quarantined
            qty = room if remaining is None else min(room, remaining)
            if qty <= 0:
                continue
            if ev.action is HoldAction.HOLD:
                txn.change(key, line, quarantined=qty)
            elif ev.action is HoldAction.RELEASE:
                txn.change(key, line, quarantined=-qty)
            else:
                txn.change(key, line, quarantined=-qty, on_hand=-qty)
            if remaining is not None:
                remaining -= qty
        if remaining:
            state = "on hand and not yet quarantined" if ev.action is HoldAction.HOLD else "in quarantine"
            raise StockRejected(
                "insufficient_stock",
                f"cannot {ev.action.value} {wanted} of {ev.sku} at {ev.location}: only {wanted - remaining} {state}",
            )


def _unrestricted(txn: _Txn, store: str, code: str) -> int:
    """Unrestricted stock of a SKU at a store as the event leaves it (never below 0)."""
    return max(0, sum(txn.get(PositionKey(store, code, b)).unrestricted for b in txn.batches(store, code)))


def _portions(need: Mapping[str, Any], have: Callable[[str], int]) -> int:
    """Whole portions `have` makes of a dish that takes `need` (exact base units per portion)."""
    counts = [math.floor(have(code) / per) for code, per in need.items() if per > 0]
    return min(counts) if counts else 1_000_000


def _per_base_unit(price: Decimal, qty: Decimal, base_qty: int) -> Decimal:
    """A price per sold unit as a price per base unit (a case price over its pack size)."""
    return (price * qty / base_qty).quantize(UNIT_COST_QUANTUM)


#: Events the admission rules do not apply to: consequences of what was admitted already (the
#: transit leg of an admitted dispatch, a decision on a conflict an admitted event made) and
#: repairs of the live state.
_FOLLOWS_ADMITTED = frozenset({TransitDispatched, StockCorrection, ConflictDecided})
#: Events the system derives from others (what was admitted then decides them).
SYSTEM_EVENTS = _FOLLOWS_ADMITTED
#: Events that name their SKUs on lines (every other event names one, as `sku`, but these).
_TICKETS = frozenset({PosSale, PosReturn})
_NO_SKU = frozenset(
    {
        CreditApproved,
        ChannelQuota,
        GroupMealOrder,
        WorkOrderReleased,
        OperationReported,
        ProductionReceipt,
        WorkOrderClosed,
    }
)

_HANDLERS = {
    GoodsReceipt: Ledger._goods_receipt,
    WorkOrderReleased: Ledger._work_order_released,
    MaterialIssued: Ledger._material_issued,
    OperationReported: Ledger._operation_reported,
    ProductionReceipt: Ledger._production_receipt,
    WorkOrderClosed: Ledger._work_order_closed,
    PurchaseOrder: Ledger._purchase_order,
    ForecastReviewed: Ledger._forecast_reviewed,
    TransferOut: Ledger._transfer_out,
    TransitDispatched: Ledger._transit_dispatched,
    TransferIn: Ledger._transfer_in,
    SalesIssue: Ledger._sales_issue,
    StockReservation: Ledger._stock_reservation,
    CreditApproved: Ledger._credit_approval,
    PosSale: Ledger._pos_sale,
    PosReturn: Ledger._pos_return,
    CycleCount: Ledger._cycle_count,
    StockAdjustment: Ledger._stock_adjustment,
    QualityHold: Ledger._quality_hold,
    PalletInspected: Ledger._pallet_inspected,
    PrepProduced: Ledger._prep_produced,
    ChannelQuota: Ledger._channel_quota,
    GroupMealOrder: Ledger._group_meal_order,
    StockCorrection: Ledger._stock_correction,
    ConflictDecided: Ledger._conflict_decided,
}
