"""`replenish`: transfer and purchase suggestions from live stock, recent demand and forecasts.

Inputs, per location × SKU:

* stock from the stream workers' HTTP API (seconds fresh, so an approved transfer is counted as
  soon as the stream has booked it): on hand less quarantine, reserved, in transit, and what each
  batch can give with its expiry;
* daily demand of the last 28 days from the warehouse (`fct_daily_demand`), and what each
  location transferred out to others on those days (a warehouse's stores take from it);
* what recipes took from each ingredient on those days (dishes sold, semi-finished items made);
* the latest effective forecast (a reviewer's override where there is one) from planning, the
  dishes' exploded day by day into their ingredients through the recipes in effect;
* on order: open purchase order lines in the warehouse (`fct_purchase_orders`), plus approved
  purchase suggestions whose orders have not reached the warehouse yet;
* lead times observed per supplier (order to first receipt, last 90 days).

The use case is `stockflow.services.planning.run_replenishment`, the rules and the maths the
core's (`stockflow.replenishment`); this flow hands it its adapters. Suggestions are stored in
planning as proposed, and the proposals of earlier runs expire.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from infra.worker_client import WorkerClient
from stockflow.config import get_settings
from stockflow.masterdata import Catalog, LocationKind
from stockflow.replenishment import (
    DEFAULT_RADIUS_KM,
    DEFAULT_REVIEW_DAYS,
    DEFAULT_SERVICE_LEVEL,
    BatchCount,
    StockCount,
)
from stockflow.services.planning import run_replenishment
from stores.demand import open_warehouse_demand
from stores.planning import Planning
from stores.production import open_warehouse_production


class WorkerStock:
    """Live stock from the stream workers' HTTP API (the `LiveStock` port)."""

    def __init__(self, workers: WorkerClient) -> None:
        self.workers = workers

    def stock(self, locations: Sequence[str]) -> dict[tuple[str, str], StockCount]:
        out = {}
        for location in locations:
            for item in self.workers.stock(location)["items"]:
                out[(location, item["sku"])] = stock_count(item)
        return out


def stock_count(item: dict[str, Any]) -> StockCount:
    """One SKU's stock as `GET /stock/<location>` lists it."""
    return StockCount(
        on_hand=item["on_hand"],
        quarantined=item["quarantined"],
        reserved=item["reserved"],
        in_transit=item["in_transit"],
        batches=tuple(
            BatchCount(
                b["batch"],
                b["on_hand"],
                b["quarantined"],
                b["reserved"],
                date.fromisoformat(b["expiry_date"]) if b.get("expiry_date") else None,
            )
            for b in item["batches"]
        ),
    )


@task(cache_policy=NO_CACHE)
def plan_and_store(
    var_dir: str, web_url: str, service_level: float, review_days: int, radius_km: float
) -> dict[str, Any]:
    root = Path(var_dir)
    catalog = Catalog.load(root / "masterdata.json")
    makes = any(loc.kind is LocationKind.PLANT for loc in catalog.locations.values()) and bool(catalog.boms)
    with open_warehouse_demand(root) as demand, open_warehouse_production(root) as production:
        return run_replenishment(
            Planning(root),
            demand,
            WorkerStock(WorkerClient(web_url)),
            catalog,
            service_level=service_level,
            review_days=review_days,
            radius_km=radius_km,
            production=production if makes else None,
        )


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
