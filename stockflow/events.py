"""Event schemas: one pydantic model per business event, the contract for every producer.

Every event carries ``event_id`` (idempotency key), ``occurred_at`` (timezone-aware),
``source`` (the device or store that produced it), ``source_seq`` (the device's own running
number, used to find gaps) and ``schema_version``. Quantities are given in any unit the SKU
knows (``each``, ``case`` ...); the ledger converts them into base units.

Events travel as JSON on three topics, keyed by location so that every event about one
location lands in one partition:

* ``scans``: warehouse documents: barcode scans (receipts, transfers, picks, counts,
  adjustments, reservations, quality holds), the purchase orders placed for a location and the
  credit approvals of its sales orders,
* ``pos_transactions``: store till sales and returns,
* ``temperature_readings``: cold-chain sensors.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
PositiveQty = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3)]
#: What a cold-chain sensor can plausibly read (ultra-low freezers to hot docks); the same range
#: is the data-quality suite's (a reading outside it is refused, never stored).
CELSIUS_RANGE = (-80.0, 80.0)
#: Whole numbers a device may send: bounded so that every stored copy fits a 64-bit column.
BASE_UNITS_LIMIT = 10**15
Count = Annotated[int, Field(ge=0, le=BASE_UNITS_LIMIT)]
SignedUnits = Annotated[int, Field(ge=-BASE_UNITS_LIMIT, le=BASE_UNITS_LIMIT)]
Money = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=4)]
#: Serial numbers one event may list: one per base unit of a serial-managed SKU.
SERIALS_LIMIT = 10_000
SerialNumbers = Annotated[list[Identifier], Field(max_length=SERIALS_LIMIT)]


def _unset(value: object) -> bool:
    return value is None


def _false(value: object) -> bool:
    return value is False


_SERIALS_HELP = (
    "Serial-managed SKUs only: one distinct serial number per base unit moved (at most "
    f"{SERIALS_LIMIT:,}); leave it out for other SKUs."
)


class Topic(StrEnum):
    """Kafka topics that carry events (snake_case plural nouns, as the lake and dbt sources)."""

    SCANS = "scans"
    POS_TRANSACTIONS = "pos_transactions"
    TEMPERATURE_READINGS = "temperature_readings"
    STOCK_TRANSITS = "stock_transits"


class OutputTopic(StrEnum):
    """Kafka topics the stream writes (and lake tables of the same name)."""

    INVENTORY_CHANGED = "inventory_changed"
    ALERTS = "alerts"
    DEAD_LETTERS = "dead_letters"
    #: Dishes sold out, or back, per store × channel (`stockflow.ledger.MenuChange`).
    MENU_AVAILABILITY = "menu_availability"


class SalesChannel(StrEnum):
    DINE_IN = "dine_in"
    TAKEOUT = "takeout"
    DELIVERY = "delivery"
    RETAIL = "retail"
    #: 团餐: portions pre-ordered for a date (`GroupMealOrder`), served against its reservation.
    GROUP_MEAL = "group_meal"


class AdjustmentReason(StrEnum):
    DAMAGE = "damage"
    SHRINKAGE = "shrinkage"
    EXPIRED = "expired"
    FOUND = "found"
    CORRECTION = "correction"
    #: The difference a cycle count found (counted − book), posted after the count.
    COUNT_VARIANCE = "count_variance"


class HoldAction(StrEnum):
    HOLD = "hold"
    RELEASE = "release"
    SCRAP = "scrap"


class InspectionVerdict(StrEnum):
    ACCEPT = "accept"
    QUARANTINE = "quarantine"  # damage found: held until released or scrapped
    MANUAL_REVIEW = "manual_review"  # the camera is not sure: held until a person decides


class GroupMealAction(StrEnum):
    CONFIRM = "confirm"  # reserve the ingredients (again, for a revised order)
    CANCEL = "cancel"  # release what is reserved; the order is gone
    CLOSE = "close"  # served: release what is left


class ReservationAction(StrEnum):
    RESERVE = "reserve"
    RELEASE = "release"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    event_id: Identifier
    occurred_at: AwareDatetime
    source: Identifier = Field(description="Device, till or system that produced the event.")
    source_seq: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="The source's running number."
    )
    schema_version: Literal[1] = SCHEMA_VERSION

    #: The topic producers send this event on.
    topic: ClassVar[Topic] = Topic.SCANS

    @property
    def location_id(self) -> str:
        """The location whose partition owns this event (events without a `location` field
        name theirs: the store for tills, the source or destination for transfers)."""
        return self.location  # type: ignore[attr-defined]


#: Readings one curve may carry (a logger reading every minute for two weeks).
CURVE_READINGS_LIMIT = 20_000


class CurveReading(BaseModel):
    """One reading of a temperature curve: when, and degrees Celsius."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    celsius: Annotated[float, Field(ge=CELSIUS_RANGE[0], le=CELSIUS_RANGE[1], allow_inf_nan=False)]


