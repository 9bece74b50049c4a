"""Production's use case: the kitting report (齐套分析) of the open work orders.

Written against one port, `ProductionRecords`: the open work orders with what was issued to
them, the stock available per location × SKU, and the purchase orders still to arrive with
the day each is due. The adapter (the warehouse, `stores.production`) is handed in by the
entry points (the production page, the CLI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Protocol

from stockflow.kitting import (
    KitResult,
    OrderDemand,
    PlannedDemand,
    Shortage,
    Supply,
    available_units,
    kit,
    planned_demand,
    shortages,
)
from stockflow.masterdata import Catalog, LocationKind
from stockflow.replenishment import OrderSuggestion, Plan

StockKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class OpenWorkOrder:
    """A work order not closed: its whole quantity (base units), what came in of it, when it
    is due, its BOM day, and the base units issued to it per SKU."""

    order: str
    location: str
    product: str
    ordered: int
    received: int
    due: date
    bom_day: date
    issued: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class OpenPurchase:
    """Units of a purchase order line still to arrive (base units), the order's day and the
    day it is expected (None: not given)."""

    location: str
    sku: str
    supplier: str
    open_units: int
    order_date: date
    expected_date: date | None = None

    def due(self, catalog: Catalog) -> date:
        """The day it is due: the expected day, else the order's day plus the supplier's lead
        time (an unknown supplier: the order's day)."""
        if self.expected_date is not None:
            return self.expected_date
        supplier = catalog.suppliers.get(self.supplier)
        return self.order_date + timedelta(days=supplier.lead_time_days if supplier else 0)


@dataclass(frozen=True, slots=True)
class BatchPosition:
    """A batch's latest position at a location, in base units."""

    location: str
    sku: str
    batch: str
    on_hand: int
    reserved: int
    quarantined: int


class ProductionRecords(Protocol):
    def open_work_orders(self) -> Sequence[OpenWorkOrder]: ...

    def stock_positions(self) -> Sequence[BatchPosition]: ...

    def open_purchases(self) -> Sequence[OpenPurchase]: ...


@dataclass(frozen=True, slots=True)
class KittingReport:
    """The allocation (`stockflow.kitting.kit`), the shortages per location × SKU, and the
    short sub-assemblies to make and purchased materials to buy (dependent demand)."""

    result: KitResult
    shortages: list[Shortage]
    planned: PlannedDemand
    horizon: date | None


def kitting_report(
    catalog: Catalog, records: ProductionRecords, today: date, horizon_days: int | None = None
) -> KittingReport:
    """Kit every open work order due within `horizon_days` of `today` (all of them: None; an
    overdue one always) that still has something to make, against the stock available now and
    the purchases due by each order's day. A whole order is kitted against what it may still
    issue: its quantity's need less what was issued to it (a received part took its share)."""
    horizon = today + timedelta(days=horizon_days) if horizon_days is not None else None
    open_orders = list(records.open_work_orders())
    orders = [
        OrderDemand(wo.order, wo.location, wo.product, wo.ordered, wo.due, wo.bom_day, dict(wo.issued))
        for wo in open_orders
        if wo.received < wo.ordered
        and (horizon is None or wo.due <= horizon)
        and catalog.bom_for(wo.product, wo.bom_day) is not None
    ]
    result = kit(catalog, orders, _supply(catalog, records, open_orders))
    return KittingReport(result, shortages(result), planned_demand(catalog, result), horizon)


@dataclass(frozen=True, slots=True)
class ProductionPlan:
    """A replenishment plan with production in it: the purchase orders (what the reorder
    points propose for bought items, plus the materials short for the work orders), the made
    items' proposals turned into planned work orders, and their kitting."""

    plan: Plan
    planned_orders: list[OrderDemand]
    report: KittingReport


def with_production(catalog: Catalog, plan: Plan, records: ProductionRecords, today: date) -> ProductionPlan:
    """Material requirements in a replenishment plan (MRP). An item made at a location (a BOM
    in effect, at a plant) is not bought there: the quantity the plan proposes becomes a
    planned work order due on its expected arrival; at another location a made item comes by
    transfer, not by purchase. The released work orders and the planned ones are kitted (the
    earlier due first); the purchased materials they are short of (dependent demand exploded
    through the BOM levels, netted against stock and purchases due) are added to the purchase
    orders, each due the day it is needed by and ordered its supplier's lead time before (not
    before `today`)."""
    planned: list[OrderDemand] = []
    orders = []
    for order in plan.orders:
        if catalog.bom_for(order.sku, today) is None:
            orders.append(order)
            continue
        location = catalog.locations.get(order.location)
        if location is not None and location.kind is LocationKind.PLANT:
            planned.append(
                OrderDemand(
                    f"PLAN-{order.location}-{order.sku}",
                    order.location,
                    order.sku,
                    order.quantity,
                    order.expected_arrival,
                    today,
                    planned=True,
                )
            )
    open_orders = list(records.open_work_orders())
    released = [
        OrderDemand(wo.order, wo.location, wo.product, wo.ordered, wo.due, wo.bom_day, dict(wo.issued))
        for wo in open_orders
        if wo.received < wo.ordered and catalog.bom_for(wo.product, wo.bom_day) is not None
    ]
    supply = _supply(catalog, records, open_orders)
    available, arriving = supply.available, supply.on_order
    result = kit(catalog, [*released, *planned], supply)
    report = KittingReport(result, shortages(result), planned_demand(catalog, result), None)
    by_key = {(o.location, o.sku): o for o in orders}
    for short in report.planned.buy:
        sku = catalog.skus.get(short.sku)
        if sku is None:
            continue
        supplier = catalog.suppliers.get(sku.supplier or "")
        lead = timedelta(days=supplier.lead_time_days if supplier else 0)
        order_by = max(short.needed_by - lead, today)
        key = (short.location, short.sku)
        position = available.get(key, 0) + sum(q for _, q in arriving.get(key, ()))
        known = by_key.get(key)
        if known is not None:  # its own reorder point and the work orders' need together
            by_key[key] = replace(
                known,
                quantity=known.quantity + short.qty,
                order_by=min(known.order_by, order_by),
                expected_arrival=min(known.expected_arrival, short.needed_by),
            )
        else:
            by_key[key] = OrderSuggestion(
                short.location,
                short.sku,
                sku.supplier or "",
                short.qty,
                order_by,
                max(short.needed_by, order_by),
                position,
                0,
                0.0,
            )
    merged = [by_key[(o.location, o.sku)] for o in orders]
    merged += [s for key, s in by_key.items() if key not in {(o.location, o.sku) for o in orders}]
    return ProductionPlan(Plan(plan.series, merged, plan.transfers), planned, report)


def _supply(catalog: Catalog, records: ProductionRecords, open_orders: Sequence[OpenWorkOrder]) -> Supply:
    """What work orders may take: the stock available now (each batch's available units, per
    location × SKU), and what arrives by a day: the open units of purchase order lines on their
    due day, and the units open work orders still have to make (a sub-assembly's own orders)
    on their due day."""
    available: dict[StockKey, int] = {}
    for pos in records.stock_positions():
        units = available_units(pos.on_hand, pos.reserved, pos.quarantined)
        if units:
            available[pos.location, pos.sku] = available.get((pos.location, pos.sku), 0) + units
    arriving: dict[StockKey, list[tuple[date, int]]] = {}
    for purchase in records.open_purchases():
        if purchase.open_units > 0:
            arriving.setdefault((purchase.location, purchase.sku), []).append(
                (purchase.due(catalog), purchase.open_units)
            )
    for wo in open_orders:
        if wo.received < wo.ordered:
            arriving.setdefault((wo.location, wo.product), []).append((wo.due, wo.ordered - wo.received))
    return Supply(available, {k: sorted(v) for k, v in arriving.items()})
