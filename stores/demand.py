"""What planning reads from the warehouse (read-only): daily demand with the days without it as
zeros, the last business day, and the purchase order lines.

`daily_demand` is the one query that fills a series' days without demand with zeros; every
reader of daily demand (forecasting, replenishment, forecast accuracy, the dashboards) uses it.
`WarehouseDemand` is the planning use cases' demand port over one warehouse connection, so that
everything a run reads comes from the same build.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path

import duckdb
import pandas as pd

from stockflow.replenishment import PurchaseOrderLine
from stores import warehouse


class Outflow(StrEnum):
    """What leaves a location's stock per day."""

    #: Sold at the tills and issued against B2B orders (`fct_daily_demand`).
    DEMAND = "demand"
    #: Till sales per sales channel, for the store × SKU pairs sold through more than one.
    CHANNEL_DEMAND = "channel_demand"
    #: Transferred to other locations.
    TRANSFERS_OUT = "transfers_out"
    #: Taken by recipes: the ingredients of the dishes sold at the tills (less what refunds of
    #: untouched dishes gave back) and of the semi-finished items prepped.
    RECIPE_USE = "recipe_use"


_RECORDED = {
    Outflow.DEMAND: "SELECT location_id, sku_id, '' AS channel, business_date, units FROM fct_daily_demand",
    Outflow.CHANNEL_DEMAND: """
        SELECT location_id, sku_id, channel, business_date, units FROM fct_daily_channel_demand
        QUALIFY count(DISTINCT channel) OVER (PARTITION BY location_id, sku_id) > 1""",
    Outflow.TRANSFERS_OUT: """
        SELECT location_id, sku_id, '' AS channel, business_date, sum(-on_hand_delta) AS units
        FROM fct_stock_movements WHERE event_type = 'transfer_out' AND on_hand_delta < 0
        GROUP BY ALL""",
    # a recipe's rows name their dish or semi-finished item; the item's own rows (a dish's
    # portions, a prep's output) are not taken from stock
    Outflow.RECIPE_USE: """
        SELECT location_id, sku_id, '' AS channel, business_date, greatest(0, sum(-on_hand_delta)) AS units
        FROM fct_stock_movements
        WHERE event_type IN ('pos_sale', 'pos_return', 'prep_produced') AND dish_sku_id <> sku_id
        GROUP BY ALL""",
}


def daily_demand(
    con: duckdb.DuckDBPyConnection,
    through: date,
    *,
    since: date | None = None,
    series: Sequence[tuple[str, str]] | None = None,
    dense: bool = False,
    outflow: Outflow = Outflow.DEMAND,
) -> pd.DataFrame:
    """Units per series and day up to `through`, 0 on a day without any: one row per location ×
    SKU (× channel for `Outflow.CHANNEL_DEMAND`) and day, columns location, sku, [channel,] day
    (a date) and units (a float), in that order.

    The series are the `series` given (location, SKU pairs: then `dense` must be set), else every
    one with units between `since` (or the beginning) and `through`. With `dense` every series
    has every day from `since`; without, each starts on its first day with units on or after
    `since`."""
    if dense and since is None:
        raise ValueError("a dense frame needs its first day")
    if series is not None and not dense:
        raise ValueError("the series given have every day from `since`: set `dense`")
    recorded = f"SELECT * FROM ({_RECORDED[outflow]}) WHERE business_date <= ?"
    params: list[object] = [through]
    if since is not None:
        recorded += " AND business_date >= ?"
        params.append(since)
    first_day = "CAST(? AS DATE)" if dense else "min(business_date)"
    if series is not None:
        wanted = pd.DataFrame(list(series), columns=["location_id", "sku_id"], dtype=object)
        con.register("wanted_series", wanted)
        bounds = (
            f"SELECT DISTINCT location_id, sku_id, '' AS channel, {first_day} AS first_day FROM wanted_series"
        )
    else:
        bounds = f"SELECT location_id, sku_id, channel, {first_day} AS first_day FROM recorded GROUP BY ALL"
    if dense:
        params.append(since)
    params.append(through)
    try:
        frame = con.execute(
            f"""
            WITH recorded AS ({recorded}), bounds AS ({bounds})
            SELECT b.location_id AS location, b.sku_id AS sku, b.channel, CAST(d.day AS DATE) AS day,
                   coalesce(r.units, 0)::DOUBLE AS units
            FROM bounds AS b, range(b.first_day, CAST(? AS DATE) + 1, INTERVAL 1 DAY) AS d(day)
            LEFT JOIN recorded AS r ON r.location_id = b.location_id AND r.sku_id = b.sku_id
                AND r.channel = b.channel AND r.business_date = CAST(d.day AS DATE)
            ORDER BY 1, 2, 3, 4
            """,
            params,
        ).df()
    finally:
        if series is not None:
            con.unregister("wanted_series")
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame if outflow is Outflow.CHANNEL_DEMAND else frame.drop(columns=["channel"])