class TemperatureCurve(BaseModel):
    """The temperatures goods were kept at on their way (温度曲线): the readings of the data
    logger that travelled with them, or the sensor (a reefer's, a dock's) whose readings over
    `from_at`..`to_at` the stream already has."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    logger: Identifier | None = Field(default=None, description="The data logger that recorded `readings`.")
    readings: Annotated[list[CurveReading], Field(min_length=1, max_length=CURVE_READINGS_LIMIT)] | None = (
        None
    )
    sensor: Identifier | None = Field(default=None, description="A registered sensor whose readings to take.")
    from_at: AwareDatetime | None = None
    to_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _readings_or_a_reference(self) -> TemperatureCurve:
        if (self.readings is None) == (self.sensor is None):
            raise ValueError("a curve has either its readings or a sensor with a span, not both")
        if self.sensor is not None:
            if self.from_at is None or self.to_at is None:
                raise ValueError("a curve taken from a sensor needs from_at and to_at")
            if self.from_at >= self.to_at:
                raise ValueError("a curve's from_at must be before its to_at")
        elif self.from_at is not None or self.to_at is not None:
            raise ValueError("a curve with readings spans them: from_at and to_at are for a sensor")
        return self


_CURVE_HELP = (
    "Cold-chain SKUs: the temperatures on the way. Without one, or with readings outside the "
    "SKU's range beyond its tolerance, the goods are received into quarantine."
)


class _ItemLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    sku: Identifier
    gtin: str | None = Field(default=None, description="Scanned GTIN; checked against the SKU's.")
    qty: PositiveQty
    unit: Identifier = "each"


class GoodsReceipt(_Event):
    """Inbound goods scanned against a purchase order."""

    event_type: Literal["goods_receipt"] = "goods_receipt"
    location: Identifier
    purchase_order: Identifier
    supplier: Identifier
    sku: Identifier
    gtin: str | None = None
    batch: Identifier | None = None
    expiry_date: date | None = None
    qty: PositiveQty
    unit: Identifier = "each"
    unit_cost: Money = Field(description="Cost per `unit` as invoiced, excluding VAT.")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = Field(
        default="CNY",
        description="The invoice's currency: the cost is booked in the books' currency at the rate "
        "valid on the receipt's day (company time zone).",
    )
    serials: SerialNumbers | None = Field(default=None, exclude_if=_unset, description=_SERIALS_HELP)
    temperature_curve: TemperatureCurve | None = Field(
        default=None, exclude_if=_unset, description=_CURVE_HELP
    )

    @property
    def location_id(self) -> str:
        return self.location


class PurchaseOrder(_Event):
    """A purchase order placed with a supplier for delivery to `location`.

    It moves no stock: the goods are on order until a `GoodsReceipt` names the same
    `purchase_order`. Planning counts what is ordered and not yet received as on order, and
    the days from order to receipt as the supplier's observed lead time."""

    event_type: Literal["purchase_order"] = "purchase_order"
    location: Identifier
    purchase_order: Identifier
    supplier: Identifier
    sku: Identifier
    qty: PositiveQty
    unit: Identifier = "each"
    expected_date: date | None = Field(default=None, description="When the supplier should deliver.")
    note: str | None = Field(default=None, max_length=500)

    @property
    def location_id(self) -> str:
        return self.location


class ForecastReviewed(_Event):
    """A person's decision on a demand forecast sent to review: accepted as it is, or
    overridden with a daily quantity for the forecast run's horizon. It moves no stock; it puts
    the decision on record in the stream and the lake, beside the planning store's copy."""

    event_type: Literal["forecast_reviewed"] = "forecast_reviewed"
    location: Identifier
    sku: Identifier
    run_id: Identifier
    decision: Literal["accepted", "overridden"]
    override_daily: Annotated[float, Field(ge=0)] | None = None
    reviewer: str = Field(min_length=1, max_length=200)
    role: str = Field(default="", max_length=50)
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _override_matches_decision(self) -> ForecastReviewed:
        if (self.decision == "overridden") != (self.override_daily is not None):
            raise ValueError("an override (and only an override) has a daily quantity")
        return self

    @property
    def location_id(self) -> str:
        return self.location


