"""The warehouse as production's records (`stockflow.services.production.ProductionRecords`):
open work orders and what was issued to them (fct_work_orders, fct_work_order_materials),
each batch's latest position as of the last build (fct_stock_movements), and purchase order
lines still open (fct_purchase_orders). What is available and when a purchase is due are the
core's rules (stockflow.services.production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from stockflow.services.production import BatchPosition, OpenPurchase, OpenWorkOrder
from stores import warehouse


class WarehouseProduction:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

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

    def stock_positions(self) -> list[BatchPosition]:
        rows = self.con.execute(
            """
            SELECT location_id, sku_id, batch_id, on_hand_after, reserved_after, quarantined_after
            FROM fct_stock_movements
            QUALIFY row_number() OVER (PARTITION BY location_id, sku_id, batch_id ORDER BY apply_seq DESC) = 1
            """
        ).fetchall()
        return [
            BatchPosition(location, sku, batch or "", int(on_hand), int(reserved), int(quarantined))
            for location, sku, batch, on_hand, reserved, quarantined in rows
        ]

    def open_purchases(self) -> list[OpenPurchase]:
        return [
            OpenPurchase(location, sku, supplier or "", int(units), order_date, expected)
            for location, sku, supplier, units, order_date, expected in self.con.execute(
                "SELECT location_id, sku_id, supplier_id, open_units, order_date, expected_date"
                " FROM fct_purchase_orders WHERE open_units > 0"
            ).fetchall()
        ]


@contextmanager
def open_warehouse_production(var_dir: Path) -> Iterator[WarehouseProduction]:
    """The production records over the current warehouse, read-only."""
    with duckdb.connect(str(warehouse.warehouse_path(var_dir)), read_only=True) as con:
        yield WarehouseProduction(con)
