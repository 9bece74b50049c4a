"""Kitting (齐套) for discrete manufacturing: whether the materials of open work orders are
there, which order gets what, and what is short.

* `kit` allocates the supply to the work orders in order of (due date, order id): the earlier
  due date wins, and an order takes what it needs before the next one is looked at. For each
  line of the BOM in effect on the order's `bom_day`, the need is what the order may issue
  (`production.allowed_issue`) less what was already issued to it, counted in the line's
  material (`production.issued_as_line`), never below 0, in whole base units. It is taken
  (1) from the material's available stock at the order's location, (2) then from its on-order
  quantities at that location arriving on or before the order's due date, earliest first,
  (3) then from the line's substitutes valid on `bom_day`, by priority: each one's available
  stock, then its on-order by the due date, ``ratio`` units of the substitute for a unit of
  the line's material, in whole units of the substitute (rounded up). What is still missing
  is short. A material with a BOM of its own (a sub-assembly) is allocated like any other at
  its level: from its stock and its on-order (the supply says what is on order: purchases, and
  the open units of the work orders that make it, `stockflow.services.production`).
* A line is covered when nothing is short; an order is kitted when every line is covered. The
  rates (`OrderKit.rate`, `KitResult.kitted_rate`, `KitResult.line_rate`) are exact
  `Fraction`s (covered ÷ all); with nothing to count, a rate is 1 (nothing is missing).
* Quantities short are exact `Fraction`s in the line's material: a substitute that covers part
  of a line covers a fraction of it at its ratio. `shortages` adds them up per (location, SKU)
  and rounds up once.
* `planned_demand` turns the short sub-assemblies into dependent demand: each is exploded
  through its own BOM (`production.line_need`, scrap included), level by level; at every
  level the demand is netted against what the kitting left of the supply (available stock,
  then on-order by the day it is needed by), in (needed-by, order) order, and what is still
  missing of a sub-assembly is exploded in turn, until only purchased materials remain. Their
  net shortages are the purchase suggestions. Every quantity stays exact until one round-up
  per (location, SKU) at the end; a material is needed by the due date of the order it is
  for (lead times are the buyer's to apply).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from stockflow.masterdata import Bom, Catalog
from stockflow.production import MAX_LEVELS, BomError, issued_as_line, line_need, substitutes_on

#: (location, SKU)
StockKey = tuple[str, str]


# ---------------------------------------------------------------------- inputs
@dataclass(frozen=True, slots=True)
class OrderDemand:
    """An open work order to kit: `qty` base units of `product` to make at `location` by `due`,
    to the BOM in effect on `bom_day`; `issued` is what was already issued to it (base units
    per SKU, substitutes under their own SKU). `planned` is False for a released work order,
    True for a planned one (carried to the result)."""

    order: str
    location: str
    product: str
    qty: int
    due: date
    bom_day: date
    issued: Mapping[str, int] = field(default_factory=dict)
    planned: bool = False

    def __post_init__(self) -> None:
        if self.qty < 0:
            raise ValueError(f"work order {self.order}: a quantity to make cannot be negative ({self.qty})")


def available_units(on_hand: int, reserved: int = 0, quarantined: int = 0) -> int:
    """What a position may give: on hand less reserved and quarantined stock, never below 0."""
    return max(0, on_hand - reserved - quarantined)


@dataclass(frozen=True, slots=True)
class Supply:
    """What the orders may take, in base units: `available` per (location, SKU) is on hand less
    reserved and quarantined stock, never below 0 (`Supply.from_positions`); `on_order` per
    (location, SKU) is what arrives and when, as (day, qty)."""

    available: Mapping[StockKey, int]
    on_order: Mapping[StockKey, Sequence[tuple[date, int]]] = field(default_factory=dict)

    @classmethod
    def from_positions(
        cls,
        on_hand: Mapping[StockKey, int],
        reserved: Mapping[StockKey, int] | None = None,
        quarantined: Mapping[StockKey, int] | None = None,
        on_order: Mapping[StockKey, Sequence[tuple[date, int]]] | None = None,
    ) -> Supply:
        """The supply of stock positions: on hand − reserved − quarantined, floored at 0."""
        reserved = reserved or {}
        quarantined = quarantined or {}
        available = {
            key: available_units(qty, reserved.get(key, 0), quarantined.get(key, 0))
            for key, qty in on_hand.items()
        }
        return cls(available, dict(on_order or {}))


# ---------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class LineKit:
    """One BOM line of one order: `need` whole base units of `material`, taken `from_stock`,
    from on-order quantities (day, qty), and from substitutes (SKU, qty in the substitute's
    base units), which stand for `substituted` units of the material (exact, at most what was
    missing); `short` is what is still missing (exact, in the material's base units), so that
    ``need = from_stock + Σ on-order + substituted + short``."""

    material: str
    need: int
    from_stock: int
    from_on_order: tuple[tuple[date, int], ...]
    from_substitutes: tuple[tuple[str, int], ...]
    substituted: Fraction
    short: Fraction

    @property
    def covered(self) -> bool:
        return self.short == 0


@dataclass(frozen=True, slots=True)
class OrderKit:
    """What one work order was allocated, line by line (in the BOM's order)."""

    demand: OrderDemand
    lines: tuple[LineKit, ...]

    @property
    def kitted(self) -> bool:
        return all(line.covered for line in self.lines)

    @property
    def rate(self) -> Fraction:
        """Lines covered ÷ lines (exact)."""
        return _rate(sum(1 for line in self.lines if line.covered), len(self.lines))


@dataclass(frozen=True, slots=True)
class KitResult:
    """Every order's allocation, in the order they were served, and what is left of the supply."""

    orders: tuple[OrderKit, ...]
    remaining: Supply

    @property
    def kitted_rate(self) -> Fraction:
        """Kitted orders ÷ orders (exact)."""
        return _rate(sum(1 for order in self.orders if order.kitted), len(self.orders))

    @property
    def line_rate(self) -> Fraction:
        """Lines covered ÷ lines, over every order (exact)."""
        covered = total = 0
        for order in self.orders:
            total += len(order.lines)
            covered += sum(1 for line in order.lines if line.covered)
        return _rate(covered, total)


@dataclass(frozen=True, slots=True)
class Shortage:
    """`qty` base units of `sku` missing at `location` (the exact sum rounded up once), needed
    by `needed_by` (the earliest day any of it is needed)."""

    location: str
    sku: str
    qty: int
    needed_by: date
    exact: Fraction


@dataclass(frozen=True, slots=True)
class PlannedDemand:
    """What the shortages of a kitting call for: sub-assemblies still to make (net, at every
    level) and purchased materials to buy (the purchase suggestions), per (location, SKU)."""

    make: tuple[Shortage, ...]
    buy: tuple[Shortage, ...]


_ZERO = Fraction(0)


def _rate(part: int, whole: int) -> Fraction:
    return Fraction(part, whole) if whole else Fraction(1)


# ---------------------------------------------------------------------- BOMs, once each
@dataclass(frozen=True, slots=True)
class _LinePlan:
    material: str
    #: `production.line_need` of one base unit of the parent: a need is linear in the parent's
    #: quantity, so an order of n takes exactly n × per_unit (rounded up: `allowed_issue`)
    per_unit: Fraction
    substitutes: tuple[tuple[str, Fraction], ...]
    num: int = field(init=False)
    den: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "num", self.per_unit.numerator)
        object.__setattr__(self, "den", self.per_unit.denominator)


@dataclass(frozen=True, slots=True)
class _BomPlan:
    bom: Bom
    lines: tuple[_LinePlan, ...]


class _Plans:
    """Each (product, day)'s BOM in effect and its lines per unit, worked out once."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._plans: dict[tuple[str, date], _BomPlan | None] = {}

    def get(self, product: str, day: date) -> _BomPlan | None:
        key = (product, day)
        try:
            return self._plans[key]
        except KeyError:
            pass
        bom = self.catalog.bom_for(product, day)
        plan = None
        if bom is not None:
            plan = _BomPlan(
                bom,
                tuple(
                    _LinePlan(
                        line.sku, line_need(self.catalog, bom, line, 1), tuple(substitutes_on(line, day))
                    )
                    for line in bom.lines
                ),
            )
        self._plans[key] = plan
        return plan

    def require(self, product: str, day: date) -> _BomPlan:
        plan = self.get(product, day)
        if plan is None:
            raise BomError("no_bom", f"{product} has no BOM in effect on {day.isoformat()}")
        return plan


# ---------------------------------------------------------------------- the supply while allocating
class _Pool:
    """A working copy of a supply: allocations take from it, the caller's supply is untouched.
    Quantities may become fractions (planning nets exact demand)."""

    def __init__(self, supply: Supply) -> None:
        self.available: dict[StockKey, Fraction | int] = {
            key: qty for key, qty in supply.available.items() if qty > 0
        }
        self.on_order: dict[StockKey, deque[list]] = {}
        for key, lots in supply.on_order.items():
            kept = sorted((day, qty) for day, qty in lots if qty > 0)
            if kept:
                self.on_order[key] = deque([day, qty] for day, qty in kept)

    def take_stock(self, key: StockKey, wanted: Fraction | int) -> Fraction | int:
        have = self.available.get(key, 0)
        if have <= 0 or wanted <= 0:
            return 0
        taken = have if have < wanted else wanted
        self.available[key] = have - taken
        return taken

    def take_on_order(
        self, key: StockKey, wanted: Fraction | int, by: date
    ) -> list[tuple[date, Fraction | int]]:
        """Up to `wanted` from the lots arriving on or before `by`, earliest first."""
        lots = self.on_order.get(key)
        out: list[tuple[date, Fraction | int]] = []
        if not lots or wanted <= 0:
            return out
        for lot in lots:
            if lot[0] > by or wanted <= 0:
                break
            if lot[1] <= 0:
                continue
            taken = lot[1] if lot[1] < wanted else wanted
            lot[1] -= taken
            wanted -= taken
            out.append((lot[0], taken))
        while lots and lots[0][1] <= 0:
            lots.popleft()
        return out

    def take(self, key: StockKey, wanted: Fraction | int, by: date) -> Fraction | int:
        """Up to `wanted` from stock, then on-order by `by`: how much was taken."""
        taken = self.take_stock(key, wanted)
        for _day, qty in self.take_on_order(key, wanted - taken, by):
            taken += qty
        return taken

    def supply(self) -> Supply:
        return Supply(
            dict(self.available),
            {key: [(day, qty) for day, qty in lots] for key, lots in self.on_order.items() if lots},
        )


# ---------------------------------------------------------------------- kitting
def kit(catalog: Catalog, orders: Iterable[OrderDemand], supply: Supply) -> KitResult:
    """Allocate `supply` to `orders` in order of (due date, order id), line by line: the
    material's stock, its on-order by the due date, then the substitutes by priority (see the
    module's docstring). Raises `BomError` for an order whose product has no BOM on its
    `bom_day`."""
    plans = _Plans(catalog)
    pool = _Pool(supply)
    done = []
    for demand in sorted(orders, key=lambda o: (o.due, o.order)):
        plan = plans.require(demand.product, demand.bom_day)
        issued = issued_as_line(plan.bom, demand.issued, demand.bom_day) if demand.issued else None
        lines = tuple(_kit_line(pool, demand, line, issued) for line in plan.lines)
        done.append(OrderKit(demand, lines))
    return KitResult(tuple(done), pool.supply())


def _kit_line(
    pool: _Pool, demand: OrderDemand, line: _LinePlan, issued: dict[str, Fraction] | None
) -> LineKit:
    # production.allowed_issue: the order's exact need (qty × num ÷ den), rounded up once
    need = -(-demand.qty * line.num // line.den)
    if issued is not None:
        need = max(0, math.ceil(need - issued[line.material]))
    key = (demand.location, line.material)
    from_stock = pool.take_stock(key, need)
    from_on_order: tuple[tuple[date, int], ...] = ()
    missing = need - from_stock
    if missing > 0:
        from_on_order = tuple((day, int(qty)) for day, qty in pool.take_on_order(key, missing, demand.due))
        missing -= sum(qty for _day, qty in from_on_order)
    if missing <= 0 or not line.substitutes:
        return LineKit(line.material, need, int(from_stock), from_on_order, (), _ZERO, Fraction(missing))
    short = Fraction(missing)
    from_substitutes: list[tuple[str, int]] = []
    substituted = _ZERO
    for sku, ratio in line.substitutes:
        if short <= 0:
            break
        taken = pool.take((demand.location, sku), math.ceil(short * ratio), demand.due)
        if taken:
            covers = min(Fraction(taken) / ratio, short)
            from_substitutes.append((sku, int(taken)))
            substituted += covers
            short -= covers
    return LineKit(
        line.material, need, int(from_stock), from_on_order, tuple(from_substitutes), substituted, short
    )


# ---------------------------------------------------------------------- shortages
def shortages(result: KitResult) -> list[Shortage]:
    """What the kitting left short per (location, SKU): the exact sum over every order's lines,
    rounded up once, and the earliest due date among them; by (needed by, location, SKU)."""
    exact: dict[StockKey, Fraction] = {}
    needed_by: dict[StockKey, date] = {}
    for order in result.orders:
        for line in order.lines:
            if line.short > 0:
                _add(exact, needed_by, (order.demand.location, line.material), line.short, order.demand.due)
    return _listed(exact, needed_by)


def _add(
    exact: dict[StockKey, Fraction], needed_by: dict[StockKey, date], key: StockKey, qty: Fraction, by: date
) -> None:
    exact[key] = exact.get(key, Fraction(0)) + qty
    if key not in needed_by or by < needed_by[key]:
        needed_by[key] = by


def _listed(exact: dict[StockKey, Fraction], needed_by: dict[StockKey, date]) -> list[Shortage]:
    out = [
        Shortage(location, sku, math.ceil(qty), needed_by[(location, sku)], qty)
        for (location, sku), qty in exact.items()
        if qty > 0
    ]
    out.sort(key=lambda s: (s.needed_by, s.location, s.sku))
    return out


@dataclass(frozen=True, slots=True)
class _Demand:
    needed_by: date
    order: str
    location: str
    sku: str
    day: date  # whose BOM versions apply
    qty: Fraction


def planned_demand(catalog: Catalog, result: KitResult) -> PlannedDemand:
    """The dependent demand of what `result` left short (see the module's docstring): short
    sub-assemblies exploded level by level and netted against `result.remaining`, down to the
    purchased materials, whose net shortages are the purchase suggestions. Raises `BomError`
    when the explosion goes deeper than `production.MAX_LEVELS` levels."""
    plans = _Plans(catalog)
    pool = _Pool(result.remaining)
    make: dict[StockKey, Fraction] = {}
    make_by: dict[StockKey, date] = {}
    buy: dict[StockKey, Fraction] = {}
    buy_by: dict[StockKey, date] = {}
    # level 0: the kitting's own shortages are already net of the supply
    frontier: list[_Demand] = []
    for order in result.orders:
        demand = order.demand
        for line in order.lines:
            if line.short > 0:
                frontier.append(
                    _Demand(
                        demand.due, demand.order, demand.location, line.material, demand.bom_day, line.short
                    )
                )
    depth = 0
    netted = False
    while frontier:
        if depth > MAX_LEVELS:
            raise BomError("bom_too_deep", f"dependent demand deeper than {MAX_LEVELS} levels")
        frontier.sort(key=lambda d: (d.needed_by, d.order, d.sku))
        below: list[_Demand] = []
        for need in frontier:
            key = (need.location, need.sku)
            missing = need.qty - pool.take(key, need.qty, need.needed_by) if netted else need.qty
            if missing <= 0:
                continue
            plan = plans.get(need.sku, need.day)
            if plan is None:
                _add(buy, buy_by, key, missing, need.needed_by)
                continue
            _add(make, make_by, key, missing, need.needed_by)
            for line in plan.lines:
                below.append(
                    _Demand(
                        need.needed_by,
                        need.order,
                        need.location,
                        line.material,
                        need.day,
                        missing * line.per_unit,
                    )
                )
        frontier = below
        netted = True
        depth += 1
    return PlannedDemand(tuple(_listed(make, make_by)), tuple(_listed(buy, buy_by)))