class TransferOut(_Event):
    """Goods leave `from_location` for `to_location`; they are in transit until received."""

    event_type: Literal["transfer_out"] = "transfer_out"
    transfer_id: Identifier
    from_location: Identifier
    to_location: Identifier
    sku: Identifier
    gtin: str | None = None
    batch: Identifier | None = None
    qty: PositiveQty
    unit: Identifier = "each"
    serials: SerialNumbers | None = Field(default=None, exclude_if=_unset, description=_SERIALS_HELP)

    @model_validator(mode="after")
    def _different_locations(self) -> TransferOut:
        if self.from_location == self.to_location:
            raise ValueError("from_location and to_location must differ")
        return self

    @property
    def location_id(self) -> str:
        return self.from_location


class TransferIn(_Event):
    """Goods of a transfer arrive at `to_location`."""

    event_type: Literal["transfer_in"] = "transfer_in"
    transfer_id: Identifier
    from_location: Identifier
    to_location: Identifier
    sku: Identifier
    gtin: str | None = None
    batch: Identifier | None = None
    qty: PositiveQty
    unit: Identifier = "each"
    serials: SerialNumbers | None = Field(default=None, exclude_if=_unset, description=_SERIALS_HELP)
    temperature_curve: TemperatureCurve | None = Field(
        default=None, exclude_if=_unset, description=_CURVE_HELP
    )

    @property
    def location_id(self) -> str:
        return self.to_location


class TransitDispatched(_Event):
    """Derived by the stream: the in-transit leg of a transfer, booked at the destination.

    Producers never send it; the worker that applies a `TransferOut` at the source location
    forwards it to the destination's partition (``stock_transits`` topic).
    """

    event_type: Literal["transit_dispatched"] = "transit_dispatched"
    topic: ClassVar[Topic] = Topic.STOCK_TRANSITS
    transfer_id: Identifier
    from_location: Identifier
    to_location: Identifier
    sku: Identifier
    batch: str = ""
    expiry_date: date | None = None
    qty_base: int = Field(gt=0, le=BASE_UNITS_LIMIT)
    serials: SerialNumbers | None = Field(
        default=None, exclude_if=_unset, description="The serial numbers this leg moves."
    )

    @property
    def location_id(self) -> str:
        return self.to_location


class SalesIssue(_Event):
    """Goods picked and issued for a sales order (consumes that order's reservation)."""

    event_type: Literal["sales_issue"] = "sales_issue"
    location: Identifier
    sales_order: Identifier
    customer: Identifier
    sku: Identifier
    gtin: str | None = None
    batch: Identifier | None = None
    qty: PositiveQty
    unit: Identifier = "each"
    serials: SerialNumbers | None = Field(default=None, exclude_if=_unset, description=_SERIALS_HELP)

    @property
    def location_id(self) -> str:
        return self.location


class StockReservation(_Event):
    """Reserve (or release) stock for a sales order."""

    event_type: Literal["stock_reservation"] = "stock_reservation"
    location: Identifier
    sales_order: Identifier
    customer: Identifier | None = Field(
        default=None,
        exclude_if=_unset,
        description="The customer the sales order is for: a reservation for a customer with a credit "
        "limit is checked against it. Named once, it stays the order's customer.",
    )
    action: ReservationAction = ReservationAction.RESERVE
    sku: Identifier
    qty: PositiveQty
    unit: Identifier = "each"

    @property
    def location_id(self) -> str:
        return self.location


class CreditApproved(_Event):
    """A person's approval of a sales order above its customer's credit limit.

    For a customer whose over-limit setting is ``approval``, a reservation or issue that takes it
    over its limit is held (``credit_hold``) rather than decided: once this event adds `amount`
    above the limit for the order, the held event sent again with the same id passes when it fits.
    Approvals of one order add up. It moves no stock; `location` is where the order's stock is
    reserved and issued (the partition that checks it)."""

    event_type: Literal["credit_approved"] = "credit_approved"
    location: Identifier
    customer: Identifier
    sales_order: Identifier
    amount: Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2)] = Field(
        description="Approved above the credit limit for this order, VAT included."
    )
    approved_by: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)

    @property
    def location_id(self) -> str:
        return self.location