def last_business_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last business day the warehouse has balances for (None before any)."""
    return con.execute("SELECT max(business_date) FROM fct_daily_stock_balances").fetchall()[0][0]


def demand_days(con: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
    """The first and last day with recorded demand (None before any)."""
    first, last = con.execute(
        "SELECT min(business_date), max(business_date) FROM fct_daily_demand"
    ).fetchall()[0]
    return None if first is None else (first, last)


def stockout_days(con: duckdb.DuckDBPyConnection, through: date) -> pd.DataFrame:
    """The days up to `through` a location closed with none of a SKU on hand: location, sku,
    day (its demand that day was at least what it sold, not what it sold)."""
    return con.execute(
        "SELECT location_id AS location, sku_id AS sku, business_date AS day FROM int_location_sku_days"
        " WHERE closing_qty <= 0 AND business_date <= ? ORDER BY location, sku, day",
        [through],
    ).df()


def purchase_order_lines(con: duckdb.DuckDBPyConnection) -> list[PurchaseOrderLine]:
    """Every purchase order line: open units, supplier, observed lead time and order date."""
    return [
        PurchaseOrderLine(po, location, sku, int(open_units or 0), supplier, lead_days, order_date)
        for po, location, sku, open_units, supplier, lead_days, order_date in con.execute(
            "SELECT purchase_order_id, location_id, sku_id, open_units, supplier_id, lead_time_days,"
            " order_date FROM fct_purchase_orders"
        ).fetchall()
    ]


class WarehouseDemand:
    """The planning use cases' demand port, over one read-only warehouse connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def last_business_day(self) -> date | None:
        return last_business_day(self.con)

    def demand_days(self) -> tuple[date, date] | None:
        return demand_days(self.con)

    def stockout_days(self, through: date) -> pd.DataFrame:
        return stockout_days(self.con, through)

    def daily_demand(
        self,
        through: date,
        *,
        since: date | None = None,
        series: Sequence[tuple[str, str]] | None = None,
        dense: bool = False,
        by_channel: bool = False,
    ) -> pd.DataFrame:
        outflow = Outflow.CHANNEL_DEMAND if by_channel else Outflow.DEMAND
        return daily_demand(self.con, through, since=since, series=series, dense=dense, outflow=outflow)

    def daily_transfers_out(self, since: date, through: date) -> pd.DataFrame:
        return daily_demand(self.con, through, since=since, dense=True, outflow=Outflow.TRANSFERS_OUT)

    def daily_recipe_use(self, since: date, through: date) -> pd.DataFrame:
        return daily_demand(self.con, through, since=since, outflow=Outflow.RECIPE_USE)

    def purchase_order_lines(self) -> list[PurchaseOrderLine]:
        return purchase_order_lines(self.con)


@contextmanager
def open_warehouse_demand(var_dir: Path) -> Iterator[WarehouseDemand]:
    """The demand port over the current warehouse, read-only (a build renames a new file over it:
    this connection keeps reading the one it opened)."""
    with duckdb.connect(str(warehouse.warehouse_path(var_dir)), read_only=True) as con:
        yield WarehouseDemand(con)
