"""Production's use case: the kitting report (齐套分析) of the open work orders.

Written against one port, `ProductionRecords`: the open work orders with what was issued to
them, the stock available per location × SKU, and the purchase orders still to arrive with
the day each is due. The adapter (the warehouse, `stores.production`) is handed in by the
entry points (the production page, the CLI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from stockflow.kitting import (
    KitResult,
    OrderDemand,
    PlannedDemand,
    Shortage,
    Supply,
    kit,
    planned_demand,
    shortages,
)
from stockflow.masterdata import Catalog

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
    """Units of a purchase order line still to arrive, and the day they are due: the order's
    expected date, else its day plus the supplier's lead time."""

    location: str
    sku: str
    open_units: int
    due: date


class ProductionRecords(Protocol):
    def open_work_orders(self) -> Sequence[OpenWorkOrder]: ...

    def available_stock(self) -> Mapping[StockKey, int]: ...

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
    orders = [
        OrderDemand(wo.order, wo.location, wo.product, wo.ordered, wo.due, wo.bom_day, dict(wo.issued))
        for wo in records.open_work_orders()
        if wo.received < wo.ordered
        and (horizon is None or wo.due <= horizon)
        and catalog.bom_for(wo.product, wo.bom_day) is not None
    ]
    arriving: dict[StockKey, list[tuple[date, int]]] = {}
    for purchase in records.open_purchases():
        if purchase.open_units > 0:
            arriving.setdefault((purchase.location, purchase.sku), []).append(
                (purchase.due, purchase.open_units)
            )
    supply = Supply(dict(records.available_stock()), {k: sorted(v) for k, v in arriving.items()})
    result = kit(catalog, orders, supply)
    return KittingReport(result, shortages(result), planned_demand(catalog, result), horizon)