class PosLine(_ItemLine):
    unit_price: Money
    batch: Identifier | None = None
    serials: SerialNumbers | None = Field(default=None, exclude_if=_unset, description=_SERIALS_HELP)


class PosSale(_Event):
    """A till ticket at a store."""

    event_type: Literal["pos_sale"] = "pos_sale"
    topic: ClassVar[Topic] = Topic.POS_TRANSACTIONS
    store: Identifier
    ticket: Identifier
    channel: SalesChannel
    customer: Identifier | None = None
    lines: list[PosLine] = Field(min_length=1, max_length=200)
    order: Identifier | None = Field(
        default=None,
        exclude_if=_unset,
        description="The group-meal order (`GroupMealOrder`) this ticket serves: its dishes take the "
        "ingredients the order reserved first.",
    )

    @property
    def location_id(self) -> str:
        return self.store


class PosReturn(_Event):
    """Goods brought back to a store's till, or a dish refunded.

    Goods go back into stock. A dish made to a recipe is refunded; its ingredients come back
    only when the ticket says the dish was untouched (`restock_ingredients`), else they stay
    consumed (the cooked dish is waste)."""

    event_type: Literal["pos_return"] = "pos_return"
    topic: ClassVar[Topic] = Topic.POS_TRANSACTIONS
    store: Identifier
    ticket: Identifier
    original_ticket: Identifier | None = None
    channel: SalesChannel
    lines: list[PosLine] = Field(min_length=1, max_length=200)
    restock_ingredients: bool = Field(
        default=False,
        exclude_if=_false,
        description="Dishes only: the dish came back untouched, its ingredients go back into stock.",
    )

    @property
    def location_id(self) -> str:
        return self.store


class ChannelQuota(_Event):
    """Keep a dish's ingredients for `portions` portions for one sales channel at a store
    (堂食/外卖/团餐分流: e.g. 40 delivery portions for the evening peak).

    The ingredients are reserved (first-expired-first-out, as far as stock allows); that
    channel's sales of the dish take them first, and once they cannot make one more portion the
    dish is sold out for that channel (the other channels sell from stock nobody keeps). A
    receipt, transfer, prep or positive adjustment of one of its ingredients at the store tops
    the quota up again, and so does setting it anew; 0 portions ends it."""

    event_type: Literal["channel_quota"] = "channel_quota"
    location: Identifier
    channel: SalesChannel
    dish: Identifier
    portions: Annotated[int, Field(ge=0, le=1_000_000)]

    @property
    def location_id(self) -> str:
        return self.location


class GroupMealLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    dish: Identifier
    portions: Annotated[int, Field(gt=0, le=1_000_000)]


class GroupMealOrder(_Event):
    """团餐: portions of dishes pre-ordered for a day at a store.

    Confirmed, it reserves the ingredients of its dishes (the recipes in effect at the store on
    `serve_date`) as far as stock allows; the till sale that serves it (channel group_meal,
    naming the order) takes them first. Confirmed again, the revised order replaces the
    reservation; cancelled, or closed once served, it releases what is left."""

    event_type: Literal["group_meal_order"] = "group_meal_order"
    location: Identifier
    order: Identifier
    customer: Identifier | None = None
    serve_date: date
    action: GroupMealAction = GroupMealAction.CONFIRM
    lines: list[GroupMealLine] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _confirmed_orders_have_lines(self) -> GroupMealOrder:
        if self.action is GroupMealAction.CONFIRM and not self.lines:
            raise ValueError("a confirmed group meal orders at least one dish")
        return self

    @property
    def location_id(self) -> str:
        return self.location


class CycleCount(_Event):
    """A physical count of one location × SKU × batch.

    A count is a record: it moves no stock. The ledger remembers it with the book quantity
    at that moment; the difference (counted − book) is booked by a `StockAdjustment` with
    reason ``count_variance`` whose id derives from the count's (see
    `stockflow.reconciliation.variance_adjustment`), posted by the counter or, failing that,
    by the reconciliation."""

    event_type: Literal["cycle_count"] = "cycle_count"
    location: Identifier
    count_id: Identifier
    sku: Identifier
    gtin: str | None = None
    batch: Identifier | None = None
    counted_qty: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=3)]
    unit: Identifier = "each"

    @property
    def location_id(self) -> str:
        return self.location


