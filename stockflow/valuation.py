"""Stock valuation: FIFO cost layers and moving average, per location, over ledger movements.

The valuation reads the stock ledger's movements (`stockflow.ledger.Movement`) in the order
the ledger applied them and keeps, for every valuation key, a quantity and a *booked* value
in money (two decimals). Issues take booked value away by share (`money.share_of`), so a
layer or a position that is emptied is worth exactly zero and the inventory accounts always
equal the stock value; no rounding residue ever builds up.

Keys and methods (the method is per SKU, else per category, see `AccountingPolicy`):

* **FIFO**: a queue of cost layers per location × SKU × batch (per location × SKU for SKUs
  that are not batch-managed). Receipts append a layer at their cost; issues consume the
  oldest layers first, at the layers' own costs (never an average of them). FIFO is per
  location: an issue at one store never takes a layer that was received at another.
* **Moving average**: quantity and value per location × SKU; a receipt re-averages, an
  issue leaves at the current average.

Costs of inflows:

* goods receipt: the invoiced cost per base unit (excluding VAT);
* transfer in: the cost the goods left the source with. A transfer-out moves its cost into
  an in-transit pool of the destination (per transfer × SKU × batch) and the transfer-in
  takes it from there, so transfers never change cost;
* till return: the cost the goods were sold at (by the original ticket), else the current
  valuation rate;
* count gain, found stock: the current valuation rate.

Negative stock (a documented policy, after the failures of ERPNext and Odoo here): an issue
that exceeds the stock is valued, for the missing units, at a *provisional* cost: the
current valuation rate, else the last rate the key had, else the SKU's standard cost. The
key then holds a negative quantity with a negative value. The next inflow first *settles*
the missing units at its own cost; the difference between that cost and the provisional
one is a cost variance (booked to cost of goods sold), and only the rest of the inflow
becomes stock. Thus a key with positive stock is always valued at real inflow costs, a
valuation rate is never negative or absurd, and the stock value never depends on how deep
stock went below zero. An in-transit pool that is taken from before its transfer-out is
valued (the receiving scan overtook the dispatch) follows the same rule.

Work orders (`stockflow.production`): each order has a cost in production (WIP, 在制品), the
row's `reference` naming it. Materials issued to it leave stock at their cost and add it;
a return comes back at the cost its SKU went in at (by share) and takes it off; an operation
report adds its labour and overhead; a subcontractor's fee adds itself. Finished goods come in
at their actual cost: of what the order holds, the share of the units received in the units
it still had to make (all of it on its last receipt). Closing an order books what it still
holds (materials issued beyond what its goods took, costs after its last receipt) as the
production variance, so an order closed holds nothing.

Back-dated events are valued where the ledger applied them, at the costs then on hand;
they never rewrite the cost of movements already valued (which are posted, and may sit in
closed periods). Their vouchers carry their own date (or the first open period's).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from stockflow.ledger import NO_BATCH, Movement, Position
from stockflow.masterdata import Catalog, Category, Sku, ValuationMethod
from stockflow.money import ZERO, share_of, to_money, to_rate

#: Event types whose on-hand change is an inflow valued at the current rate (no cost of their own).
#: Movements that record no change of goods: never valued, never booked.
UNBOOKED_EVENT_TYPES = frozenset({"stock_correction"})
#: Event types of work orders: their rows move cost into and out of production (WIP).
WORK_ORDER_EVENT_TYPES = frozenset(
    {
        "work_order_released",
        "material_issued",
        "operation_reported",
        "production_receipt",
        "work_order_closed",
    }
)
_AT_CURRENT_RATE = frozenset({"cycle_count", "stock_adjustment", "quality_hold", "conflict_decided"})

DEFAULT_METHODS: dict[str, ValuationMethod] = {
    Category.CHILLED_FOOD: ValuationMethod.FIFO,
    Category.DRY_GOODS: ValuationMethod.MOVING_AVERAGE,
    Category.ELECTRONICS: ValuationMethod.FIFO,
}

#: Looks up how many units of a SKU left a location on a document (a till ticket), and the
#: value they left with: (location, ticket, SKU) → (qty, value), or None if never seen.
IssueCostLookup = Callable[[str, str, str], tuple[int, Decimal] | None]


class ValuationError(ValueError):
    """A movement the valuation cannot value (unknown SKU)."""


@dataclass(slots=True)
class _Layer:
    qty: int
    value: Decimal


@dataclass(slots=True)
class _Stock:
    """Quantity and booked value of one valuation key; FIFO keys keep their layers."""

    qty: int = 0
    value: Decimal = ZERO
    layers: deque[_Layer] = field(default_factory=deque)
    last_rate: Decimal | None = None

    @property
    def rate(self) -> Decimal | None:
        if self.qty > 0:
            return to_rate(self.value / self.qty)
        return self.last_rate


@dataclass(frozen=True, slots=True)
class ValuedMovement:
    """One row of the valued stock ledger (the facts an ERPNext stock ledger report shows)."""

    event_id: str
    event_type: str
    occurred_at: datetime
    location: str
    sku: str
    batch: str
    reference: str
    counterparty: str
    method: ValuationMethod
    qty_change: int
    in_transit_change: int
    #: Cost per base unit of this movement's own quantity (inflow or outflow).
    unit_cost: Decimal
    #: Change of the on-hand stock value at `location`.
    value_change: Decimal
    #: Change of the value of goods in transit to `transit_location`.
    transit_value_change: Decimal
    transit_location: str
    #: Settlement of provisional costs, charged to cost of goods sold (negative: credited).
    cost_variance: Decimal
    #: Whether part of this movement was valued at a provisional cost (stock went negative).
    provisional: bool
    #: On hand and its value at location × SKU after this movement, and their ratio.
    qty_after: int
    stock_value_after: Decimal
    valuation_rate: Decimal
    unit_price: Decimal | None = None
    #: A receipt invoiced in another currency: that currency and the invoiced cost per base unit
    #: (`unit_cost` is in the books' currency); None for everything booked in the books' own.
    original_currency: str | None = None
    original_unit_cost: Decimal | None = None
    #: Made to a recipe: the dish or semi-finished item the row belongs to, and on a dish's own
    #: row the base units sold or refunded (`stockflow.ledger.Movement`).
    dish: str = ""
    portions: int = 0
    #: Work orders: the change of the order's (`reference`) cost in production, and what of it
    #: came from an operation's labour and overhead or a subcontractor's fee (the rest: stock).
    wip_change: Decimal = ZERO
    labour: Decimal = ZERO
    overhead: Decimal = ZERO
    service_fee: Decimal = ZERO

    @property
    def amount(self) -> Decimal:
        """Value of the movement's own quantity: inflow cost, or the cost of what left."""
        if self.qty_change > 0:
            return self.value_change + self.cost_variance
        return -self.value_change

    def as_record(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class _Outcome:
    value: Decimal  # booked value taken or added
    variance: Decimal = ZERO
    provisional: bool = False


class Valuation:
    """Values ledger movements in order; its whole state can be saved and restored."""

    def __init__(
        self,
        catalog: Catalog,
        methods: Mapping[str, ValuationMethod] | None = None,
        issue_cost_lookup: IssueCostLookup | None = None,
    ) -> None:
        self.catalog = catalog
        self.methods = dict(DEFAULT_METHODS if methods is None else methods)
        self.issue_cost_lookup = issue_cost_lookup
        self._stock: dict[tuple[str, str, str], _Stock] = {}
        self._keys_at: dict[tuple[str, str], set[str]] = defaultdict(set)
        #: In-transit pools: (transfer, SKU) → batch → stock, held for the destination.
        self._transit: dict[tuple[str, str], dict[str, _Stock]] = {}
        self._transit_to: dict[tuple[str, str], str] = {}
        #: Costs of till sales seen by this instance, for returns: (store, ticket, SKU) → qty, value.
        self._issued: dict[tuple[str, str, str], tuple[int, Decimal]] = {}
        #: What a prep's ingredients cost so far, by event (its item comes in at that cost; the
        #: ledger books the ingredients before the item).
        self._made: dict[str, Decimal] = {}
        #: Work orders' cost in production: order → SKU → (base units issued, their cost), and
        #: order → its whole cost (materials, labour, overhead, fees, less goods received).
        self._wip_issued: dict[str, dict[str, tuple[int, Decimal]]] = {}
        self._wip: dict[str, Decimal] = {}

    # ------------------------------------------------------------------ policy
    def method_of(self, sku: Sku) -> ValuationMethod:
        return sku.valuation_method or self.methods.get(sku.category, ValuationMethod.MOVING_AVERAGE)

    def _sku(self, code: str) -> Sku:
        sku = self.catalog.skus.get(code)
        if sku is None:
            raise ValuationError(f"SKU {code!r} is not in master data")
        return sku

    def _key(self, location: str, sku: Sku, batch: str) -> tuple[str, str, str]:
        if self.method_of(sku) is ValuationMethod.FIFO and sku.batch_managed:
            return (location, sku.sku, batch)
        return (location, sku.sku, NO_BATCH)

    def _stock_at(self, key: tuple[str, str, str]) -> _Stock:
        stock = self._stock.get(key)
        if stock is None:
            stock = self._stock[key] = _Stock()
            self._keys_at[key[:2]].add(key[2])
        return stock

    # ------------------------------------------------------------------ reading
    def current_rate(self, location: str, sku_code: str, batch: str = NO_BATCH) -> Decimal:
        """Cost per base unit for valuing stock that comes with no cost of its own."""
        sku = self._sku(sku_code)
        stock = self._stock.get(self._key(location, sku, batch))
        if stock is not None and stock.rate is not None:
            return stock.rate
        # the rate of what the location holds: batches in stock only (a batch gone negative
        # carries a provisional value, and would drag the rate down, even below zero)
        held = [self._stock[(location, sku_code, b)] for b in self._keys_at.get((location, sku_code), ())]
        qty = sum(h.qty for h in held if h.qty > 0)
        if qty > 0:
            return to_rate(sum(h.value for h in held if h.qty > 0) / qty)
        for other in sorted(self._keys_at.get((location, sku_code), ())):
            rate = self._stock[(location, sku_code, other)].last_rate
            if rate is not None:
                return rate
        return to_rate(sku.standard_cost)

    def on_hand(self, location: str, sku: str) -> tuple[int, Decimal]:
        """Quantity and value of a SKU at a location (all batches)."""
        qty, value = 0, ZERO
        for batch in self._keys_at.get((location, sku), ()):
            stock = self._stock[(location, sku, batch)]
            qty += stock.qty
            value += stock.value
        return qty, value

    def stock_values(self) -> dict[str, Decimal]:
        """Booked value per location: stock on hand plus goods in transit to it."""
        out: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for (location, _, _), stock in self._stock.items():
            out[location] += stock.value
        for key, batches in self._transit.items():
            out[self._transit_to[key]] += sum((s.value for s in batches.values()), ZERO)
        return dict(out)

    def positions(self) -> Iterator[tuple[tuple[str, str, str], int, Decimal]]:
        """Every valuation key with its quantity and value."""
        for key, stock in sorted(self._stock.items()):
            if stock.qty or stock.value:
                yield key, stock.qty, stock.value

    # ------------------------------------------------------------------ valuing
    def value(self, mv: Movement) -> ValuedMovement | None:
        """Value one movement; None for movements that change neither on hand nor in transit,
        and for state corrections (the ledger never had the drift they repair)."""
        if mv.event_type in UNBOOKED_EVENT_TYPES:
            return None
        if mv.event_type == "transit_dispatched":
            return self._record(mv, self._sku(mv.sku), _Outcome(ZERO), unit_cost=ZERO)
        if mv.portions:  # a dish's own row: sold or refunded, no stock of its own
            return self._record(mv, self._sku(mv.sku), _Outcome(ZERO), unit_cost=ZERO)
        if mv.event_type in WORK_ORDER_EVENT_TYPES:
            return self._value_work_order(mv, self._sku(mv.sku))
        if mv.on_hand_delta == 0:
            return None
        sku = self._sku(mv.sku)
        if mv.on_hand_delta > 0:
            return self._value_inflow(mv, sku)
        return self._value_outflow(mv, sku)

    def revalue(
        self,
        event_id: str,
        event_type: str,
        occurred_at: datetime,
        location: str,
        sku_code: str,
        amount: Decimal,
        reference: str = "",
        counterparty: str = "",
    ) -> list[ValuedMovement]:
        """Add `amount` (negative: take it off) to the value of a SKU's stock at a location,
        without changing its quantity (a supplier invoice's price difference on goods still in
        stock). Spread over the batches in stock by quantity; on FIFO keys it goes to the newest
        layer. Never more is taken off a key than it is worth: what no key takes is returned as
        the `cost_variance` of the last row (for cost of sales). One value-only row per key."""
        sku = self._sku(sku_code)
        held = sorted(
            (b, self._stock[(location, sku_code, b)])
            for b in self._keys_at.get((location, sku_code), ())
            if self._stock[(location, sku_code, b)].qty > 0
        )
        if not held or amount == 0:
            return []
        total_qty = sum(stock.qty for _, stock in held)
        rows = []
        given, qty_seen, unplaced = ZERO, 0, ZERO
        for batch, stock in held:
            qty_seen += stock.qty
            share = share_of(amount, qty_seen, total_qty) - given
            given += share
            if stock.value + share < 0:  # never below nothing: the rest is cost of sales
                unplaced += share + stock.value
                share = -stock.value
            stock.value += share
            if self.method_of(sku) is ValuationMethod.FIFO and stock.layers:
                layer = stock.layers[-1]
                take = max(share, -layer.value)
                layer.value += take
                rest = share - take
                for older in reversed(list(stock.layers)[:-1]):  # a big reduction reaches older layers
                    if rest == 0:
                        break
                    step = max(rest, -older.value)
                    older.value += step
                    rest -= step
            stock.last_rate = to_rate(stock.value / stock.qty)
            mv = Movement(
                event_id=event_id,
                event_type=event_type,
                occurred_at=occurred_at,
                location=location,
                sku=sku_code,
                batch=batch,
                on_hand_delta=0,
                reserved_delta=0,
                quarantined_delta=0,
                in_transit_delta=0,
                after=Position(stock.qty, 0, 0, 0),
                reference=reference,
                counterparty=counterparty,
            )
            rows.append(self._record(mv, sku, _Outcome(share), unit_cost=ZERO))
        if unplaced:
            last = rows[-1]
            rows[-1] = replace(last, cost_variance=unplaced)
        return rows

    def value_all(self, movements: Iterable[Movement]) -> list[ValuedMovement]:
        out = []
        for mv in movements:
            valued = self.value(mv)
            if valued is not None:
                out.append(valued)
        return out

    def _value_inflow(self, mv: Movement, sku: Sku) -> ValuedMovement:
        qty = mv.on_hand_delta
        transit_change = ZERO
        transit_location = ""
        provisional = False
        if mv.event_type == "goods_receipt" and mv.unit_cost is not None:
            amount = to_money(qty * mv.unit_cost)
        elif mv.event_type == "transfer_in":
            taken = self._take_from_transit(mv, sku, qty)
            amount, provisional = taken.value, taken.provisional
            transit_change, transit_location = -amount, mv.location
        elif mv.event_type == "pos_return":
            amount = to_money(qty * self._returned_cost(mv))
        elif mv.event_type == "prep_produced":  # made in store: what its ingredients cost
            amount = self._made.pop(mv.event_id, ZERO)
        else:
            amount = to_money(qty * self.current_rate(mv.location, mv.sku, mv.batch))
        stock = self._stock_at(self._key(mv.location, sku, mv.batch))
        outcome = self._add(stock, qty, amount, self.method_of(sku))
        return self._record(
            mv,
            sku,
            _Outcome(outcome.value, outcome.variance, provisional),
            unit_cost=to_rate(amount / qty),
            transit_change=transit_change,
            transit_location=transit_location,
        )

    def _value_outflow(self, mv: Movement, sku: Sku) -> ValuedMovement:
        qty = -mv.on_hand_delta
        stock = self._stock_at(self._key(mv.location, sku, mv.batch))
        taken = self._take(
            stock, qty, self.method_of(sku), lambda: self.current_rate(mv.location, mv.sku, mv.batch)
        )
        transit_change = ZERO
        transit_location = ""
        variance = ZERO
        if mv.event_type == "transfer_out":
            destination = mv.counterparty
            pool_key = (mv.reference, mv.sku)
            self._transit_to[pool_key] = destination
            pool = self._transit.setdefault(pool_key, {}).setdefault(mv.batch, _Stock())
            added = self._add(pool, qty, taken.value, ValuationMethod.FIFO)
            transit_change, transit_location, variance = added.value, destination, added.variance
            self._drop_empty_pool(pool_key)
        elif mv.event_type == "pos_sale":
            key = (mv.location, mv.reference, mv.sku)
            before_qty, before_value = self._issued.get(key, (0, ZERO))
            self._issued[key] = (before_qty + qty, before_value + taken.value)
        elif mv.event_type == "prep_produced":
            self._made[mv.event_id] = self._made.get(mv.event_id, ZERO) + taken.value
        return self._record(
            mv,
            sku,
            _Outcome(-taken.value, variance, taken.provisional),
            unit_cost=to_rate(taken.value / qty),
            transit_change=transit_change,
            transit_location=transit_location,
        )

    # ------------------------------------------------------------------ work orders
    def wip(self) -> dict[str, Decimal]:
        """Every work order's cost in production (orders holding nothing left out)."""
        return {order: value for order, value in sorted(self._wip.items()) if value}

    def _value_work_order(self, mv: Movement, sku: Sku) -> ValuedMovement | None:
        order = mv.reference
        held = self._wip.get(order, ZERO)
        if mv.on_hand_delta < 0:  # issued (or backflushed): from stock into the order
            valued = self._value_outflow(mv, sku)
            cost = -valued.value_change
            issued_qty, issued_value = self._wip_issued.setdefault(order, {}).get(mv.sku, (0, ZERO))
            self._wip_issued[order][mv.sku] = (issued_qty - mv.on_hand_delta, issued_value + cost)
            self._wip[order] = held + cost
            return replace(valued, wip_change=cost)
        if mv.on_hand_delta > 0 and mv.event_type == "material_issued":  # returned from the order
            issued_qty, issued_value = self._wip_issued.setdefault(order, {}).get(mv.sku, (0, ZERO))
            qty = mv.on_hand_delta
            cost = share_of(issued_value, qty, issued_qty) if issued_qty >= qty else issued_value
            self._wip_issued[order][mv.sku] = (max(issued_qty - qty, 0), issued_value - cost)
            self._wip[order] = held - cost
            stock = self._stock_at(self._key(mv.location, sku, mv.batch))
            outcome = self._add(stock, qty, cost, self.method_of(sku))
            return replace(
                self._record(mv, sku, outcome, unit_cost=to_rate(cost / qty)),
                wip_change=-cost,
            )
        if mv.on_hand_delta > 0:  # finished goods: the order's actual cost, by share
            fee = mv.service_fee or ZERO
            held += fee
            qty = mv.on_hand_delta
            cost = held if mv.order_open_qty <= qty else share_of(held, qty, mv.order_open_qty)
            self._wip[order] = held - cost
            stock = self._stock_at(self._key(mv.location, sku, mv.batch))
            outcome = self._add(stock, qty, cost, self.method_of(sku))
            return replace(
                self._record(mv, sku, outcome, unit_cost=to_rate(cost / qty)),
                wip_change=fee - cost,
                service_fee=fee,
            )
        if mv.event_type == "operation_reported":
            labour, overhead = mv.labour or ZERO, mv.overhead or ZERO
            self._wip[order] = held + labour + overhead
            return replace(
                self._record(mv, sku, _Outcome(ZERO), unit_cost=ZERO),
                wip_change=labour + overhead,
                labour=labour,
                overhead=overhead,
            )
        if mv.event_type == "work_order_closed":  # what is left is the production variance
            self._wip.pop(order, None)
            self._wip_issued.pop(order, None)
            return replace(self._record(mv, sku, _Outcome(ZERO), unit_cost=ZERO), wip_change=-held)
        return None

    def _record(
        self,
        mv: Movement,
        sku: Sku,
        outcome: _Outcome,
        unit_cost: Decimal,
        transit_change: Decimal = ZERO,
        transit_location: str = "",
    ) -> ValuedMovement:
        qty_after, value_after = self.on_hand(mv.location, mv.sku)
        rate = (
            to_rate(value_after / qty_after)
            if qty_after > 0
            else self.current_rate(mv.location, mv.sku, mv.batch)
        )
        return ValuedMovement(
            event_id=mv.event_id,
            event_type=mv.event_type,
            occurred_at=mv.occurred_at,
            location=mv.location,
            sku=mv.sku,
            batch=mv.batch,
            reference=mv.reference,
            counterparty=mv.counterparty,
            method=self.method_of(sku),
            qty_change=mv.on_hand_delta,
            in_transit_change=mv.in_transit_delta,
            unit_cost=unit_cost,
            value_change=outcome.value,
            transit_value_change=transit_change,
            transit_location=transit_location,
            cost_variance=outcome.variance,
            provisional=outcome.provisional,
            qty_after=qty_after,
            stock_value_after=value_after,
            valuation_rate=rate,
            unit_price=mv.unit_price,
            original_currency=mv.currency,
            original_unit_cost=mv.original_unit_cost,
            dish=mv.dish,
            portions=mv.portions,
        )

    def _take_from_transit(self, mv: Movement, sku: Sku, qty: int) -> _Outcome:
        """Take the cost of `qty` received units from the transfer's in-transit pool."""
        pool_key = (mv.reference, mv.sku)
        self._transit_to.setdefault(pool_key, mv.location)
        pool = self._transit.setdefault(pool_key, {})
        order = [mv.batch] + sorted(b for b in pool if b != mv.batch)
        taken, remaining, provisional = ZERO, qty, False
        for batch in order:
            stock = pool.get(batch)
            if stock is None or stock.qty <= 0 or not remaining:
                continue
            n = min(remaining, stock.qty)
            outcome = self._take(stock, n, ValuationMethod.FIFO, lambda: ZERO)
            taken += outcome.value
            remaining -= n
        if remaining:  # received before its dispatch was valued: provisional, at the source's rate
            stock = pool.setdefault(mv.batch, _Stock())
            source = mv.counterparty
            outcome = self._take(
                stock, remaining, ValuationMethod.FIFO, lambda: self.current_rate(source, mv.sku, mv.batch)
            )
            taken += outcome.value
            provisional = True
        self._drop_empty_pool(pool_key)
        return _Outcome(taken, provisional=provisional)

    def _drop_empty_pool(self, pool_key: tuple[str, str]) -> None:
        pool = self._transit.get(pool_key, {})
        for batch in [b for b, s in pool.items() if s.qty == 0 and not s.value]:
            del pool[batch]
        if not pool:
            self._transit.pop(pool_key, None)
            self._transit_to.pop(pool_key, None)

    def _returned_cost(self, mv: Movement) -> Decimal:
        """Cost per unit of returned goods: what they left with, else the current rate."""
        known = self._issued.get((mv.location, mv.reference, mv.sku))
        if known is None and self.issue_cost_lookup is not None:
            known = self.issue_cost_lookup(mv.location, mv.reference, mv.sku)
        if known is not None and known[0] > 0:
            return known[1] / known[0]
        return self.current_rate(mv.location, mv.sku, mv.batch)

    # ------------------------------------------------------------------ the two methods
    @staticmethod
    def _add(stock: _Stock, qty: int, amount: Decimal, method: ValuationMethod) -> _Outcome:
        """Add `qty` units worth `amount`, settling missing units first.

        Returns the change of the stock value and the cost variance; the two add up to
        `amount`."""
        variance = change = ZERO
        if stock.qty < 0:
            covered = min(qty, -stock.qty)
            covered_amount = share_of(amount, covered, qty)
            settled = share_of(stock.value, covered, -stock.qty)  # the provisional value, ≤ 0
            variance = covered_amount + settled
            stock.qty += covered
            stock.value -= settled
            change -= settled
            qty -= covered
            amount -= covered_amount
        if qty > 0:
            stock.qty += qty
            stock.value += amount
            change += amount
            if method is ValuationMethod.FIFO:
                stock.layers.append(_Layer(qty, amount))
                stock.last_rate = to_rate(amount / qty)
            else:
                stock.last_rate = to_rate(stock.value / stock.qty)
        return _Outcome(change, variance)

    @staticmethod
    def _take(
        stock: _Stock, qty: int, method: ValuationMethod, provisional_rate: Callable[[], Decimal]
    ) -> _Outcome:
        """Take `qty` units off; returns the booked value taken (positive)."""
        taken = ZERO
        remaining = qty
        if method is ValuationMethod.FIFO:
            while remaining and stock.layers:
                layer = stock.layers[0]
                n = min(remaining, layer.qty)
                value = share_of(layer.value, n, layer.qty)
                stock.last_rate = to_rate(layer.value / layer.qty)
                layer.qty -= n
                layer.value -= value
                if layer.qty == 0:
                    stock.layers.popleft()
                taken += value
                remaining -= n
        elif stock.qty > 0:
            n = min(remaining, stock.qty)
            taken = share_of(stock.value, n, stock.qty)
            stock.last_rate = to_rate(stock.value / stock.qty)
            remaining -= n
        provisional = remaining > 0
        if provisional:
            rate = stock.last_rate if stock.last_rate is not None else provisional_rate()
            taken += to_money(remaining * rate)
        stock.qty -= qty
        stock.value -= taken
        return _Outcome(taken, provisional=provisional)

    # ------------------------------------------------------------------ saving
    def state(self) -> dict[str, Any]:
        """Everything needed to go on valuing later (JSON-safe; amounts as strings)."""

        def dump(stock: _Stock) -> list[Any]:
            return [
                stock.qty,
                str(stock.value),
                None if stock.last_rate is None else str(stock.last_rate),
                [[layer.qty, str(layer.value)] for layer in stock.layers],
            ]

        return {
            "version": 1,
            "stock": [
                [*key, *dump(s)]
                for key, s in sorted(self._stock.items())
                if s.qty or s.value or s.last_rate is not None  # a rate of 0.00 is still a rate
            ],
            "transit": [
                [transfer, sku, self._transit_to[(transfer, sku)], batch, *dump(s)]
                for (transfer, sku), batches in sorted(self._transit.items())
                for batch, s in sorted(batches.items())
            ],
            "wip": [
                [
                    order,
                    str(value),
                    [
                        [sku, qty, str(cost)]
                        for sku, (qty, cost) in sorted(self._wip_issued.get(order, {}).items())
                    ],
                ]
                for order, value in sorted(self._wip.items())
            ],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a state saved by `state()` (replacing the current one)."""
        if state.get("version") != 1:
            raise ValuationError(f"unknown valuation state version {state.get('version')!r}")

        def load(qty: int, value: str, rate: str | None, layers: list[list[Any]]) -> _Stock:
            return _Stock(
                qty,
                Decimal(value),
                deque(_Layer(q, Decimal(v)) for q, v in layers),
                None if rate is None else Decimal(rate),
            )

        self._stock.clear()
        self._keys_at.clear()
        self._transit.clear()
        self._transit_to.clear()
        for location, sku, batch, *rest in state["stock"]:
            self._stock[(location, sku, batch)] = load(*rest)
            self._keys_at[(location, sku)].add(batch)
        for transfer, sku, destination, batch, *rest in state["transit"]:
            self._transit.setdefault((transfer, sku), {})[batch] = load(*rest)
            self._transit_to[(transfer, sku)] = destination
        self._wip.clear()
        self._wip_issued.clear()
        for order, value, issued in state.get("wip", []):  # states saved before work orders have none
            self._wip[order] = Decimal(value)
            self._wip_issued[order] = {sku: (qty, Decimal(cost)) for sku, qty, cost in issued}
