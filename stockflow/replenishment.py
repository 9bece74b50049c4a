"""Replenishment (动态补货): safety stock, reorder point, order and transfer suggestions.

Quantities are in base units; a day is the unit of time. The definitions, per location × SKU:

* daily demand `d`: the forecast's mean over the `FORECAST_DAYS` days from tomorrow where
  there is one (`forecast_window`), else the mean of the last `DEMAND_DAYS` days
  (`demand_window`), else a prior (the category's typical demand, for a new SKU), else 0;
  demand is everything that leaves the location's stock for use: sales and issues, what
  recipes take (the ingredients of the dishes sold, and of the semi-finished items made), and
  transfers to other locations (a warehouse's stores take from it). For an ingredient the
  forecast is its own forecast plus the dishes' forecasts exploded through their recipes
  (`stockflow.recipes.planned_demand`); a dish itself is never kept and never planned;
* demand volatility `σd`: the standard deviation of the last `VOLATILITY_DAYS` days of demand
  (with fewer than two days of history: `σd = d`, a coefficient of variation of 1);
* lead time `L` and its spread `σL`: from the supplier's observed receipts (days from order to
  receipt, orders of the last `LEAD_TIME_DAYS_OBSERVED` days: `observed_lead_times`); with fewer
  than two: the supplier's quoted lead time and `σL = LEAD_TIME_CV · L`;
* holiday coefficient `h ≥ 1` scales demand and its volatility in a holiday period;
* safety stock `SS = z(service level) · sqrt(L · (h·σd)² + (h·d)² · σL²)`;
* reorder point `ROP = h·d · L + SS`, never below the master data's reorder point (a floor that
  gives a new SKU a sensible policy before it has any history);
* inventory position `IP = on hand − reserved + in transit + on order`, where on hand leaves
  out quarantined units (`usable_stock`) and on order is the open units of purchase order lines
  plus approved orders that have not reached the warehouse yet (`on_order`);
* when `IP ≤ ROP`, order up to `S = ROP + h·d · review_days`: `S − IP`, rounded up to whole
  supplier packs and to at least the supplier's minimum order quantity (MOQ);
* order-by date: the day `IP`, falling by `h·d` a day, reaches `ROP` (today if it already has).

Transfers: a location whose position is below its reorder point (it runs short before an order
placed now could arrive) gets stock from locations within `radius_km` that have stock above their
own reorder point, nearest first, oldest expiry first (FEFO), never a batch that expires before
it could be sold at the receiving location.

Suggestions are records with a status: ``proposed`` by a planning run, then ``approved`` or
``rejected`` by a person (who and why are kept), or ``expired`` when a later run replaces them
or their order-by date has passed. Approving one yields the event that carries it out: a
`PurchaseOrder` to the SKU's supplier, or a `TransferOut` from the donor (the stream then books
the goods in transit at the receiver).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from stockflow.decisions import AlreadyDecided
from stockflow.events import PurchaseOrder, TransferOut
from stockflow.i18n import Explained
from stockflow.ledger import lifecycle_takes
from stockflow.masterdata import Catalog, Location, SkuKind

DEMAND_DAYS = 28
VOLATILITY_DAYS = 7
LEAD_TIME_CV = 0.25
DEFAULT_SERVICE_LEVEL = 0.95
DEFAULT_REVIEW_DAYS = 7
DEFAULT_RADIUS_KM = 50.0
#: Lead times are observed on the orders placed in the last 90 days.
LEAD_TIME_DAYS_OBSERVED = 90
#: Daily demand is the forecast's mean over the next two weeks (a lead time and a review period).
FORECAST_DAYS = 14
#: Demand on public holidays relative to an ordinary day (元旦, 劳动节, 国庆, 平安夜): the
#: holiday coefficient of a planning window is the largest of the days it covers.
HOLIDAY_DEMAND: dict[tuple[int, int], float] = {
    (1, 1): 1.6, (5, 1): 1.5, (5, 2): 1.4, (10, 1): 1.7, (10, 2): 1.6, (10, 3): 1.5, (12, 24): 1.3,
}  # fmt: skip


class DemandSource(StrEnum):
    FORECAST = "forecast"
    HISTORY = "history"
    PRIOR = "prior"
    NONE = "none"


@dataclass(frozen=True)
class DemandEstimate:
    """Expected daily demand and its daily standard deviation, in base units."""

    mean: float
    std: float
    source: DemandSource

    @classmethod
    def from_history(
        cls,
        daily_demand: Sequence[float],
        forecast_mean: float | None = None,
        prior_mean: float | None = None,
    ) -> DemandEstimate:
        """`daily_demand`: one value per day, oldest first, days without sales as 0."""
        recent = [max(0.0, float(v)) for v in daily_demand[-DEMAND_DAYS:]]
        if forecast_mean is not None:
            mean, source = max(0.0, float(forecast_mean)), DemandSource.FORECAST
        elif recent:
            mean, source = statistics.fmean(recent), DemandSource.HISTORY
        elif prior_mean is not None:
            mean, source = max(0.0, float(prior_mean)), DemandSource.PRIOR
        else:
            mean, source = 0.0, DemandSource.NONE
        window = recent[-VOLATILITY_DAYS:]
        std = statistics.stdev(window) if len(window) >= 2 else mean
        return cls(mean, std, source)


@dataclass(frozen=True)
class LeadTime:
    """Days from order to receipt: mean and standard deviation."""

    mean: float
    std: float
    observed: int

    @classmethod
    def from_receipts(cls, observed_days: Sequence[float], quoted_days: float) -> LeadTime:
        days = [float(d) for d in observed_days if d >= 0]
        if len(days) >= 2:
            return cls(statistics.fmean(days), statistics.stdev(days), len(days))
        mean = days[0] if days else float(quoted_days)
        return cls(mean, LEAD_TIME_CV * mean, len(days))


def service_factor(service_level: float) -> float:
    """z: the standard normal quantile of the cycle service level (0.5 < level < 1)."""
    if not 0.5 <= service_level < 1:
        raise ValueError(f"service level {service_level} must be in [0.5, 1)")
    return statistics.NormalDist().inv_cdf(service_level)


def safety_stock(
    demand: DemandEstimate,
    lead_time: LeadTime,
    service_level: float = DEFAULT_SERVICE_LEVEL,
    holiday_coefficient: float = 1.0,
) -> float:
    """z · sqrt(L·σd² + d²·σL²), with demand and its volatility scaled by the holiday coefficient."""
    if holiday_coefficient < 1:
        raise ValueError(f"holiday coefficient {holiday_coefficient} must be at least 1")
    d = holiday_coefficient * demand.mean
    sd = holiday_coefficient * demand.std
    return service_factor(service_level) * math.sqrt(lead_time.mean * sd**2 + d**2 * lead_time.std**2)


@dataclass(frozen=True)
class Policy:
    """The replenishment policy of one location × SKU."""

    daily_demand: float
    safety_stock: float
    reorder_point: int
    order_up_to: int
    lead_time_days: float

    @classmethod
    def compute(
        cls,
        demand: DemandEstimate,
        lead_time: LeadTime,
        service_level: float = DEFAULT_SERVICE_LEVEL,
        holiday_coefficient: float = 1.0,
        review_days: int = DEFAULT_REVIEW_DAYS,
        minimum_reorder_point: int = 0,
    ) -> Policy:
        d = holiday_coefficient * demand.mean
        ss = safety_stock(demand, lead_time, service_level, holiday_coefficient)
        rop = max(math.ceil(d * lead_time.mean + ss - 1e-9), minimum_reorder_point)
        return cls(d, ss, rop, rop + math.ceil(d * review_days - 1e-9), lead_time.mean)


@dataclass(frozen=True)
class StockPosition:
    """Stock of one SKU at one location, in base units."""

    on_hand: int
    reserved: int = 0
    in_transit: int = 0
    on_order: int = 0

    @property
    def inventory_position(self) -> int:
        return self.on_hand - self.reserved + self.in_transit + self.on_order


@dataclass(frozen=True)
class BatchCount:
    """One batch of a SKU at a location as the stock ledger counts it, in base units."""

    batch: str
    on_hand: int
    quarantined: int = 0
    reserved: int = 0
    expiry: date | None = None

    @property
    def usable(self) -> int:
        """What the batch can give: on hand less quarantined and reserved units."""
        return self.on_hand - self.quarantined - self.reserved


@dataclass(frozen=True)
class StockCount:
    """One SKU at one location as the stock ledger counts it, in base units."""

    on_hand: int
    quarantined: int = 0
    reserved: int = 0
    in_transit: int = 0
    batches: tuple[BatchCount, ...] = ()


def usable_stock(count: StockCount, on_order: int = 0) -> tuple[StockPosition, tuple[BatchStock, ...]]:
    """The stock planning counts: quarantined units are not on hand for it (reserved ones are
    in the position's reserved), and the batches that can give something, each with what it can
    give."""
    position = StockPosition(count.on_hand - count.quarantined, count.reserved, count.in_transit, on_order)
    batches = tuple(BatchStock(b.batch, b.usable, b.expiry) for b in count.batches if b.usable > 0)
    return position, batches


@dataclass(frozen=True)
class PurchaseOrderLine:
    """One purchase order line as the warehouse has it."""

    purchase_order: str
    location: str
    sku: str
    open_units: int
    supplier: str | None = None
    #: Days from order to first receipt (None until something is received).
    lead_time_days: float | None = None
    order_date: date | None = None


@dataclass(frozen=True)
class ApprovedOrder:
    """A purchase order placed by approving a suggestion."""

    purchase_order: str
    location: str
    sku: str
    quantity: int


def on_order(
    lines: Iterable[PurchaseOrderLine], approved: Iterable[ApprovedOrder] = ()
) -> dict[tuple[str, str], int]:
    """Units ordered and not yet received per location × SKU: the open units of the purchase
    order lines, plus the approved orders whose purchase order is not among the lines yet (once
    it is, its lines count, not the approval)."""
    out: dict[tuple[str, str], int] = {}
    known = set()
    for line in lines:
        known.add(line.purchase_order)
        if line.open_units:
            key = (line.location, line.sku)
            out[key] = out.get(key, 0) + int(line.open_units)
    for order in approved:
        if order.purchase_order not in known:
            key = (order.location, order.sku)
            out[key] = out.get(key, 0) + int(order.quantity)
    return out


def observed_lead_times(
    lines: Iterable[PurchaseOrderLine], today: date, days: int = LEAD_TIME_DAYS_OBSERVED
) -> dict[str, list[float]]:
    """Per supplier, the observed lead times of its orders placed in the `days` days up to
    `today` (orders received at least once)."""
    since = today - timedelta(days=days)
    out: dict[str, list[float]] = {}
    for line in lines:
        if line.supplier is None or line.lead_time_days is None or line.order_date is None:
            continue
        if line.order_date > since:
            out.setdefault(line.supplier, []).append(float(line.lead_time_days))
    return out


def demand_window(today: date) -> tuple[date, date]:
    """First and last day of the recent demand a policy is estimated from: `DEMAND_DAYS` days
    ending `today`."""
    return today - timedelta(days=DEMAND_DAYS - 1), today


def forecast_window(today: date) -> tuple[date, int]:
    """First day and length of the forecast whose mean is the daily demand: `FORECAST_DAYS`
    days from tomorrow."""
    return today + timedelta(days=1), FORECAST_DAYS


def round_to_packs(quantity: int, pack_size: int = 1, moq: int = 0) -> int:
    """The smallest whole number of packs that holds `quantity` and at least the MOQ."""
    if pack_size < 1:
        raise ValueError(f"pack size {pack_size} must be at least 1")
    if quantity <= 0:
        return 0
    wanted = max(quantity, moq)
    return math.ceil(wanted / pack_size) * pack_size


def order_by_date(position: StockPosition, policy: Policy, today: date) -> date | None:
    """The day the inventory position, falling by the daily demand, reaches the reorder point
    (today if it already has; None if demand is zero and it never will)."""
    ip = position.inventory_position
    if ip <= policy.reorder_point:
        return today
    if policy.daily_demand <= 0:
        return None
    return today + timedelta(days=math.floor((ip - policy.reorder_point) / policy.daily_demand))


@dataclass(frozen=True)
class OrderSuggestion:
    location: str
    sku: str
    supplier: str
    quantity: int
    order_by: date
    expected_arrival: date
    inventory_position: int
    reorder_point: int
    safety_stock: float


def suggest_order(
    location: str,
    sku: str,
    supplier: str,
    position: StockPosition,
    policy: Policy,
    today: date,
    pack_size: int = 1,
    moq: int = 0,
) -> OrderSuggestion | None:
    """A purchase order when the position is at or below the reorder point, else None."""
    ip = position.inventory_position
    if ip > policy.reorder_point:
        return None
    quantity = round_to_packs(policy.order_up_to - ip, pack_size, moq)
    if quantity <= 0:
        return None
    return OrderSuggestion(
        location,
        sku,
        supplier,
        quantity,
        today,
        today + timedelta(days=math.ceil(policy.lead_time_days)),
        ip,
        policy.reorder_point,
        policy.safety_stock,
    )


@dataclass(frozen=True)
class BatchStock:
    batch: str
    quantity: int
    expiry: date | None = None


@dataclass(frozen=True)
class Site:
    """One location's stock of one SKU, its policy, and what it holds by batch (for transfers)."""

    location: Location
    position: StockPosition
    policy: Policy
    batches: tuple[BatchStock, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class TransferSuggestion:
    sku: str
    from_location: str
    to_location: str
    batch: str
    quantity: int
    distance_km: float
    expiry: date | None


def suggest_transfers(
    sku: str,
    sites: Sequence[Site],
    today: date,
    radius_km: float = DEFAULT_RADIUS_KM,
    transit_days: int = 1,
) -> list[TransferSuggestion]:
    """Move stock from nearby locations with a surplus to locations that run short before an
    order placed now could arrive (most urgent first: fewest days of cover)."""
    if radius_km < 0:
        raise ValueError(f"radius {radius_km} km must not be negative")
    # what each donor can give: physical, unreserved stock above its own reorder point, by batch
    surplus = {
        s.location.location: max(
            0,
            min(
                s.position.on_hand - s.position.reserved,
                s.position.inventory_position - s.policy.reorder_point,
            ),
        )
        for s in sites
    }
    left = {s.location.location: {b.batch: b.quantity for b in s.batches if b.quantity > 0} for s in sites}
    short = [s for s in sites if s.position.inventory_position < s.policy.reorder_point]
    short.sort(
        key=lambda s: (
            s.position.inventory_position / s.policy.daily_demand if s.policy.daily_demand else math.inf
        )
    )
    suggestions: list[TransferSuggestion] = []
    for receiver in short:
        need = receiver.policy.reorder_point - receiver.position.inventory_position
        arrival = today + timedelta(days=transit_days)
        # a batch must still be sellable when it arrives and for a day of demand after
        donors = sorted(
            (
                (receiver.location.distance_km(d.location), d)
                for d in sites
                if d is not receiver
                and d.position.inventory_position >= d.policy.reorder_point
                and surplus[d.location.location] > 0
            ),
            key=lambda pair: pair[0],
        )
        for distance, donor in donors:
            if need <= 0 or distance > radius_km:
                break
            code = donor.location.location
            for batch in sorted(
                donor.batches, key=lambda b: (b.expiry is None, b.expiry or date.max, b.batch)
            ):
                if need <= 0 or surplus[code] <= 0:
                    break
                if batch.expiry is not None and batch.expiry <= arrival:
                    continue
                quantity = min(need, surplus[code], left[code].get(batch.batch, 0))
                if quantity <= 0:
                    continue
                suggestions.append(
                    TransferSuggestion(
                        sku,
                        code,
                        receiver.location.location,
                        batch.batch,
                        quantity,
                        round(distance, 1),
                        batch.expiry,
                    )
                )
                need -= quantity
                surplus[code] -= quantity
                left[code][batch.batch] -= quantity
    return suggestions


def holiday_coefficient(
    start: date, days: int, calendar: Mapping[tuple[int, int], float] = HOLIDAY_DEMAND
) -> float:
    """The largest holiday demand factor among the `days` days from `start` (1.0 without one)."""
    window = (start + timedelta(days=i) for i in range(max(0, days)))
    return max((calendar.get((d.month, d.day), 1.0) for d in window), default=1.0)


@dataclass(frozen=True)
class SeriesInput:
    """What planning knows of one location × SKU (quantities in base units)."""

    location: str
    sku: str
    history: Sequence[float]
    position: StockPosition
    forecast_mean: float | None = None
    batches: tuple[BatchStock, ...] = ()
    #: Units sent to other locations per day (oldest first, ending on the same day as `history`):
    #: a warehouse's demand is also what the stores it supplies take from it.
    transfers_out: Sequence[float] = ()


@dataclass(frozen=True)
class PlannedSeries:
    location: str
    sku: str
    demand: DemandEstimate
    lead_time: LeadTime
    holiday_coefficient: float
    policy: Policy
    position: StockPosition


@dataclass(frozen=True)
class Plan:
    series: list[PlannedSeries]
    orders: list[OrderSuggestion]
    transfers: list[TransferSuggestion]


def series_inputs(
    stock: Mapping[tuple[str, str], StockCount],
    history: Mapping[tuple[str, str], Sequence[float]],
    transfers_out: Mapping[tuple[str, str], Sequence[float]],
    units_on_order: Mapping[tuple[str, str], int],
    forecast_means: Mapping[tuple[str, str], float],
) -> list[SeriesInput]:
    """What planning knows of every location × SKU with stock, recent demand, transfers out or
    units on order, in (location, SKU) order; one without stock counts as holding nothing."""
    keys = sorted(set(stock) | set(history) | set(transfers_out) | set(units_on_order))
    items = []
    for key in keys:
        position, batches = usable_stock(stock.get(key, StockCount(0)), units_on_order.get(key, 0))
        items.append(
            SeriesInput(
                key[0],
                key[1],
                history.get(key, []),
                position,
                forecast_means.get(key),
                batches,
                transfers_out.get(key, []),
            )
        )
    return items


def outflow_demand(item: SeriesInput) -> DemandEstimate:
    """Demand on a location's stock: what it sells or issues plus what it transfers out. The
    forecast covers sales and issues; transfers out add their recent daily mean to it."""
    days = max(len(item.history), len(item.transfers_out))
    sales = [0.0] * (days - len(item.history)) + [float(v) for v in item.history]
    sent = [0.0] * (days - len(item.transfers_out)) + [float(v) for v in item.transfers_out]
    outflow = [a + b for a, b in zip(sales, sent, strict=True)]
    forecast = item.forecast_mean
    if forecast is not None and item.transfers_out:
        forecast += statistics.fmean(sent[-DEMAND_DAYS:])
    return DemandEstimate.from_history(outflow, forecast)


def plan(
    catalog: Catalog,
    items: Sequence[SeriesInput],
    today: date,
    observed_lead_times: Mapping[str, Sequence[float]] | None = None,
    service_level: float = DEFAULT_SERVICE_LEVEL,
    review_days: int = DEFAULT_REVIEW_DAYS,
    radius_km: float = DEFAULT_RADIUS_KM,
    calendar: Mapping[tuple[int, int], float] = HOLIDAY_DEMAND,
) -> Plan:
    """Policies for every location × SKU; transfers first (stock already near a location that
    runs short), then purchase orders to each SKU's supplier for what transfers do not cover.

    A dish is made to order and never kept: it gets no policy and no suggestion (its
    ingredients carry its demand: `stockflow.recipes.planned_demand`). A SKU without a supplier
    gets no purchase order; one the catalogue does not know, nothing;
    one whose lifecycle state takes no purchase order (draft, frozen, archived) is not bought,
    and one that takes no transfer (draft, archived) is not moved either."""
    observed_lead_times = observed_lead_times or {}
    planned: list[PlannedSeries] = []
    by_sku: dict[str, list[tuple[SeriesInput, PlannedSeries]]] = {}
    for item in items:
        sku = catalog.skus.get(item.sku)
        location = catalog.locations.get(item.location)
        if sku is None or location is None or not lifecycle_takes(sku.status, "transfer_out"):
            continue
        if sku.kind is SkuKind.DISH:
            continue
        supplier = catalog.suppliers.get(sku.supplier or "")
        quoted = supplier.lead_time_days if supplier else DEFAULT_REVIEW_DAYS
        lead = LeadTime.from_receipts(observed_lead_times.get(sku.supplier or "", ()), quoted)
        demand = outflow_demand(item)
        h = holiday_coefficient(today, math.ceil(lead.mean) + review_days, calendar)
        policy = Policy.compute(
            demand, lead, service_level, h, review_days, minimum_reorder_point=sku.reorder_point
        )
        series = PlannedSeries(item.location, item.sku, demand, lead, h, policy, item.position)
        planned.append(series)
        by_sku.setdefault(item.sku, []).append((item, series))

    transfers: list[TransferSuggestion] = []
    incoming: dict[tuple[str, str], int] = {}
    outgoing: dict[tuple[str, str], int] = {}
    for code, group in sorted(by_sku.items()):
        sites = [
            Site(catalog.locations[item.location], series.position, series.policy, item.batches)
            for item, series in group
        ]
        for t in suggest_transfers(code, sites, today, radius_km):
            transfers.append(t)
            incoming[(t.to_location, code)] = incoming.get((t.to_location, code), 0) + t.quantity
            outgoing[(t.from_location, code)] = outgoing.get((t.from_location, code), 0) + t.quantity

    orders: list[OrderSuggestion] = []
    for series in planned:
        sku = catalog.skus[series.sku]
        if sku.supplier is None or not lifecycle_takes(sku.status, "purchase_order"):
            continue
        key = (series.location, series.sku)
        p = series.position
        after_transfers = StockPosition(
            p.on_hand - outgoing.get(key, 0), p.reserved, p.in_transit + incoming.get(key, 0), p.on_order
        )
        order = suggest_order(
            series.location,
            series.sku,
            sku.supplier,
            after_transfers,
            series.policy,
            today,
            pack_size=sku.min_pack_units or 1,
            moq=sku.moq,
        )
        if order is not None:
            orders.append(order)
    return Plan(planned, orders, transfers)


class SuggestionStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class SuggestionError(Explained, ValueError):
    """A decision on a suggestion that cannot be taken (and changes nothing)."""


class SuggestionAlreadyDecided(AlreadyDecided, SuggestionError):
    """Another decision took the suggestion first: who, when, how (`status`)."""


def check_suggestion_decision(
    current: SuggestionStatus | str, decision: SuggestionStatus | str, reviewer: str, reason: str
) -> SuggestionStatus:
    """Only a proposed suggestion can be decided: approved (by someone) or rejected (by someone,
    with a reason)."""
    current, decision = SuggestionStatus(current), SuggestionStatus(decision)
    if decision not in (SuggestionStatus.APPROVED, SuggestionStatus.REJECTED):
        raise SuggestionError("refusal.approve_or_reject", decision=decision.value)
    if current is not SuggestionStatus.PROPOSED:
        raise SuggestionError("refusal.suggestion_already", status=current.value)
    if not reviewer.strip():
        raise SuggestionError("refusal.decision_needs_reviewer")
    if decision is SuggestionStatus.REJECTED and not reason.strip():
        raise SuggestionError("refusal.rejection_needs_reason")
    return decision


def purchase_order_event(
    suggestion_id: str, order: OrderSuggestion, approved_at: datetime, approver: str
) -> PurchaseOrder:
    """The purchase order an approved suggestion places (its id derives from the suggestion, so
    sending it again is a duplicate, not a second order)."""
    return PurchaseOrder(
        event_id=f"{suggestion_id}:po",
        occurred_at=approved_at,
        source="planning",
        location=order.location,
        purchase_order=f"PO-{suggestion_id}",
        supplier=order.supplier,
        sku=order.sku,
        qty=Decimal(order.quantity),
        expected_date=order.expected_arrival,
        note=f"approved by {approver}"[:500],
    )


def approval_event(
    suggestion_id: str,
    suggestion: OrderSuggestion | TransferSuggestion,
    approved_at: datetime,
    approver: str,
) -> PurchaseOrder | TransferOut:
    """The event that carries out an approved suggestion: its purchase order or its transfer."""
    if isinstance(suggestion, TransferSuggestion):
        return transfer_event(suggestion_id, suggestion, approved_at)
    return purchase_order_event(suggestion_id, suggestion, approved_at, approver)


def approval_reference(event: PurchaseOrder | TransferOut) -> str:
    """The document an approval created: the purchase order or the transfer."""
    return event.purchase_order if isinstance(event, PurchaseOrder) else event.transfer_id


def transfer_event(suggestion_id: str, transfer: TransferSuggestion, approved_at: datetime) -> TransferOut:
    """The dispatch an approved transfer suggestion makes (id derived from the suggestion)."""
    return TransferOut(
        event_id=f"{suggestion_id}:transfer",
        occurred_at=approved_at,
        source="planning",
        transfer_id=f"TR-{suggestion_id}",
        from_location=transfer.from_location,
        to_location=transfer.to_location,
        sku=transfer.sku,
        batch=transfer.batch or None,
        qty=Decimal(transfer.quantity),
    )