class StockAdjustment(_Event):
    """A booked change of on-hand stock with a reason (positive or negative)."""

    event_type: Literal["stock_adjustment"] = "stock_adjustment"
    location: Identifier
    sku: Identifier
    gtin: str | None = None
    batch: Identifier | None = None
    qty: Annotated[Decimal, Field(max_digits=14, decimal_places=3)]
    unit: Identifier = "each"
    reason: AdjustmentReason
    note: str | None = Field(default=None, max_length=500)
    count_id: Identifier | None = Field(
        default=None, description="For a count variance: the count whose difference this books."
    )
    serials: SerialNumbers | None = Field(default=None, exclude_if=_unset, description=_SERIALS_HELP)

    @field_validator("qty")
    @classmethod
    def _not_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("an adjustment of zero changes nothing")
        return value

    @property
    def location_id(self) -> str:
        return self.location


class QualityHold(_Event):
    """Put stock into quarantine, release it, or scrap it from quarantine."""

    event_type: Literal["quality_hold"] = "quality_hold"
    location: Identifier
    sku: Identifier
    batch: Identifier | None = None
    action: HoldAction
    qty: PositiveQty | None = Field(default=None, description="None: the whole batch.")
    unit: Identifier = "each"
    reason: str = Field(default="", max_length=500)

    @property
    def location_id(self) -> str:
        return self.location


class PalletInspected(_Event):
    """An inbound pallet inspected by a dock camera: what it saw and its verdict.

    A verdict other than ``accept`` puts the received batch into quarantine, also when the
    inspection is applied before the receipt it belongs to (the receipt then goes straight into
    quarantine); a `QualityHold` release or scrap ends it."""

    event_type: Literal["pallet_inspected"] = "pallet_inspected"
    location: Identifier
    inspection_id: Identifier
    supplier: Identifier
    purchase_order: Identifier | None = None
    sku: Identifier
    batch: Identifier | None = None
    pallet_found: bool = True
    cartons: Count
    layers: Count
    damaged_cartons: Count
    mixed_goods: bool = False
    confidence: float = Field(
        ge=0, le=1, allow_inf_nan=False, description="The detector's confidence in its verdict."
    )
    verdict: InspectionVerdict
    model: str = Field(default="", max_length=200, description="The model (file and hash) that inspected it.")
    image: str | None = Field(default=None, max_length=500, description="Where the annotated photo is kept.")

    @model_validator(mode="after")
    def _consistent(self) -> PalletInspected:
        if self.damaged_cartons > self.cartons:
            raise ValueError("more damaged cartons than cartons")
        if self.damaged_cartons and self.verdict is InspectionVerdict.ACCEPT:
            raise ValueError("a pallet with damaged cartons cannot be accepted as is")
        return self

    @property
    def location_id(self) -> str:
        return self.location


class PrepProduced(_Event):
    """A semi-finished item made in store from its recipe (a sauce, dough, brewed tea): the
    recipe's ingredients are taken first-expired-first-out, and the item comes into stock as
    its own batch, expiring `expiry_date` or, without one, its shelf life after the day it was
    made."""

    event_type: Literal["prep_produced"] = "prep_produced"
    location: Identifier
    prep_id: Identifier
    sku: Identifier
    qty: PositiveQty
    unit: Identifier = "each"
    batch: Identifier | None = None
    expiry_date: date | None = None

    @property
    def location_id(self) -> str:
        return self.location


class WorkOrderReleased(_Event):
    """A work order (生产工单) released at a plant: make `qty` of `product` by `due_date`, to
    the BOM in effect on the day it is released. `backflush`: its materials are issued when
    its goods are received (倒冲), not one by one. `subcontractor`: made by a subcontractor
    (委外): the location its materials are sent to, which then are the order's, not stock."""

    event_type: Literal["work_order_released"] = "work_order_released"
    location: Identifier
    work_order: Identifier
    product: Identifier
    qty: PositiveQty
    unit: Identifier = "each"
    due_date: date
    backflush: bool = Field(default=False, exclude_if=_false)
    subcontractor: Identifier | None = Field(default=None, exclude_if=_unset)

    @property
    def location_id(self) -> str:
        return self.location


