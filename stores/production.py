"""The warehouse as production's records (`stockflow.services.production.ProductionRecords`):
open work orders and what was issued to them (fct_work_orders, fct_work_order_materials),
stock available as of the last build (each batch's latest position in fct_stock_movements),
and purchase order lines still open (fct_purchase_orders)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import duckdb

from stockflow.masterdata import Catalog
from stockflow.services.production import OpenPurchase, OpenWorkOrder, StockKey
from stores import warehouse


class WarehouseProduction:
    def __init__(self, con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
        self.con = con
        self.catalog = catalog

    def open_work_orders(self) -> list[OpenWorkOrder]:
        orders = self.con.execute(
            "SELECT work_order_id, location_id, product_sku_id, ordered_units, received_units, due_date,"
            " bom_date FROM fct_work_orders WHERE status <> 'closed' ORDER BY due_date, work_order_id"
        ).fetchall()
        issued: dict[str, dict[str, int]] = {}
        if orders:  # each view read once: the materials of these orders only
            for order, sku, units in self.con.execute(
                "SELECT work_order_id, sku_id, issued_units FROM fct_work_order_materials"
                " WHERE work_order_id IN (SELECT unnest(?::VARCHAR[]))",
                [[o[0] for o in orders]],
            ).fetchall():
                issued.setdefault(order, {})[sku] = int(units)
        return [
            OpenWorkOrder(
                order, location, product, int(ordered), int(received), due, bom_day, issued.get(order, {})
            )
            for order, location, product, ordered, received, due, bom_day in orders
        ]

    def available_stock(self) -> dict[StockKey, int]:
        rows = self.con.execute(
            """
            SELECT location_id, sku_id,
                   sum(greatest(on_hand_after - reserved_after - quarantined_after, 0)) AS available
            FROM (
                SELECT location_id, sku_id, batch_id, on_hand_after, reserved_after, quarantined_after
                FROM fct_stock_movements
                QUALIFY row_number() OVER (PARTITION BY location_id, sku_id, batch_id ORDER BY apply_seq DESC) = 1
            )
            GROUP BY ALL
            """
        ).fetchall()
        return {(location, sku): int(units) for location, sku, units in rows if units}

    def open_purchases(self) -> list[OpenPurchase]:
        out = []
        for location, sku, supplier, units, order_date, expected in self.con.execute(
            "SELECT location_id, sku_id, supplier_id, open_units, order_date, expected_date"
            " FROM fct_purchase_orders WHERE open_units > 0"
        ).fetchall():
            known = self.catalog.suppliers.get(supplier)
            due = expected or order_date + timedelta(days=known.lead_time_days if known else 0)
            out.append(OpenPurchase(location, sku, int(units), due))
        return out


@contextmanager
def open_warehouse_production(var_dir: Path, catalog: Catalog) -> Iterator[WarehouseProduction]:
    """The production records over the current warehouse, read-only."""
    with duckdb.connect(str(warehouse.warehouse_path(var_dir)), read_only=True) as con:
        yield WarehouseProduction(con, catalog)
