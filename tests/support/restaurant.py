"""A small restaurant brand for tests: ingredients kept in grams and millilitres, a broth made
in store, dishes, a set meal, a central kitchen and two stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from stockflow.events import GoodsReceipt, PosLine, PosReturn, PosSale, PrepProduced
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

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
DAY = date(2026, 3, 1)
_GTINS = iter(f"6901234{n:05d}" for n in range(100, 999))


def _gtin() -> str:
    body = next(_GTINS)
    digits = [int(c) for c in body]
    check = (10 - sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits))) % 10) % 10
    return body + str(check)


def ingredient(code: str, unit: str = "g", batch: bool = True, shelf: int | None = 5, **kw: object) -> Sku:
    return Sku(
        sku=code,
        gtin=_gtin(),
        name=code.title(),
        category="ingredients",
        base_unit=unit,
        packs={"kg" if unit == "g" else "l": 1000},
        batch_managed=batch,
        shelf_life_days=shelf if batch else None,
        negative_stock=kw.pop("negative_stock", NegativeStockPolicy.ALLOW_AND_FLAG),
        vat_rate=Decimal("0.09"),
        standard_cost=Decimal("0.01"),
        supplier="FARM",
        **kw,
    )


def dish(code: str, kind: SkuKind = SkuKind.DISH, **kw: object) -> Sku:
    return Sku(
        sku=code,
        gtin=_gtin(),
        name=code.title(),
        category="dishes" if kind is SkuKind.DISH else "ingredients",
        kind=kind,
        base_unit=kw.pop("base_unit", "portion"),
        vat_rate=Decimal("0.06") if kind is SkuKind.DISH else Decimal("0.09"),
        **kw,
    )


def recipe(product: str, *parts: tuple[str, str] | tuple[str, str, str], **kw: object) -> Recipe:
    components = [
        RecipeComponent(sku=p[0], qty=Decimal(p[1]), loss_rate=Decimal(p[2]) if len(p) > 2 else Decimal(0))
        for p in parts
    ]
    return Recipe(product=product, effective_from=kw.pop("effective_from", DAY), components=components, **kw)


def restaurant_catalog() -> Catalog:
    """Dumplings (flour, pork, scallion), noodles in broth (flour, broth), the broth made in
    store from bones and ginger (2,000 ml a round), tea, and a set meal of dumplings and tea."""
    global _GTINS
    _GTINS = iter(f"6901234{n:05d}" for n in range(100, 999))
    skus = [
        ingredient("FLOUR"),
        ingredient("PORK", shelf=3),
        ingredient("SCALLION", shelf=4),
        ingredient("BONES", shelf=3),
        ingredient("GINGER", batch=False),
        ingredient("TEA-LEAF", batch=False),
        dish("BROTH", SkuKind.SEMI_FINISHED, base_unit="ml", batch_managed=True, shelf_life_days=1),
        dish("DUMPLINGS"),
        dish("NOODLES"),
        dish("TEA"),
        dish("SET-A"),
    ]
    catalog = Catalog.build(
        skus=skus,
        locations=[
            Location(
                location="CK1",
                name="Central kitchen",
                kind=LocationKind.WAREHOUSE,
                latitude=31.2,
                longitude=121.4,
            ),
            Location(
                location="R1", name="Store 1", kind=LocationKind.STORE, latitude=31.21, longitude=121.41
            ),
            Location(
                location="R2", name="Store 2", kind=LocationKind.STORE, latitude=31.22, longitude=121.42
            ),
        ],
        suppliers=[Supplier(supplier="FARM", name="Farm")],
    )
    for r in (
        recipe("DUMPLINGS", ("FLOUR", "120"), ("PORK", "90", "0.1"), ("SCALLION", "15", "0.25")),
        recipe("NOODLES", ("FLOUR", "150"), ("BROTH", "400")),
        recipe("BROTH", ("BONES", "1500", "0.2"), ("GINGER", "40"), yield_qty=Decimal(2000)),
        recipe("TEA", ("TEA-LEAF", "3")),
        recipe("SET-A", ("DUMPLINGS", "1"), ("TEA", "1")),
    ):
        catalog.recipes[r.key] = r
    return catalog


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stock_in(
    event_id: str,
    sku: str,
    qty: str,
    batch: str | None,
    expiry: date | None,
    cost: str = "0.02",
    location: str = "R1",
    minutes: float = 0,
    unit: str | None = None,
) -> GoodsReceipt:
    return GoodsReceipt(
        event_id=event_id,
        occurred_at=at(minutes),
        source="scanner",
        location=location,
        purchase_order="PO1",
        supplier="FARM",
        sku=sku,
        batch=batch,
        expiry_date=expiry,
        qty=Decimal(qty),
        unit=unit or ("ml" if sku == "BROTH" else "g"),
        unit_cost=Decimal(cost),
    )


def ticket(
    event_id: str,
    *lines: tuple[str, str, str],
    channel: str = "dine_in",
    store: str = "R1",
    minutes: float = 10,
) -> PosSale:
    return PosSale(
        event_id=event_id,
        occurred_at=at(minutes),
        source="till",
        store=store,
        ticket=f"T-{event_id}",
        channel=channel,
        lines=[PosLine(sku=s, qty=Decimal(q), unit=u, unit_price=Decimal("28.00")) for s, q, u in lines],
    )


def refund(
    event_id: str,
    original: str,
    *lines: tuple[str, str, str],
    restock: bool = False,
    channel: str = "dine_in",
    minutes: float = 20,
) -> PosReturn:
    return PosReturn(
        event_id=event_id,
        occurred_at=at(minutes),
        source="till",
        store="R1",
        ticket=f"RT-{event_id}",
        original_ticket=f"T-{original}",
        channel=channel,
        lines=[PosLine(sku=s, qty=Decimal(q), unit=u, unit_price=Decimal("28.00")) for s, q, u in lines],
        restock_ingredients=restock,
    )


def prep(
    event_id: str, qty: str, batch: str = "BR1", minutes: float = 5, location: str = "R1"
) -> PrepProduced:
    return PrepProduced(
        event_id=event_id,
        occurred_at=at(minutes),
        source="kitchen",
        location=location,
        prep_id=f"P-{event_id}",
        sku="BROTH",
        qty=Decimal(qty),
        unit="ml",
        batch=batch,
    )