class MaterialIssued(_Event):
    """Material issued to a work order (领料), or sent to its subcontractor (委外发料): its own
    BOM material or a substitute valid on the order's BOM day, at most what the order needs
    (scrap included). `returned`: unused material coming back to stock (退料)."""

    event_type: Literal["material_issued"] = "material_issued"
    location: Identifier
    work_order: Identifier
    sku: Identifier
    gtin: str | None = None
    batch: Identifier | None = None
    qty: PositiveQty
    unit: Identifier = "each"
    returned: bool = Field(default=False, exclude_if=_false)

    @property
    def location_id(self) -> str:
        return self.location


class OperationReported(_Event):
    """An operation of a work order's routing reported (报工): the good and scrapped units
    that went through it and the hours it took (their labour and overhead, at the routing's
    rates per hour, become the order's cost)."""

    event_type: Literal["operation_reported"] = "operation_reported"
    location: Identifier
    work_order: Identifier
    operation: Identifier
    good_qty: Count = 0
    scrap_qty: Count = 0
    hours: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)] = Decimal(0)

    @property
    def location_id(self) -> str:
        return self.location


class ProductionReceipt(_Event):
    """Finished goods of a work order received into stock (完工入库) as their batch, at the
    order's actual cost; a subcontracted order's come back with the subcontractor's fee
    (`service_fee`, excluding VAT). A backflushed order's materials are issued now."""

    event_type: Literal["production_receipt"] = "production_receipt"
    location: Identifier
    work_order: Identifier
    qty: PositiveQty
    unit: Identifier = "each"
    batch: Identifier | None = None
    expiry_date: date | None = None
    service_fee: Money = Field(default=Decimal(0), exclude_if=lambda v: v == 0)

    @property
    def location_id(self) -> str:
        return self.location


class WorkOrderClosed(_Event):
    """A work order closed (关闭): nothing more is issued or received; what its cost still
    holds is booked as the production variance."""

    event_type: Literal["work_order_closed"] = "work_order_closed"
    location: Identifier
    work_order: Identifier

    @property
    def location_id(self) -> str:
        return self.location


class StockCorrection(_Event):
    """A repair of the live stock state where it drifted from the ledger (the lake replayed).

    Nothing physical happened: the state had applied an event the ledger does not hold (a
    duplicate that slipped past the guard), or missed one it does. The correction moves the
    state's position by the difference; a replay of the lake skips it, because the ledger never
    had the drift. It is not valued and never booked."""

    event_type: Literal["stock_correction"] = "stock_correction"
    location: Identifier
    sku: Identifier
    batch: Identifier | None = None
    on_hand: SignedUnits = 0
    reserved: SignedUnits = 0
    quarantined: SignedUnits = 0
    in_transit: SignedUnits = 0
    run_id: Identifier = Field(description="The reconciliation run that found the drift.")
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _changes_something(self) -> StockCorrection:
        if not (self.on_hand or self.reserved or self.quarantined or self.in_transit):
            raise ValueError("a correction of zero changes nothing")
        return self

    @property
    def location_id(self) -> str:
        return self.location


class ConflictDecision(StrEnum):
    """What a person decided about a conflict between an edge event and the central books."""

    ACCEPT = "accept"  # keep what was booked
    ADJUST = "adjust"  # book a given on-hand change
    REVERSE = "reverse"  # undo the event's on-hand change at the conflict's position


class ConflictDecided(_Event):
    """A person's decision on a conflict (`stockflow.conflicts`): a late event from an edge agent
    collided with what happened centrally meanwhile. It books `on_hand` (signed base units, 0 for
    accept) at the conflict's position, never refused for lack of stock; its id derives from the
    conflict's (`decision_event_id`), so deciding twice is a duplicate."""

    event_type: Literal["conflict_decided"] = "conflict_decided"
    conflict_id: Identifier
    location: Identifier
    sku: Identifier
    batch: Identifier | None = None
    decision: ConflictDecision
    on_hand: SignedUnits = 0
    decided_by: str = Field(min_length=1, max_length=200)
    role: str = Field(default="", max_length=50)
    note: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _change_matches_decision(self) -> ConflictDecided:
        if self.decision is ConflictDecision.ACCEPT and self.on_hand:
            raise ValueError("accepting keeps what was booked: on_hand must be 0")
        if self.decision is ConflictDecision.ADJUST and not self.on_hand:
            raise ValueError("an adjustment of zero changes nothing")
        return self

    @property
    def location_id(self) -> str:
        return self.location


def decision_event_id(conflict_id: str) -> str:
    """The id of the decision on a conflict: one decision per conflict (a second is a duplicate)."""
    return f"decided-{conflict_id}"


