"""Restaurant benchmark: till tickets of dishes made to recipes (8 ingredients each, taken
first-expired-first-out from batches) against tickets of plain SKUs, in the same run.

Figures:

* core: `StockProcessor.process` (ledger, alert rules) on 20,000 tickets of two lines;
  baseline: the same number of tickets selling plain SKUs.
* stream: the same tickets already on an embedded broker, consumed and fully processed by one
  worker (parse, ledger, lake, inventory_changed); baseline: the plain tickets on a fresh broker
  and lake, with the same worker.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.pipeline import Figure, free_port, produce_all, report_and_save, seconds_to_handle
from cli.supervisor import start_worker
from infra.processes import stop_process, wait_for_http
from stockflow.config import Settings
from stockflow.events import GoodsReceipt, PosLine, PosSale, encode_event
from stockflow.masterdata import (
    Catalog,
    Location,
    LocationKind,
    NegativeStockPolicy,
    Recipe,
    RecipeComponent,
    Sku,
    SkuKind,
    Supplier,
)
from stockflow.processing import StockProcessor
from streams.broker import EmbeddedBroker, ensure_topics

INGREDIENTS = 48
DISHES = 24
PER_DISH = 8
STORES = ("R01", "R02", "R03", "R04")
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _gtin(n: int) -> str:
    body = f"690{n:09d}"
    digits = [int(c) for c in body]
    check = (10 - sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits))) % 10) % 10
    return body + str(check)


def catalog() -> Catalog:
    """48 ingredients in grams (half of them perishable batches), 24 dishes of 8 each, and 24
    plain SKUs sold as they are, at four stores."""
    skus = []
    for n in range(INGREDIENTS):
        perishable = n % 2 == 0
        skus.append(
            Sku(
                sku=f"ING-{n:03d}",
                gtin=_gtin(n),
                name=f"Ingredient {n}",
                category="ingredients",
                base_unit="g",
                packs={"kg": 1000},
                batch_managed=perishable,
                shelf_life_days=5 if perishable else None,
                negative_stock=NegativeStockPolicy.ALLOW_AND_FLAG,
                supplier="FARM",
                vat_rate=Decimal("0.09"),
            )
        )
    for n in range(DISHES):
        skus.append(
            Sku(
                sku=f"DISH-{n:03d}",
                gtin=_gtin(1000 + n),
                name=f"Dish {n}",
                category="dishes",
                kind=SkuKind.DISH,
                base_unit="portion",
                vat_rate=Decimal("0.06"),
            )
        )
        skus.append(
            Sku(
                sku=f"GOOD-{n:03d}",
                gtin=_gtin(2000 + n),
                name=f"Bottled drink {n}",
                category="drinks",
                negative_stock=NegativeStockPolicy.ALLOW_AND_FLAG,
                supplier="FARM",
            )
        )
    built = Catalog.build(
        skus=skus,
        locations=[
            Location(location=s, name=s, kind=LocationKind.STORE, latitude=31.2, longitude=121.4)
            for s in STORES
        ],
        suppliers=[Supplier(supplier="FARM", name="Farm")],
    )
    for n in range(DISHES):
        parts = [
            RecipeComponent(
                sku=f"ING-{(n * 5 + k * 7) % INGREDIENTS:03d}",
                qty=Decimal(15 + 10 * k),
                loss_rate=Decimal("0.05") * (k % 3),
            )
            for k in range(PER_DISH)
        ]
        recipe = Recipe(product=f"DISH-{n:03d}", effective_from=date(2026, 1, 1), components=parts)
        built.recipes[recipe.key] = recipe
    return built


def receipts() -> list[GoodsReceipt]:
    """Plenty of everything at every store, perishables in three batches each."""
    out = []
    for store in STORES:
        for n in range(INGREDIENTS):
            batches = [f"L{b}" for b in range(3)] if n % 2 == 0 else [None]
            for b, batch in enumerate(batches):
                out.append(
                    GoodsReceipt(
                        event_id=f"in-{store}-{n}-{b}",
                        occurred_at=T0,
                        source="bench",
                        location=store,
                        purchase_order="PO-1",
                        supplier="FARM",
                        sku=f"ING-{n:03d}",
                        batch=batch,
                        expiry_date=date(2026, 3, 10 + b) if batch else None,
                        qty=Decimal(10_000_000),
                        unit="g",
                        unit_cost=Decimal("0.02"),
                    )
                )
        for n in range(DISHES):
            out.append(
                GoodsReceipt(
                    event_id=f"in-{store}-good-{n}",
                    occurred_at=T0,
                    source="bench",
                    location=store,
                    purchase_order="PO-1",
                    supplier="FARM",
                    sku=f"GOOD-{n:03d}",
                    qty=Decimal(1_000_000),
                    unit_cost=Decimal("2.00"),
                )
            )
    return out


def tickets(n: int, prefix: str) -> list[PosSale]:
    """`n` two-line tickets, spread over the stores and a day: `DISH-…` or `GOOD-…` lines."""
    out = []
    for i in range(n):
        out.append(
            PosSale(
                event_id=f"{prefix}-{i}",
                occurred_at=T0 + timedelta(seconds=2 * i),
                source=f"till-{i % 4}",
                store=STORES[i % len(STORES)],
                ticket=f"T{prefix}{i}",
                channel="dine_in",
                lines=[
                    PosLine(
                        sku=f"{prefix}-{(i + k * 5) % DISHES:03d}",
                        qty=Decimal(1 + k),
                        unit="portion" if prefix == "DISH" else "each",
                        unit_price=Decimal("18"),
                    )
                    for k in range(2)
                ],
            )
        )
    return out


def core_rate(built: Catalog, events: list[PosSale]) -> float:
    proc = StockProcessor(built)
    for event in receipts():
        proc.process(event)
    t0 = time.perf_counter()
    for event in events:
        proc.process(event)
    return len(events) / (time.perf_counter() - t0)


def stream_rate(built: Catalog, events: list[PosSale], tmp: Path, name: str) -> float:
    """Tickets already on a fresh embedded broker, one worker, until every one is handled."""
    broker_port, web_port = free_port(), free_port()
    settings = Settings(var_dir=tmp / name, broker_port=broker_port, web_port=web_port, kafka_url=None)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp / f"{name}-broker.log")
    broker.start()
    worker = None
    try:
        ensure_topics(broker.bootstrap, settings.topic_partitions)
        built.save(settings.masterdata_path)
        stock = [(str(e.topic), e.location_id.encode(), encode_event(e)) for e in receipts()]
        sales = [(str(e.topic), e.location_id.encode(), encode_event(e)) for e in events]
        asyncio.run(produce_all(broker.bootstrap, stock))
        worker = start_worker(settings, web_port, tmp / f"{name}-worker.log", loglevel="warn")
        url = f"http://127.0.0.1:{web_port}"
        wait_for_http(url + "/health", timeout=120, process=worker, ready_key="ready")
        seconds_to_handle([url], {"scans"}, len(stock))
        asyncio.run(produce_all(broker.bootstrap, sales))
        return len(sales) / seconds_to_handle([url], {"pos_transactions"}, len(sales))
    finally:
        if worker is not None:
            stop_process(worker)
        broker.stop()


def run(n: int = 20_000) -> list[Figure]:
    built = catalog()
    dishes, plain = tickets(n, "DISH"), tickets(n, "GOOD")
    core_dish, core_plain = core_rate(built, dishes), core_rate(built, plain)
    tmp = Path(tempfile.mkdtemp(prefix="stockflow-bench-restaurant-"))
    stream_plain = stream_rate(built, plain, tmp, "plain")
    stream_dish = stream_rate(built, dishes, tmp, "dishes")
    return [
        Figure("core: tickets of dishes (8 ingredients), /s", core_dish, "tickets/s", core_plain),
        Figure(
            "stream: tickets of dishes (8 ingredients), /s",
            stream_dish,
            "tickets/s",
            stream_plain,
            "≥ 50% of plain SKU tickets",
            stream_dish >= 0.5 * stream_plain,
        ),
    ]


def main() -> None:
    figures = run(int(os.environ.get("BENCH_TICKETS", 20_000)))
    report_and_save(
        figures,
        "stockflow restaurant benchmark: dishes made to recipes against plain SKU tickets (same run)",
        "restaurant",
    )


if __name__ == "__main__":
    main()
