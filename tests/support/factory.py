"""A small factory for tests: a desk lamp made of a base assembly, a shade and a bulb; the base
assembly made of sheet steel, screws and a cable (with a substitute cable); a plant, a
subcontractor that paints shades, and a supplier."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from stockflow.events import GoodsReceipt
from stockflow.masterdata import (
    Bom,
    BomLine,
    BomOperation,
    BomSubstitute,
    Catalog,
    Location,
    LocationKind,
    NegativeStockPolicy,
    Sku,
    Supplier,
)

T0 = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
DAY = date(2026, 5, 1)
PLANT = "P1"
SUBCONTRACTOR = "SC1"
_GTINS = iter(f"6907777{n:05d}" for n in range(100, 999))


def _gtin() -> str:
    body = next(_GTINS)
    digits = [int(c) for c in body]
    check = (10 - sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits))) % 10) % 10
    return body + str(check)


def material(code: str, unit: str = "each", cost: str = "1.00", **kw: object) -> Sku:
    return Sku(
        sku=code,
        gtin=_gtin(),
        name=code.title(),
        category=kw.pop("category", "materials"),
        base_unit=unit,
        packs=kw.pop("packs", {}),
        negative_stock=kw.pop("negative_stock", NegativeStockPolicy.REJECT),
        vat_rate=Decimal("0.13"),
        standard_cost=Decimal(cost),
        supplier=kw.pop("supplier", "STEELCO"),
        **kw,
    )


def line(
    sku: str, qty: str, scrap: str = "0", *subs: tuple[str, int, str], unit: str | None = None
) -> BomLine:
    return BomLine(
        sku=sku,
        qty=Decimal(qty),
        unit=unit,
        scrap_rate=Decimal(scrap),
        substitutes=[BomSubstitute(sku=s, priority=p, ratio=Decimal(r)) for s, p, r in subs],
    )


def bom(product: str, *lines: BomLine, **kw: object) -> Bom:
    return Bom(product=product, effective_from=kw.pop("effective_from", DAY), lines=list(lines), **kw)


def factory_catalog() -> Catalog:
    """LAMP = 1 BASE + 1 SHADE + 1 BULB (2 % of bulbs break), routed through assembly (0.5 h a
    lamp at 40 labour + 20 overhead an hour) and test (0.1 h at 30 + 10);
    BASE = 0.25 m² of STEEL (10 % scrap) + 4 SCREW (5 %) + 1 CABLE (or 1 CABLE-B, or 2 WIRE)."""
    global _GTINS
    _GTINS = iter(f"6907777{n:05d}" for n in range(100, 999))
    skus = [
        material("STEEL", "dm2", "0.05", packs={"m2": 100}),
        material("SCREW", cost="0.02"),
        material("CABLE", cost="3.00"),
        material("CABLE-B", cost="3.50"),
        material("WIRE", cost="1.60"),
        material("SHADE", cost="8.00", category="components"),
        material("BULB", cost="2.00"),
        material("BASE", cost="15.00", category="components", batch_managed=True),
        material("LAMP", cost="40.00", category="finished_goods", batch_managed=True),
    ]
    locations = [
        Location(location=PLANT, name="Plant 1", kind=LocationKind.PLANT, latitude=31.2, longitude=121.4),
        Location(
            location=SUBCONTRACTOR,
            name="Paint shop",
            kind=LocationKind.SUBCONTRACTOR,
            latitude=31.3,
            longitude=121.5,
        ),
    ]
    catalog = Catalog.build(
        skus, locations, [Supplier(supplier="STEELCO", name="Steel Co", lead_time_days=5)]
    )
    boms = [
        bom(
            "LAMP",
            line("BASE", "1"),
            line("SHADE", "1"),
            line("BULB", "1", "0.02"),
            operations=[
                BomOperation(
                    operation="ASSY",
                    hours_per_unit=Decimal("0.5"),
                    labour_rate=Decimal("40"),
                    overhead_rate=Decimal("20"),
                ),
                BomOperation(
                    operation="TEST",
                    hours_per_unit=Decimal("0.1"),
                    labour_rate=Decimal("30"),
                    overhead_rate=Decimal("10"),
                ),
            ],
        ),
        bom(
            "BASE",
            line("STEEL", "0.25", "0.10", unit="m2"),
            line("SCREW", "4", "0.05"),
            line("CABLE", "1", "0", ("CABLE-B", 1, "1"), ("WIRE", 2, "2")),
            operations=[
                BomOperation(
                    operation="PRESS",
                    hours_per_unit=Decimal("0.2"),
                    labour_rate=Decimal("35"),
                    overhead_rate=Decimal("25"),
                )
            ],
        ),
    ]
    return catalog.model_copy(update={"boms": {b.key: b for b in boms}})


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stock_in(
    event_id: str,
    sku: str,
    qty: str,
    cost: str = "1.00",
    batch: str | None = None,
    minute: int = 0,
    unit: str = "each",
) -> GoodsReceipt:
    return GoodsReceipt(
        event_id=event_id,
        occurred_at=at(minute),
        source="test",
        location=PLANT,
        purchase_order="PO-1",
        supplier="STEELCO",
        sku=sku,
        qty=Decimal(qty),
        unit=unit,
        batch=batch,
        unit_cost=Decimal(cost),
    )