class TemperatureReading(_Event):
    """A cold-chain sensor reading."""

    event_type: Literal["temperature_reading"] = "temperature_reading"
    topic: ClassVar[Topic] = Topic.TEMPERATURE_READINGS
    sensor: Identifier
    location: Identifier
    celsius: Annotated[float, Field(ge=CELSIUS_RANGE[0], le=CELSIUS_RANGE[1], allow_inf_nan=False)]

    @property
    def location_id(self) -> str:
        return self.location


# ---------------------------------------------------------------------------- services
# The no-stock edition (进销存(无库存版), `stockflow.service_orders`): a service business's
# orders, what it delivered against them and what it used up, keyed by customer.


class ServiceTopic(StrEnum):
    """The topic of the no-stock edition's events (and its lake tables' prefix)."""

    SERVICE_EVENTS = "service_events"


class _ServiceEvent(_Event):
    topic: ClassVar[ServiceTopic] = ServiceTopic.SERVICE_EVENTS  # type: ignore[assignment]
    customer: Identifier

    @property
    def location_id(self) -> str:
        """Service events are partitioned by customer (one customer's orders in one partition)."""
        return self.customer


class ServiceOrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    item: Identifier = Field(description="The service item's code.")
    qty: PositiveQty = Field(description="Hours, sessions or visits ordered (the item's unit).")
    unit_price: Money | None = Field(
        default=None, description="The agreed price per unit, excluding VAT; unset: the item's price."
    )


class ServiceOrderPlaced(_ServiceEvent):
    """A customer's service order (服务订单): service items, how many units of each, at what price."""

    event_type: Literal["service_order_placed"] = "service_order_placed"
    service_order: Identifier
    lines: Annotated[list[ServiceOrderLine], Field(min_length=1, max_length=200)]
    note: str | None = Field(default=None, max_length=500)


class ServiceDelivered(_ServiceEvent):
    """Units of one order line delivered (服务履约): hours worked, sessions held, visits made.
    More than the line has left is refused unless `beyond_order` says it was agreed."""

    event_type: Literal["service_delivered"] = "service_delivered"
    service_order: Identifier
    line: Annotated[int, Field(ge=1, le=200, description="The order line, counted from 1.")]
    qty: PositiveQty
    beyond_order: bool = Field(
        default=False, description="Delivered beyond the order, agreed with the customer."
    )
    delivered_by: Identifier | None = Field(default=None, description="Who delivered it.")
    note: str | None = Field(default=None, max_length=500)


class ConsumptionRecorded(_ServiceEvent):
    """Materials or consumables used up while serving a customer (耗用记录), at their cost; no
    stock is kept of them."""

    event_type: Literal["consumption_recorded"] = "consumption_recorded"
    service_order: Identifier | None = None
    material: Annotated[str, Field(min_length=1, max_length=200)]
    qty: PositiveQty
    unit: Identifier = "each"
    cost: Money = Field(description="What the materials used cost, excluding VAT.")


#: The no-stock edition's event models by their ``event_type``.
SERVICE_EVENT_MODELS: dict[str, type[_ServiceEvent]] = {
    model.model_fields["event_type"].default: model
    for model in (ServiceOrderPlaced, ServiceDelivered, ConsumptionRecorded)
}
ServiceEvent = Annotated[
    ServiceOrderPlaced | ServiceDelivered | ConsumptionRecorded, Field(discriminator="event_type")
]
_SERVICE_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ServiceEvent)


def parse_service_event(raw: bytes | str | dict[str, Any]) -> Any:
    """Decode and validate one message of the service topic, or raise `EventRejected`."""
    data = json_object(raw)
    event_type = data.get("event_type")
    if event_type not in SERVICE_EVENT_MODELS:
        raise EventRejected(
            "wrong_topic",
            f"event_type {event_type!r} is not accepted on topic {ServiceTopic.SERVICE_EVENTS.value!r}; "
            f"expected one of {sorted(SERVICE_EVENT_MODELS)}",
        )
    try:
        return _SERVICE_EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EventRejected("schema_violation", validation_problems(exc, "<event>")) from exc


