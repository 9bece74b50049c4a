from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from stockflow.masterdata import (
    Catalog,
    Category,
    Customer,
    Location,
    LocationKind,
    NegativeStockPolicy,
    Sku,
    Supplier,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def temperature_reading(event_id, minutes, celsius, sensor="DOCK-1", location="WH1"):
    """A sensor's reading `minutes` after T0 (the sensor is its own source)."""
    from stockflow.events import TemperatureReading

    return TemperatureReading(
        event_id=event_id,
        occurred_at=at(minutes),
        source=sensor,
        sensor=sensor,
        location=location,
        celsius=celsius,
    )


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.build(
        skus=[
            Sku(
                sku="MILK-1L",
                gtin="09506000134352",
                name="Fresh milk 1 L",
                category=Category.CHILLED_FOOD,
                packs={"case": 12},
                shelf_life_days=10,
                batch_managed=True,
                cold_chain_min_c=0,
                cold_chain_max_c=4,
                reorder_point=24,
                negative_stock=NegativeStockPolicy.REJECT,
            ),
            Sku(
                sku="RICE-5KG",
                gtin="4006381333931",
                name="Rice 5 kg",
                category=Category.DRY_GOODS,
                packs={"sack_pack": 4},
                reorder_point=5,
                negative_stock=NegativeStockPolicy.ALLOW_AND_FLAG,
            ),
        ],
        locations=[
            Location(
                location="WH1", name="Central DC", kind=LocationKind.WAREHOUSE, latitude=31.2, longitude=121.4
            ),
            Location(
                location="S1", name="Store 1", kind=LocationKind.STORE, latitude=31.23, longitude=121.47
            ),
        ],
        suppliers=[Supplier(supplier="SUP1", name="Dairy Co")],
        customers=[Customer(customer="C1", name="Canteen", phone="13812341234")],
    )


def receipt(event_id="r1", sku="MILK-1L", qty="2", unit="case", batch="B1", expiry=date(2026, 3, 10), **kw):
    from stockflow.events import GoodsReceipt

    base = dict(
        event_id=event_id,
        occurred_at=at(0),
        source="scanner-1",
        location="WH1",
        purchase_order="PO1",
        supplier="SUP1",
        sku=sku,
        batch=batch,
        expiry_date=expiry,
        qty=Decimal(qty),
        unit=unit,
        unit_cost=Decimal("30.00"),
    )
    base.update(kw)
    return GoodsReceipt(**base)
