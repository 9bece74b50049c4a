"""`replenish`: transfer and purchase suggestions from live stock, recent demand and forecasts.

Inputs, per location × SKU:

* stock from the stream workers' HTTP API (seconds fresh, so an approved transfer is counted as
  soon as the stream has booked it): on hand less quarantine, reserved, in transit, and what each
  batch can give with its expiry;
* daily demand of the last 28 days from the warehouse (`fct_daily_demand`), and what each
  location transferred out to others on those days (a warehouse's stores take from it);
* the latest effective forecast (a reviewer's override where there is one) from planning;
* on order: open purchase order lines in the warehouse (`fct_purchase_orders`), plus approved
  purchase suggestions whose orders have not reached the warehouse yet;
* lead times observed per supplier (order to first receipt, last 90 days).

The maths is the core's (`stockflow.replenishment.plan`); suggestions are stored in planning as
proposed, and the proposals of earlier runs expire.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from infra.worker_client import request_json
from stockflow.config import get_settings
from stockflow.masterdata import Catalog
from stockflow.replenishment import (
    DEFAULT_RADIUS_KM,
    DEFAULT_REVIEW_DAYS,
    DEFAULT_SERVICE_LEVEL,
    DEMAND_DAYS,
    BatchStock,
    SeriesInput,
    StockPosition,
    plan,
)
from stores import warehouse
from stores.planning import Planning

LEAD_TIME_DAYS_OBSERVED = 90
#: Demand is the forecast's mean over the next two weeks (a lead time and a review period).
FORECAST_DAYS = 14


def live_stock(web_url: str, locations: Iterable[str]) -> dict[tuple[str, str], tuple[StockPosition, tuple]]:
    """(position, batches that can be given) per location × SKU, from the stream."""
    out = {}
    for location in locations:
        for item in request_json(f"{web_url}/stock/{location}")["items"]:
            position = StockPosition(
                on_hand=item["on_hand"] - item["quarantined"],
                reserved=item["reserved"],
                in_transit=item["in_transit"],
            )
            batches = tuple(
                BatchStock(
                    b["batch"],
                    b["on_hand"] - b["quarantined"] - b["reserved"],
                    date.fromisoformat(b["expiry_date"]) if b.get("expiry_date") else None,
                )
                for b in item["batches"]
                if b["on_hand"] - b["quarantined"] - b["reserved"] > 0
            )
            out[(location, item["sku"])] = (position, batches)
    return out


def warehouse_inputs(var_dir: Path, approved: list[tuple[str, str, str, int]]) -> dict[str, Any]:
    """Demand history, on order and observed lead times from the warehouse (read-only)."""
    with duckdb.connect(str(warehouse.warehouse_path(var_dir)), read_only=True) as con:
        last_day = con.execute("SELECT max(business_date) FROM fct_daily_stock_balances").fetchall()[0][0]
        history: dict[tuple[str, str], list[float]] = {}
        for location, sku, units in con.execute(
            """
            WITH recent AS (
                SELECT location_id, sku_id, business_date, units FROM fct_daily_demand
                WHERE business_date > CAST(? AS DATE) - ?
            ),
            bounds AS (SELECT location_id, sku_id, min(business_date) AS first_day FROM recent GROUP BY ALL)
            SELECT b.location_id, b.sku_id, list(coalesce(r.units, 0)::DOUBLE ORDER BY d.day)
            FROM bounds AS b, range(b.first_day, CAST(? AS DATE) + 1, INTERVAL 1 DAY) AS d(day)
            LEFT JOIN recent AS r ON r.location_id = b.location_id AND r.sku_id = b.sku_id
                AND r.business_date = CAST(d.day AS DATE)
            GROUP BY ALL
            """,
            [last_day, DEMAND_DAYS, last_day],
        ).fetchall():
            history[(location, sku)] = units
        transfers_out: dict[tuple[str, str], list[float]] = {}
        for location, sku, units in con.execute(
            """
            WITH sent AS (
                SELECT location_id, sku_id, business_date, sum(-on_hand_delta) AS units
                FROM fct_stock_movements
                WHERE event_type = 'transfer_out' AND on_hand_delta < 0
                  AND business_date > CAST(? AS DATE) - ? AND business_date <= ?
                GROUP BY ALL
            ),
            pairs AS (SELECT DISTINCT location_id, sku_id FROM sent)
            SELECT p.location_id, p.sku_id, list(coalesce(s.units, 0)::DOUBLE ORDER BY d.day)
            FROM pairs AS p,
                range(CAST(? AS DATE) - ? + 1, CAST(? AS DATE) + 1, INTERVAL 1 DAY) AS d(day)
            LEFT JOIN sent AS s ON s.location_id = p.location_id AND s.sku_id = p.sku_id
                AND s.business_date = CAST(d.day AS DATE)
            GROUP BY ALL
            """,
            [last_day, DEMAND_DAYS, last_day, last_day, DEMAND_DAYS, last_day],
        ).fetchall():
            transfers_out[(location, sku)] = units
        orders = con.execute(
            "SELECT purchase_order_id, location_id, sku_id, open_units, supplier_id, lead_time_days,"
            " order_date FROM fct_purchase_orders"
        ).fetchall()
    on_order: dict[tuple[str, str], int] = {}
    lead_times: dict[str, list[float]] = {}
    known = set()
    for po, location, sku, open_units, supplier, lead_days, order_date in orders:
        known.add(po)
        if open_units:
            on_order[(location, sku)] = on_order.get((location, sku), 0) + int(open_units)
        if lead_days is not None and order_date > last_day - timedelta(days=LEAD_TIME_DAYS_OBSERVED):
            lead_times.setdefault(supplier, []).append(float(lead_days))
    for po, location, sku, units in approved:  # approved here, not landed in the warehouse yet
        if po not in known:
            on_order[(location, sku)] = on_order.get((location, sku), 0) + int(units)
    return {
        "last_day": last_day,
        "history": history,
        "transfers_out": transfers_out,
        "on_order": on_order,
        "lead_times": lead_times,
    }


@task(cache_policy=NO_CACHE)
def plan_and_store(
    var_dir: str, web_url: str, service_level: float, review_days: int, radius_km: float
) -> dict[str, Any]:
    root = Path(var_dir)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    catalog = Catalog.load(root / "masterdata.json")
    planning = Planning(root)
    inputs = warehouse_inputs(root, planning.approved_purchase_orders())
    last_day = inputs["last_day"]
    if last_day is None:
        return {"series": 0, "orders": 0, "transfers": 0, "expired": 0, "seconds": 0.0}
    stock = live_stock(web_url, sorted(catalog.locations))
    forecast = planning.forecast_means(last_day + timedelta(days=1), FORECAST_DAYS)
    keys = sorted(
        set(stock) | set(inputs["history"]) | set(inputs["transfers_out"]) | set(inputs["on_order"])
    )
    items = []
    for key in keys:
        position, batches = stock.get(key, (StockPosition(0), ()))
        position = StockPosition(
            position.on_hand, position.reserved, position.in_transit, inputs["on_order"].get(key, 0)
        )
        items.append(
            SeriesInput(
                key[0],
                key[1],
                inputs["history"].get(key, []),
                position,
                forecast.get(key),
                batches,
                inputs["transfers_out"].get(key, []),
            )
        )
    result = plan(
        catalog,
        items,
        last_day,
        inputs["lead_times"],
        service_level=service_level,
        review_days=review_days,
        radius_km=radius_km,
    )
    run_id = f"replenish-{time.time_ns()}"
    stored = planning.store_plan(run_id, started_at, last_day, result)
    return {"run_id": run_id, **stored, "seconds": round(time.perf_counter() - started, 2)}


@flow(name="replenish")
def replenish(
    var_dir: str | None = None,
    web_url: str | None = None,
    service_level: float = DEFAULT_SERVICE_LEVEL,
    review_days: int = DEFAULT_REVIEW_DAYS,
    radius_km: float = DEFAULT_RADIUS_KM,
) -> dict[str, Any]:
    """Propose transfers and purchase orders for every location × SKU; earlier proposals expire."""
    settings = get_settings()
    summary = plan_and_store(
        str(Path(var_dir) if var_dir else settings.var_dir),
        web_url or settings.web_url,
        service_level,
        review_days,
        radius_km,
    )
    get_run_logger().info(
        "%s series planned in %.1fs: %s purchase orders and %s transfers proposed, %s earlier expired",
        summary["series"],
        summary["seconds"],
        summary["orders"],
        summary["transfers"],
        summary["expired"],
    )
    return summary