StockEvent = (
    GoodsReceipt
    | PurchaseOrder
    | ForecastReviewed
    | TransferOut
    | TransferIn
    | TransitDispatched
    | SalesIssue
    | StockReservation
    | CreditApproved
    | ChannelQuota
    | GroupMealOrder
    | PosSale
    | PosReturn
    | CycleCount
    | StockAdjustment
    | QualityHold
    | PalletInspected
    | PrepProduced
    | WorkOrderReleased
    | MaterialIssued
    | OperationReported
    | ProductionReceipt
    | WorkOrderClosed
    | StockCorrection
    | ConflictDecided
)
Event = Annotated[StockEvent | TemperatureReading, Field(discriminator="event_type")]

#: Every event model by its ``event_type``.
EVENT_MODELS: dict[str, type[_Event]] = {
    model.model_fields["event_type"].default: model for model in (*get_args(StockEvent), TemperatureReading)
}

#: Event types a producer may send on each topic.
TOPIC_EVENT_TYPES: dict[Topic, frozenset[str]] = {
    topic: frozenset(name for name, model in EVENT_MODELS.items() if model.topic is topic) for topic in Topic
}

_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


class EventRejected(ValueError):
    """An incoming message that cannot be accepted; `reason` is a stable code for dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def json_object(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """A message's JSON object, or `EventRejected` ``malformed_json`` (bad JSON, too deep, not an
    object)."""
    if isinstance(raw, bytes | str):
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventRejected("malformed_json", str(exc)) from exc
        except RecursionError:
            raise EventRejected("malformed_json", "JSON nested too deeply") from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise EventRejected("malformed_json", "the message is not a JSON object")
    return data


def validation_problems(exc: ValidationError, whole: str) -> str:
    """A validation error's problems in one line: ``field.path: message; ...``."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}" for err in exc.errors())


def parse_event(raw: bytes | str | dict[str, Any], topic: Topic | str | None = None) -> Any:
    """Decode and validate one message into its event model, or raise `EventRejected`."""
    data = json_object(raw)
    if not isinstance(data.get("event_type", ""), str):
        raise EventRejected("schema_violation", "event_type: not a string")
    if topic is not None:
        event_type = data.get("event_type")
        allowed = TOPIC_EVENT_TYPES[Topic(topic)]
        if event_type not in allowed:
            raise EventRejected(
                "wrong_topic",
                f"event_type {event_type!r} is not accepted on topic {Topic(topic).value!r}; "
                f"expected one of {sorted(allowed)}",
            )
    try:
        return _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EventRejected("schema_violation", validation_problems(exc, "<event>")) from exc


class ConflictingDuplicate(EventRejected):
    """An event id already decided, sent again with a different content: a device that reuses
    ids. Neither copy is lost: the first stays booked, this one goes to the dead letters."""

    def __init__(self, event_id: str) -> None:
        super().__init__(
            "conflicting_duplicate",
            f"event id {event_id!r} was already taken with a different content; "
            "a retry must send the same event, a new event needs a new id",
        )


def check_event_time(event: _Event, now: datetime, earliest: datetime, max_ahead: timedelta) -> None:
    """Refuse an event that claims to happen before `earliest` or later than `now + max_ahead`
    (a device clock that is wrong, or a value meant to break what stores it). Applied where an
    event enters the stream, never when the record is replayed."""
    at = event.occurred_at
    if at < earliest:
        raise EventRejected(
            "implausible_time", f"occurred_at {at.isoformat()} is before {earliest.isoformat()}"
        )
    if at > now + max_ahead:
        raise EventRejected(
            "implausible_time",
            f"occurred_at {at.isoformat()} is more than {max_ahead} ahead of now ({now.isoformat()})",
        )


#: Fields a retry may change: many devices stamp the time, and number, when they send, so a
#: resend carries new ones; what the event says happened (where, what, how much, at what price)
#: may not change.
_RESEND_FIELDS = frozenset({"occurred_at", "source_seq"})


def fingerprint(event: _Event) -> int:
    """A stable 62-bit digest of an event's content (canonical JSON without the fields a resend
    may change): a true repeat has the same one, an id reused for something else a different
    one. Never 0 (0 means unknown)."""
    body = event.model_dump_json(exclude=_RESEND_FIELDS).encode()
    digest = hashlib.blake2b(body, digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 2) or 1


def encode_event(event: _Event) -> bytes:
    """Canonical JSON bytes for an event (the wire format)."""
    return event.model_dump_json(exclude_none=True).encode()


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema per event type, as published in ``schemas/``."""
    models = {**EVENT_MODELS, **SERVICE_EVENT_MODELS}
    return {name: model.model_json_schema(mode="validation") for name, model in sorted(models.items())}
