"""A deterministic simulated restaurant brand (餐饮品牌): `stockflow up --company restaurant`.

小面馆, a noodle-house chain in Shanghai: a central kitchen (中央厨房, a warehouse) buys the
ingredients from its suppliers and sends them to three stores every morning; each store makes
its broth, dough and brewed tea in the morning (a `PrepProduced` each, topped up in the
afternoon), sells dishes, drinks and set meals made to order from their recipes through the
day (lunch and evening peaks; dine-in, takeout and delivery), serves group meals (团餐) that
companies order the day before (a `GroupMealOrder` reserves their ingredients, the ticket that
serves it names it, the order is closed after lunch), keeps a delivery quota of its best-selling
noodles for the evening at its busiest store, refunds a few dishes (an untouched one gives its
ingredients back), throws away the day's broth and tea at closing, and counts its main
ingredients every night (`CycleCount`), the count a little below the book (waste,
over-portioning: the reconciliation posts the difference). Now and then eggs break or a carton
of milk bursts; a batch that reaches its expiry day is written off at night. Each location has
a cold-chain sensor.

`build_restaurant_catalog` makes the master data (ingredients kept in grams and millilitres
and bought in kilograms, litres, bags and drums; perishables batch-managed with their shelf
life; semi-finished items; dishes, drinks and set meals with their recipes, one store with its
own variant of a dish; suppliers; group-meal customers; VAT 6% on dishes, 9% on farm produce).
`RestaurantSimulation` plays it on the retail company's plumbing (`simulator.company`): its own
ledger as physical reality, the same wire messages, bad ones mixed in, the live stream. Pure and
deterministic from a seed: no I/O, no clock.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from simulator.company import TZ, DaySignals, MessageKind, SimMessage, Simulation, _phone, _poisson, make_gtin
from stockflow.events import (
    AdjustmentReason,
    ChannelQuota,
    CycleCount,
    GoodsReceipt,
    GroupMealAction,
    GroupMealLine,
    GroupMealOrder,
    PosLine,
    PosReturn,
    PosSale,
    PrepProduced,
    PurchaseOrder,
    SalesChannel,
    StockAdjustment,
    TransferIn,
    TransferOut,
)
from stockflow.ledger import NO_BATCH, PositionKey, StockRejected, order_holder, quota_holder
from stockflow.masterdata import (
    Catalog,
    Customer,
    Location,
    LocationKind,
    NegativeStockPolicy,
    Recipe,
    RecipeComponent,
    Sku,
    SkuKind,
    Supplier,
    ValuationMethod,
)
from stockflow.recipes import consumption, explode
from stockflow.reconciliation import variance_adjustment
from stockflow.replenishment import HOLIDAY_DEMAND

BRAND = "小面馆"
#: The central kitchen: it receives every purchase and supplies the stores.
CENTRAL_KITCHEN = "CK1"
#: The day every recipe of the simulated brand is in effect from (before any simulated day).
RECIPES_FROM = date(2020, 1, 1)
_CENT = Decimal("0.01")
_GTIN_COMPANY = 2000  # the retail company's GTINs use 1000–1096

# ------------------------------------------------------------------------------ master data
_SUPPLIERS = (  # code, name, lead time (days), payment terms (days)
    ("SUP-MEAT", "沪郊鲜肉供应链", 1, 30),
    ("SUP-VEG", "江桥蔬菜批发", 1, 15),
    ("SUP-DAIRY", "光明乳品配送", 1, 30),
    ("SUP-DRY", "粮油干货商行", 3, 45),
    ("SUP-BEV", "饮料经销商", 2, 30),
)


@dataclass(frozen=True, slots=True)
class _Ingredient:
    code: str
    name: str
    category: str
    unit: str  # g or ml (bought per kg or litre)
    supplier: str
    price: str  # CNY per kg or litre, excluding VAT
    shelf: int | None  # days; None: not perishable, not batch-managed
    vat: str = "0.09"  # farm produce; condiments 13%
    cold: tuple[float, float] | None = None
    pack: tuple[str, int] | None = None  # the supplier's own pack (a 25 kg bag), ordered in it
    weighed: bool = False  # delivered by weight: what arrives is within ±1.5% of the order
    counted: bool = False  # one of the main ingredients every store counts at closing


_INGREDIENTS = (
    _Ingredient(
        "ING-PORK",
        "猪前腿肉",
        "meat",
        "g",
        "SUP-MEAT",
        "26.00",
        3,
        cold=(0.0, 4.0),
        weighed=True,
        counted=True,
    ),
    _Ingredient(
        "ING-BEEF",
        "牛腱子肉",
        "meat",
        "g",
        "SUP-MEAT",
        "78.00",
        4,
        cold=(0.0, 4.0),
        weighed=True,
        counted=True,
    ),
    _Ingredient(
        "ING-CHICKEN",
        "鸡腿肉",
        "meat",
        "g",
        "SUP-MEAT",
        "22.00",
        3,
        cold=(0.0, 4.0),
        weighed=True,
        counted=True,
    ),
    _Ingredient(
        "ING-BONE", "猪筒骨", "meat", "g", "SUP-MEAT", "14.00", 3, cold=(0.0, 4.0), weighed=True, counted=True
    ),
    _Ingredient("ING-TOFU", "嫩豆腐", "produce", "g", "SUP-VEG", "6.00", 2, cold=(0.0, 6.0), counted=True),
    _Ingredient("ING-EGG", "鲜鸡蛋", "produce", "g", "SUP-VEG", "11.00", 15, weighed=True, counted=True),
    _Ingredient("ING-BOKCHOY", "上海青", "produce", "g", "SUP-VEG", "6.00", 3, weighed=True, counted=True),
    _Ingredient("ING-TOMATO", "番茄", "produce", "g", "SUP-VEG", "7.00", 6, weighed=True, counted=True),
    _Ingredient("ING-POTATO", "土豆", "produce", "g", "SUP-VEG", "3.60", 20, weighed=True, counted=True),
    _Ingredient("ING-MUSHROOM", "鲜香菇", "produce", "g", "SUP-VEG", "16.00", 5, weighed=True),
    _Ingredient("ING-SCALLION", "小葱", "produce", "g", "SUP-VEG", "9.00", 4, weighed=True),
    _Ingredient("ING-GINGER", "生姜", "produce", "g", "SUP-VEG", "12.00", 20, weighed=True),
    _Ingredient("ING-GARLIC", "大蒜", "produce", "g", "SUP-VEG", "10.00", 30, weighed=True),
    _Ingredient("ING-MILK", "鲜牛奶", "dairy", "ml", "SUP-DAIRY", "13.00", 7, cold=(2.0, 6.0), counted=True),
    _Ingredient("ING-FLOUR", "高筋面粉", "pantry", "g", "SUP-DRY", "5.60", None, pack=("bag", 25_000)),
    _Ingredient("ING-RICE", "东北大米", "pantry", "g", "SUP-DRY", "5.20", None, pack=("bag", 25_000)),
    _Ingredient("ING-OIL", "菜籽油", "pantry", "ml", "SUP-DRY", "15.00", None, pack=("drum", 5_000)),
    _Ingredient("ING-TEA", "红茶茶叶", "pantry", "g", "SUP-DRY", "110.00", None),
    _Ingredient("ING-SALT", "食用盐", "condiments", "g", "SUP-DRY", "3.00", None),
    _Ingredient("ING-SUGAR", "白砂糖", "condiments", "g", "SUP-DRY", "6.50", None, vat="0.13"),
    _Ingredient("ING-SOY", "生抽", "condiments", "ml", "SUP-DRY", "9.00", None, vat="0.13"),
    _Ingredient("ING-CHILI-OIL", "红油辣子", "condiments", "ml", "SUP-DRY", "28.00", None, vat="0.13"),
)
#: Goods sold as they are bought: canned cola, 24 to a case.
COLA = "BEV-COLA"
_COLA_CASE = 24
#: Semi-finished items made in store: code, name, base unit, shelf life (days). Broth and tea
#: are made each morning and what is left is thrown away at closing; dough keeps a day more.
_SEMI_FINISHED = (
    ("SEMI-BROTH", "猪骨高汤", "ml", 1),
    ("SEMI-DOUGH", "手工面团", "g", 2),
    ("SEMI-TEA", "红茶茶汤", "ml", 1),
)
_DISCARDED_AT_CLOSING = ("SEMI-BROTH", "SEMI-TEA")
#: Dishes, drinks and set meals: code, name, category, price at the till (VAT included).
_DISHES = (
    ("DISH-BEEF-NOODLE", "红烧牛肉面", "dishes", "32.00"),
    ("DISH-PORK-NOODLE", "雪菜肉丝面", "dishes", "24.00"),
    ("DISH-TOMATO-NOODLE", "番茄鸡蛋面", "dishes", "20.00"),
    ("DISH-DUMPLINGS", "猪肉水饺（15只）", "dishes", "26.00"),
    ("DISH-WONTON", "鲜肉小馄饨", "dishes", "18.00"),
    ("DISH-CHICKEN-RICE", "黄焖鸡米饭", "dishes", "28.00"),
    ("DISH-MAPO-RICE", "麻婆豆腐饭", "dishes", "22.00"),
    ("DISH-FRIED-RICE", "扬州炒饭", "dishes", "18.00"),
    ("DISH-GREENS", "蒜蓉上海青", "dishes", "16.00"),
    ("DISH-POTATO", "酸辣土豆丝", "dishes", "14.00"),
    ("DRINK-MILK-TEA", "港式奶茶", "drinks", "12.00"),
    ("DRINK-ICED-TEA", "冰红茶", "drinks", "8.00"),
    ("SET-NOODLE", "牛肉面套餐（面+小份青菜+奶茶）", "set_meals", "40.00"),
    ("SET-GROUP", "团餐工作餐（黄焖鸡饭+半份青菜）", "set_meals", "25.00"),
)
_COLA_PRICE = Decimal("6.00")


def _c(sku: str, qty: str, loss: str = "0", unit: str | None = None) -> RecipeComponent:
    return RecipeComponent(sku=sku, qty=Decimal(qty), unit=unit, loss_rate=Decimal(loss))


#: product → (what one round yields, its components); dishes yield one portion.
_RECIPES: dict[str, tuple[str, tuple[RecipeComponent, ...]]] = {
    "SEMI-BROTH": (
        "4000",
        (
            _c("ING-BONE", "1200", "0.1"),
            _c("ING-GINGER", "40", "0.1"),
            _c("ING-SCALLION", "30", "0.2"),
            _c("ING-SALT", "20"),
        ),
    ),
    "SEMI-DOUGH": ("1600", (_c("ING-FLOUR", "1", unit="kg"), _c("ING-EGG", "50"), _c("ING-SALT", "10"))),
    "SEMI-TEA": ("2000", (_c("ING-TEA", "40"),)),
    "DISH-BEEF-NOODLE": (
        "1",
        (
            _c("SEMI-DOUGH", "200"),
            _c("SEMI-BROTH", "0.35", unit="l"),
            _c("ING-BEEF", "90", "0.15"),
            _c("ING-BOKCHOY", "30", "0.1"),
            _c("ING-SCALLION", "5", "0.2"),
            _c("ING-CHILI-OIL", "8"),
            _c("ING-SOY", "10"),
        ),
    ),
    "DISH-PORK-NOODLE": (
        "1",
        (
            _c("SEMI-DOUGH", "200"),
            _c("SEMI-BROTH", "0.35", unit="l"),
            _c("ING-PORK", "60", "0.1"),
            _c("ING-BOKCHOY", "20", "0.1"),
            _c("ING-OIL", "8"),
        ),
    ),
    "DISH-TOMATO-NOODLE": (
        "1",
        (
            _c("SEMI-DOUGH", "200"),
            _c("SEMI-BROTH", "0.25", unit="l"),
            _c("ING-TOMATO", "120", "0.1"),
            _c("ING-EGG", "60"),
            _c("ING-OIL", "10"),
            _c("ING-SALT", "2"),
        ),
    ),
    "DISH-DUMPLINGS": (
        "1",
        (
            _c("SEMI-DOUGH", "180"),
            _c("ING-PORK", "130", "0.05"),
            _c("ING-SCALLION", "15", "0.2"),
            _c("ING-GINGER", "5", "0.1"),
            _c("ING-SOY", "10"),
            _c("ING-SALT", "2"),
        ),
    ),
    "DISH-WONTON": (
        "1",
        (
            _c("SEMI-DOUGH", "90"),
            _c("SEMI-BROTH", "0.3", unit="l"),
            _c("ING-PORK", "60", "0.05"),
            _c("ING-SCALLION", "3", "0.2"),
        ),
    ),
    "DISH-CHICKEN-RICE": (
        "1",
        (
            _c("ING-CHICKEN", "200", "0.05"),
            _c("ING-POTATO", "80", "0.15"),
            _c("ING-MUSHROOM", "20", "0.05"),
            _c("ING-GINGER", "5", "0.1"),
            _c("ING-SOY", "20"),
            _c("ING-OIL", "15"),
            _c("ING-RICE", "150"),
        ),
    ),
    "DISH-MAPO-RICE": (
        "1",
        (
            _c("ING-TOFU", "220"),
            _c("ING-PORK", "30"),
            _c("ING-CHILI-OIL", "15"),
            _c("ING-GARLIC", "5", "0.1"),
            _c("ING-OIL", "10"),
            _c("ING-RICE", "150"),
        ),
    ),
    "DISH-FRIED-RICE": (
        "1",
        (
            _c("ING-RICE", "180"),
            _c("ING-EGG", "60"),
            _c("ING-PORK", "20"),
            _c("ING-SCALLION", "10", "0.2"),
            _c("ING-OIL", "15"),
            _c("ING-SALT", "2"),
        ),
    ),
    "DISH-GREENS": (
        "1",
        (
            _c("ING-BOKCHOY", "250", "0.15"),
            _c("ING-GARLIC", "10", "0.1"),
            _c("ING-OIL", "12"),
            _c("ING-SALT", "2"),
        ),
    ),
    "DISH-POTATO": (
        "1",
        (_c("ING-POTATO", "250", "0.2"), _c("ING-CHILI-OIL", "10"), _c("ING-OIL", "12"), _c("ING-SALT", "2")),
    ),
    "DRINK-MILK-TEA": ("1", (_c("SEMI-TEA", "250"), _c("ING-MILK", "100"), _c("ING-SUGAR", "20"))),
    "DRINK-ICED-TEA": ("1", (_c("SEMI-TEA", "350"), _c("ING-SUGAR", "25"))),
    "SET-NOODLE": ("1", (_c("DISH-BEEF-NOODLE", "1"), _c("DISH-GREENS", "0.5"), _c("DRINK-MILK-TEA", "1"))),
    "SET-GROUP": ("1", (_c("DISH-CHICKEN-RICE", "1"), _c("DISH-GREENS", "0.5"))),
}
#: The Sichuan-style store makes its beef noodles its own way: more beef and chilli oil.
VARIANT_STORE = "R03"
_VARIANT = Recipe(
    product="DISH-BEEF-NOODLE",
    store=VARIANT_STORE,
    effective_from=RECIPES_FROM,
    name="红烧牛肉面（川味）",
    components=[
        _c("SEMI-DOUGH", "230"),
        _c("SEMI-BROTH", "0.35", unit="l"),
        _c("ING-BEEF", "100", "0.15"),
        _c("ING-BOKCHOY", "20", "0.1"),
        _c("ING-SCALLION", "8", "0.2"),
        _c("ING-CHILI-OIL", "15"),
        _c("ING-SOY", "10"),
    ],
)
_SITES = (  # code, name, kind, latitude, longitude, books
    (CENTRAL_KITCHEN, f"{BRAND} 中央厨房（嘉定）", LocationKind.WAREHOUSE, 31.3747, 121.2655, "KITCHEN"),
    ("R01", f"{BRAND} 人民广场店", LocationKind.STORE, 31.2317, 121.4727, "RESTAURANTS"),
    ("R02", f"{BRAND} 陆家嘴店", LocationKind.STORE, 31.2397, 121.4998, "RESTAURANTS"),
    (VARIANT_STORE, f"{BRAND} 徐家汇店（川味）", LocationKind.STORE, 31.1955, 121.4365, "RESTAURANTS"),
)
_GROUP_CUSTOMERS = (  # companies and schools that order group meals (团餐)
    ("GRP01", "云启科技有限公司（浦东软件园）"),
    ("GRP02", "华彩广告有限公司"),
    ("GRP03", "徐汇晨光中学"),
    ("GRP04", "申城律师事务所"),
    ("GRP05", "汇金资产管理有限公司"),
    ("GRP06", "星联电子有限公司（漕河泾）"),
)

# ------------------------------------------------------------------------------ demand
#: What a restaurant sells by weekday, Monday..Sunday (weekends busier, Mondays quiet).
_WEEKDAY = [0.9, 0.88, 0.93, 0.97, 1.12, 1.3, 1.2]
#: Till tickets a store of size 1 serves on a day whose factors are 1.
BASE_TICKETS = 240
_MAINS = {
    "DISH-BEEF-NOODLE": 1.6,
    "DISH-PORK-NOODLE": 1.0,
    "DISH-TOMATO-NOODLE": 0.9,
    "DISH-DUMPLINGS": 1.2,
    "DISH-WONTON": 0.8,
    "DISH-CHICKEN-RICE": 1.3,
    "DISH-MAPO-RICE": 0.8,
    "DISH-FRIED-RICE": 0.7,
    "SET-NOODLE": 0.6,
}
_SOUPS = frozenset(
    {"DISH-BEEF-NOODLE", "DISH-PORK-NOODLE", "DISH-TOMATO-NOODLE", "DISH-WONTON", "SET-NOODLE"}
)
_DRINKS = {"DRINK-MILK-TEA": 1.0, "DRINK-ICED-TEA": 0.7, COLA: 0.6}
_SIDES = {"DISH-GREENS": 1.0, "DISH-POTATO": 0.9}
#: The tills' channels (group meals come through orders of their own).
_TILL_CHANNELS = (SalesChannel.DINE_IN, SalesChannel.TAKEOUT, SalesChannel.DELIVERY)
#: How many people a ticket feeds, by channel.
_PARTY = {
    SalesChannel.DINE_IN: (1, 1, 1, 2, 2, 3, 4),
    SalesChannel.TAKEOUT: (1, 1, 2),
    SalesChannel.DELIVERY: (1, 1, 1, 2),
}
#: A ticket of two or more people orders a side dish to share this often.
_SIDE_RATE = 0.6


@dataclass(frozen=True, slots=True)
class DayPart:
    """A part of the opening hours: its share of the day's tickets, when they come (around a
    peak, or spread evenly), their channels (dine-in, takeout, delivery) and what each person
    orders (a main dish, a drink)."""

    name: str
    share: float
    start: int  # minutes after midnight
    end: int
    peak: int | None
    spread: int
    channels: tuple[float, float, float]
    main_rate: float
    drink_rate: float


DAY_PARTS = (
    DayPart("lunch", 0.46, 10 * 60 + 30, 14 * 60 + 30, 12 * 60 + 15, 35, (0.5, 0.2, 0.3), 1.0, 0.3),
    DayPart("afternoon", 0.10, 14 * 60 + 30, 17 * 60, None, 0, (0.35, 0.35, 0.3), 0.4, 0.9),
    DayPart("dinner", 0.34, 17 * 60, 20 * 60 + 30, 18 * 60 + 40, 40, (0.6, 0.1, 0.3), 1.0, 0.35),
    DayPart("late", 0.10, 20 * 60 + 30, 21 * 60 + 45, None, 0, (0.3, 0.1, 0.6), 1.0, 0.2),
)
#: The share of a day's semi-finished items the morning prep makes (lunch and afternoon).
_MORNING_SHARE = DAY_PARTS[0].share + DAY_PARTS[1].share
#: Group-meal orders a store of size 1 takes on a working day, and what each orders.
_GROUP_ORDERS = 0.7
_GROUP_SET = "SET-GROUP"
_GROUP_TEA = 0.3  # share of orders that add an iced tea per portion
_GROUP_PORTIONS = (15, 60)
#: The evening delivery quota of the busiest store's best seller.
_QUOTA = (SalesChannel.DELIVERY, "DISH-BEEF-NOODLE", 12)


def ticket_mix(weights: Mapping[str, float]) -> dict[str, float]:
    """Units of each product one till ticket sells on average, for the products' weights (the
    model `RestaurantSimulation` draws tickets from)."""
    groups = [
        ({c: w for c, w in weights.items() if c in _MAINS}, "main"),
        ({c: w for c, w in weights.items() if c in _DRINKS}, "drink"),
        ({c: w for c, w in weights.items() if c in _SIDES}, "side"),
    ]
    mix: dict[str, float] = {}
    for part in DAY_PARTS:
        for channel, p in zip(_TILL_CHANNELS, part.channels, strict=True):
            party = _PARTY[channel]
            persons = sum(party) / len(party)
            sharing = sum(1 for n in party if n >= 2) / len(party) * _SIDE_RATE
            rate = {"main": persons * part.main_rate, "drink": persons * part.drink_rate, "side": sharing}
            for group, kind in groups:
                total = sum(group.values())
                for code, weight in group.items():
                    mix[code] = mix.get(code, 0.0) + part.share * p * rate[kind] * weight / total
    return mix


def _group_mix() -> dict[str, float]:
    """Units of each product one group-meal order takes on average."""
    portions = sum(_GROUP_PORTIONS) / 2
    return {_GROUP_SET: portions, "DRINK-ICED-TEA": portions * _GROUP_TEA}


def _per_unit(catalog: Catalog, product: str, store: str, day: date) -> dict[str, Fraction]:
    """Base units of every stocked SKU one base unit of `product` takes, the semi-finished
    items it takes included, and their own ingredients added to those it takes directly."""
    out: dict[str, Fraction] = {}
    for code, qty in explode(catalog, product, 1, store, day).items():
        out[code] = out.get(code, Fraction(0)) + qty
        if catalog.skus[code].kind is SkuKind.SEMI_FINISHED:
            for raw, per in explode(catalog, code, 1, store, day).items():
                out[raw] = out.get(raw, Fraction(0)) + qty * per
    return out


def usage_of(catalog: Catalog, demand: Mapping[str, float], store: str, day: date) -> dict[str, float]:
    """Base units of each stocked SKU that selling `demand` (product → units) takes at `store`:
    goods themselves; for dishes, their semi-finished items and all the ingredients."""
    usage: dict[str, float] = {}
    for product, units in demand.items():
        sku = catalog.skus[product]
        if sku.kind is SkuKind.GOODS:
            usage[product] = usage.get(product, 0.0) + units
            continue
        for code, per in _per_unit(catalog, product, store, day).items():
            usage[code] = usage.get(code, 0.0) + units * float(per)
    return usage


# ------------------------------------------------------------------------------ the catalogue
def build_restaurant_catalog(seed: int = 7) -> Catalog:
    """The brand's master data, the same for the same seed: ingredients, a bottled drink,
    semi-finished items, dishes and set meals with their recipes (`Catalog.recipes`), the
    central kitchen and three stores, suppliers and group-meal customers."""
    rng = random.Random(f"restaurant:{seed}")
    suppliers = [
        Supplier(supplier=code, name=name, lead_time_days=lead, phone=_phone(rng), payment_terms_days=terms)
        for code, name, lead, terms in _SUPPLIERS
    ]
    customers = [
        Customer(
            customer=code,
            name=name,
            phone=_phone(rng),
            credit_limit=Decimal(rng.choice([20_000, 30_000, 50_000])),
            payment_terms_days=30,
        )
        for code, name in _GROUP_CUSTOMERS
    ]
    locations = [
        Location(
            location=code,
            name=name,
            kind=kind,
            latitude=round(lat + rng.uniform(-0.002, 0.002), 5),
            longitude=round(lon + rng.uniform(-0.002, 0.002), 5),
            city="Shanghai",
            accounting_unit=books,  # the central kitchen keeps books of its own (独立核算)
        )
        for code, name, kind, lat, lon, books in _SITES
    ]
    number = iter(range(1, 1000))
    skus: list[Sku] = []
    for i in _INGREDIENTS:
        big = "kg" if i.unit == "g" else "l"
        step = i.pack[1] if i.pack else 1000
        skus.append(
            Sku(
                sku=i.code,
                gtin=make_gtin(_GTIN_COMPANY, next(number)),
                name=i.name,
                category=i.category,
                base_unit=i.unit,
                packs={big: 1000, **dict([i.pack] if i.pack else [])},
                shelf_life_days=i.shelf,
                batch_managed=i.shelf is not None,
                cold_chain_min_c=i.cold[0] if i.cold else None,
                cold_chain_max_c=i.cold[1] if i.cold else None,
                supplier=i.supplier,
                moq=step * (5 if i.weighed and i.category == "meat" else 1),
                negative_stock=NegativeStockPolicy.ALLOW_AND_FLAG,  # a kitchen never stops for the books
                standard_cost=(Decimal(i.price) / 1000).quantize(Decimal("0.0001")),
                vat_rate=Decimal(i.vat),
                valuation_method=ValuationMethod.FIFO if i.shelf is not None else None,
            )
        )
    skus.append(
        Sku(
            sku=COLA,
            gtin=make_gtin(_GTIN_COMPANY, next(number)),
            name="可口可乐 330ml 罐装",
            category="beverages",
            packs={"case": _COLA_CASE},
            supplier="SUP-BEV",
            moq=_COLA_CASE,
            negative_stock=NegativeStockPolicy.REJECT,
            standard_cost=Decimal("1.80"),
            vat_rate=Decimal("0.13"),
        )
    )
    for code, name, unit, shelf in _SEMI_FINISHED:
        skus.append(
            Sku(
                sku=code,
                gtin=make_gtin(_GTIN_COMPANY, next(number)),
                name=name,
                category="semi_finished",
                kind=SkuKind.SEMI_FINISHED,
                base_unit=unit,
                packs={"kg" if unit == "g" else "l": 1000},
                shelf_life_days=shelf,
                batch_managed=True,
                negative_stock=NegativeStockPolicy.ALLOW_AND_FLAG,
                vat_rate=Decimal("0.09"),
            )
        )
    for code, name, category, _price in _DISHES:
        skus.append(
            Sku(
                sku=code,
                gtin=make_gtin(_GTIN_COMPANY, next(number)),
                name=name,
                category=category,
                kind=SkuKind.DISH,
                base_unit="portion",
                negative_stock=NegativeStockPolicy.ALLOW_AND_FLAG,
                vat_rate=Decimal("0.06"),  # catering services
            )
        )
    draft = Catalog.build(skus, locations, suppliers, customers)
    recipes = [
        Recipe(
            product=product,
            effective_from=RECIPES_FROM,
            yield_qty=Decimal(yield_qty),
            components=list(components),
            name=draft.skus[product].name,
        )
        for product, (yield_qty, components) in _RECIPES.items()
    ]
    recipes.append(_VARIANT)
    draft.recipes.update({r.key: r for r in recipes})
    # Standard costs from the recipes, and reorder points of one store's ordinary day.
    nominal = _nominal_usage(draft)
    final = []
    for sku in skus:
        if sku.kind is SkuKind.GOODS:
            step = _step(sku)
            update: dict[str, object] = {"reorder_point": _round_up(nominal.get(sku.sku, 0.0), step)}
        else:
            cost = sum(
                per * Fraction(draft.skus[code].standard_cost)
                for code, per in _raw_per_unit(draft, sku.sku).items()
            )
            quantum = _CENT if sku.kind is SkuKind.DISH else Decimal("0.0001")
            update = {
                "standard_cost": (Decimal(cost.numerator) / Decimal(cost.denominator)).quantize(quantum)
            }
        final.append(sku.model_copy(update=update))
    catalog = Catalog.build(final, locations, suppliers, customers)
    catalog.recipes.update({r.key: r for r in recipes})
    return catalog


def _step(sku: Sku) -> int:
    """The smallest quantity the brand moves of a SKU: a kilogram or litre, a case."""
    return 1000 if sku.base_unit in ("g", "ml") else sku.packs.get("case", 1)


def _round_up(units: float, step: int) -> int:
    """At least one `step`, in whole steps."""
    return max(step, math.ceil(units / step) * step)


def _raw_per_unit(catalog: Catalog, product: str) -> dict[str, Fraction]:
    """The bought ingredients one base unit of a dish or semi-finished item takes (common recipe)."""
    return {
        code: per
        for code, per in _per_unit(catalog, product, "", RECIPES_FROM).items()
        if catalog.skus[code].kind is SkuKind.GOODS
    }


def _nominal_usage(catalog: Catalog) -> dict[str, float]:
    """What one store of size 1 takes of each stocked SKU on an ordinary working day."""
    mix = ticket_mix({**_MAINS, **_DRINKS, **_SIDES})
    demand = {code: BASE_TICKETS * units for code, units in mix.items()}
    for code, units in _group_mix().items():
        demand[code] = demand.get(code, 0.0) + _GROUP_ORDERS * units
    return usage_of(catalog, demand, "", RECIPES_FROM)


# ------------------------------------------------------------------------------ the simulation
@dataclass
class _GroupOrder:
    store: str
    order: str
    customer: str
    lines: dict[str, int]


@dataclass
class RestaurantSimulation(Simulation):
    """The brand's days (see the module docstring), on the retail `Simulation`'s plumbing:
    its ledger, ids, running numbers, sensors, expiry write-offs, wire messages and live mode.

    `count_variances` holds, by the id of the count that found it, the count-variance
    adjustment the reconciliation will post: the simulator books it in its own ledger (physical
    reality) without sending it."""

    count_variances: dict[str, StockAdjustment] = field(default_factory=dict, init=False)
    #: The simulator's own events the ledger refused (none are meant to be), with the reason.
    refused: list[tuple[object, StockRejected]] = field(default_factory=list, init=False)
    _heap: list = field(default_factory=list, init=False)
    _used: dict[tuple[str, str], int] = field(default_factory=dict, init=False)
    _po_units: dict[str, tuple[str, int]] = field(default_factory=dict, init=False)
    _prep_numbers: dict[tuple[str, str, date], int] = field(default_factory=dict, init=False)
    _usage_cache: dict[tuple[str, date], dict[str, float]] = field(default_factory=dict, init=False)
    _taken_cache: dict[tuple[str, int, str, date], dict[str, int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._start_books()
        self.rng = random.Random(f"restaurant:{self.seed}:days")
        locations = sorted(self.catalog.locations.values(), key=lambda loc: loc.location)
        self.stores = [loc for loc in locations if loc.kind is LocationKind.STORE]
        self.warehouses = [loc for loc in locations if loc.kind is LocationKind.WAREHOUSE]
        self.kitchen = self.warehouses[0].location
        self.docks = frozenset()  # no dock camera at the central kitchen
        self.skus = sorted(self.catalog.skus.values(), key=lambda s: s.sku)
        #: What the central kitchen buys and sends to the stores (ingredients and goods).
        self.stocked = [s.sku for s in self.skus if s.kind is SkuKind.GOODS]
        self.semi_finished = [s.sku for s in self.skus if s.kind is SkuKind.SEMI_FINISHED]
        counted = {i.code for i in _INGREDIENTS if i.counted}
        self.counted = sorted(counted | {"SEMI-DOUGH", COLA})
        self.supplier_of = {s.sku: s.supplier or "" for s in self.skus}
        self.home_warehouse = {st.location: self.kitchen for st in self.stores}
        rng = random.Random(f"restaurant:{self.seed}:stores")
        self.store_size = {st.location: round(rng.uniform(0.8, 1.25), 3) for st in self.stores}
        #: Each store's own taste: how much more or less it sells of each product.
        self.taste = {
            (st.location, code): rng.lognormvariate(0, 0.15)
            for st in self.stores
            for code in sorted({**_MAINS, **_DRINKS, **_SIDES})
        }
        self.price = {code: Decimal(price) for code, _n, _c, price in _DISHES} | {COLA: _COLA_PRICE}
        self.popularity = {**_MAINS, **_DRINKS, **_SIDES}
        self.assortment = {st.location: sorted(self.price) for st in self.stores}
        self.pallet_damage = {}
        #: The busiest store keeps a delivery quota of its best seller for the evening.
        self.quota_store = max(self.stores, key=lambda st: self.store_size[st.location]).location

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self.seed}-R{self._ids:08d}"

    def _bad(self, msg: SimMessage, kind: MessageKind, rng: random.Random) -> SimMessage:
        """`Simulation._bad`; a closed or cancelled group meal (no lines) is spoilt by naming a
        location nobody knows."""
        data = json.loads(msg.value)
        if kind is MessageKind.MALFORMED_JSON or data.get("lines", [None]):
            return super()._bad(msg, kind, rng)
        data["event_id"] = self._next_id("BAD")
        data["location"] = f"NOWHERE-{rng.randint(10, 99)}"
        return SimMessage(
            msg.topic, msg.key, json.dumps(data).encode(), MessageKind.UNKNOWN_SKU, data["event_id"]
        )

    # ------------------------------------------------------------------ signals and demand
    def signals(self, day: date) -> DaySignals:
        rng = random.Random(f"restaurant:{self.seed}:{day.toordinal()}")
        doy = day.timetuple().tm_yday
        temperature = 17 + 12 * math.sin((doy - 105) / 365 * 2 * math.pi) + rng.gauss(0, 3)
        # now and then a dish of the day (特价菜)
        promoted = frozenset(rng.sample(sorted(_MAINS), k=1)) if rng.random() < 0.3 else frozenset()
        return DaySignals(
            day,
            HOLIDAY_DEMAND.get((day.month, day.day), 1.0),
            _WEEKDAY[day.weekday()],
            round(temperature, 1),
            promoted,
        )

    def _weights(self, store: str, sig: DaySignals) -> dict[str, float]:
        weights = {}
        for code, base in {**_MAINS, **_DRINKS, **_SIDES}.items():
            w = base * self.taste[(store, code)]
            if code in _SOUPS:  # hot days: fewer noodle soups, more iced tea
                w *= max(0.5, 1 - 0.015 * (sig.temperature_c - 18))
            if code == "DRINK-ICED-TEA":
                w *= max(0.3, 1 + 0.05 * (sig.temperature_c - 18))
            if code in sig.promoted_skus:
                w *= 1.6
            weights[code] = w
        return weights

    def _tickets(self, store: str, sig: DaySignals) -> float:
        return (
            BASE_TICKETS
            * self.store_size[store]
            * sig.weekday_factor
            * sig.holiday_factor
            * self.demand_scale
        )

    def _group_rate(self, store: str, sig: DaySignals) -> float:
        """Group-meal orders a store expects: working days only (not on public holidays)."""
        if sig.day.weekday() >= 5 or sig.holiday_factor != 1.0:
            return 0.0
        return _GROUP_ORDERS * self.store_size[store]

    def expected_demand(self, day: date) -> dict[tuple[str, str], float]:
        """Units of each product each store is expected to sell on `day` with stock enough:
        its tickets × what a ticket sells, and its expected group meals."""
        sig = self.signals(day)
        expected: dict[tuple[str, str], float] = {}
        for st in self.stores:
            tickets = self._tickets(st.location, sig)
            for code, units in ticket_mix(self._weights(st.location, sig)).items():
                expected[(st.location, code)] = tickets * units
            for code, units in _group_mix().items():
                key = (st.location, code)
                expected[key] = expected.get(key, 0.0) + self._group_rate(st.location, sig) * units
        return expected

    def _usage(self, store: str, day: date) -> dict[str, float]:
        """Base units of each stocked SKU `store` is expected to take on `day` (its tickets and
        expected group meals; semi-finished items and what they are made of included)."""
        key = (store, day)
        if key not in self._usage_cache:
            demand = {code: units for (st, code), units in self.expected_demand(day).items() if st == store}
            self._usage_cache[key] = usage_of(self.catalog, demand, store, day)
            if len(self._usage_cache) > 64:
                del self._usage_cache[next(iter(self._usage_cache))]
        return self._usage_cache[key]

    def _taken(self, product: str, qty: int, store: str, day: date) -> dict[str, int]:
        """Base units per stocked SKU selling `qty` of `product` takes (the ledger's rule)."""
        key = (product, qty, store, day)
        found = self._taken_cache.get(key)
        if found is None:
            if self.catalog.skus[product].kind is SkuKind.GOODS:
                found = {product: qty}
            else:
                found = consumption(self.catalog, product, qty, store, day)
            if len(self._taken_cache) > 4096:
                self._taken_cache.clear()
            self._taken_cache[key] = found
        return found

    # ------------------------------------------------------------------ stock helpers
    def _free(self, location: str, sku: str, keeps_after: date | None = None) -> int:
        """Unrestricted stock (not reserved, not held); with `keeps_after`, only the batches
        that expire after that day."""
        return sum(
            max(p.unrestricted, 0)
            for batch, p in self.ledger.batches_at(location, sku).items()
            if keeps_after is None
            or (self.ledger.batch_expiry(location, sku, batch) or date.max) > keeps_after
        )

    def _refused(self, event: object, exc: StockRejected) -> None:
        """Remembered (`refused`): the simulator's own events are all meant to be taken."""
        self.refused.append((event, exc))

    def _fefo(self, location: str, sku: str) -> list[str]:
        return sorted(
            self.ledger.batches_at(location, sku),
            key=lambda b: (self.ledger.batch_expiry(location, sku, b) or date.max, b),
        )

    def _plan(self, when: datetime, what: object) -> None:
        self._planned += 1
        heapq.heappush(self._heap, (when, self._planned, what))

    def _use(self, store: str, taken: Mapping[str, int]) -> None:
        for code, units in taken.items():
            self._used[(store, code)] = self._used.get((store, code), 0) + units

    @staticmethod
    def _big_unit(sku: Sku) -> tuple[str, int]:
        """The unit a person reads a quantity of the SKU in (kg, l, case) and its size."""
        if sku.base_unit in ("g", "ml"):
            return ("kg" if sku.base_unit == "g" else "l"), 1000
        if "case" in sku.packs:
            return "case", sku.packs["case"]
        return sku.base_unit, 1

    def _qty(self, sku: Sku, units: int) -> tuple[Decimal, str]:
        """`units` base units as a quantity in the unit people use (kg to three decimals)."""
        unit, size = self._big_unit(sku)
        if size == 1000 or units % size == 0:
            return Decimal(units) / size, unit
        return Decimal(units), sku.base_unit

    # ------------------------------------------------------------------ opening stock
    def opening_stock(self, day: date) -> list:
        """Receipts that stock the central kitchen and the stores before the first day."""
        when = datetime.combine(day, time(3, 30), TZ)
        events: list = []
        brand = self._brand_usage(day)
        for loc in [*self.warehouses, *self.stores]:
            usage = brand if loc.location == self.kitchen else self._usage(loc.location, day)
            for code in self.stocked:
                sku = self.catalog.skus[code]
                use = usage.get(code, 0.0)
                if use <= 0:
                    continue
                fresh = sku.shelf_life_days is not None and sku.shelf_life_days <= 7
                if loc.location == self.kitchen:
                    lead = self.catalog.suppliers[sku.supplier or ""].lead_time_days
                    cover = 1.5 if fresh else lead + 6
                else:
                    cover = 1.2 if fresh else 3
                units = _round_up(use * cover, _step(sku))
                events.append(
                    self._receipt_of(loc.location, sku, units, when, f"OPEN-{loc.location}", exact=True)
                )
        applied: list = []
        for ev in events:
            self._apply(ev, applied)
        return applied

    def _receipt_of(
        self, location: str, sku: Sku, units: int, when: datetime, po: str, exact: bool = False
    ) -> GoodsReceipt:
        """The delivery of `units` base units ordered on `po`: by weight (within ±1.5%) for
        what is weighed, else in the supplier's packs; at the day's market price."""
        rng = self.rng
        spec = _INGREDIENT_BY_CODE.get(sku.sku)
        batch = expiry = None
        if sku.batch_managed:
            batch = f"L{when:%y%m%d}{rng.randint(100, 999)}"
            expiry = when.date() + timedelta(days=sku.shelf_life_days or 365)
        if spec is not None and spec.weighed and not exact:
            units = max(1, round(units * rng.uniform(0.985, 1.015)))
        if spec is not None and spec.pack is not None and units % spec.pack[1] == 0:
            unit, size = spec.pack
        else:
            unit, size = self._big_unit(sku)
            if units % size and size != 1000:
                unit, size = sku.base_unit, 1
        qty = Decimal(units) / size
        price = sku.standard_cost * size * Decimal(str(rng.uniform(0.94, 1.06)))
        common = self._common("GR", when, f"RF-{location}")
        return GoodsReceipt(
            **common,
            temperature_curve=self._curve(sku, when - timedelta(hours=2), when, common["event_id"]),
            location=location,
            purchase_order=po,
            supplier=sku.supplier or "",
            sku=sku.sku,
            gtin=sku.gtin,
            batch=batch,
            expiry_date=expiry,
            qty=qty,
            unit=unit,
            unit_cost=price.quantize(_CENT),
        )

    # ------------------------------------------------------------------ the day
    def day(self, day: date) -> list:
        """All events of one simulated day, in time order, already applied to the sim's ledger."""
        sig = self.signals(day)
        rng = self.rng
        self._heap = []
        self._used = {}
        plan = self._plan

        def at(hour: int, minute: int = 0) -> datetime:
            return datetime.combine(day, time(hour, minute), TZ)

        for due, ev in [p for p in self._pending_receipts if p[0].date() <= day]:
            self._pending_receipts.remove((due, ev))
            plan(max(due, at(4, 0)), ev)
        orders = self._group_orders(day, sig)  # ordered the day before: the dispatch knows them
        for i, st in enumerate(self.stores):
            store = st.location
            mine = [o for o in orders if o.store == store]
            plan(at(6, 0) + timedelta(minutes=8 * i), ("dispatch", store, mine))
            plan(at(8, 30) + timedelta(minutes=rng.randint(0, 25)), ("prep", store, True))
            plan(at(15, 0) + timedelta(minutes=rng.randint(0, 30)), ("prep", store, False))
            for _ in range(_poisson(rng, self._tickets(store, sig))):
                part = rng.choices(DAY_PARTS, [p.share for p in DAY_PARTS])[0]
                if part.peak is not None:
                    minute = min(max(rng.gauss(part.peak, part.spread), part.start), part.end)
                else:
                    minute = rng.uniform(part.start, part.end)
                plan(at(0) + timedelta(minutes=minute, seconds=rng.randint(0, 59)), ("ticket", store, part))
            for _ in range(_poisson(rng, 0.25)):
                plan(at(11) + timedelta(minutes=rng.randint(0, 540)), ("spill", store))
            plan(at(21, 50), ("close", store))
            plan(at(22, 0) + timedelta(minutes=rng.randint(0, 20)), ("count", store))
        for order in orders:
            plan(at(9, 10) + timedelta(minutes=rng.randint(0, 20)), ("confirm", order))
            fate = rng.random()
            if fate < 0.03:
                plan(at(10, 0) + timedelta(minutes=rng.randint(0, 30)), ("cancel", order))
                continue
            if fate < 0.13:  # the customer changes the number of portions
                plan(at(10, 0) + timedelta(minutes=rng.randint(0, 30)), ("revise", order))
            plan(at(11, 10) + timedelta(minutes=rng.randint(0, 30)), ("serve", order))
            plan(at(14, 0), ("close_order", order))
        channel, dish, portions = _QUOTA
        plan(at(16, 30), ("quota", self.quota_store, channel, dish, portions))
        plan(at(21, 0), ("quota", self.quota_store, channel, dish, 0))
        if rng.random() < 0.15:
            plan(at(14) + timedelta(minutes=rng.randint(0, 120)), ("spill", self.kitchen))
        plan(at(20, 0), ("purchase",))
        if day.weekday() == 6:
            plan(at(21, 0), ("kitchen_count",))
        plan(at(23, 0), ("expire",))
        for loc in [*self.warehouses, *self.stores]:
            excursion = None
            if rng.random() < 0.04:
                start = rng.randint(0, 40)
                excursion = (start, start + rng.randint(2, 5))
            for slot in range(48):
                when = at(0) + timedelta(minutes=30 * slot, seconds=rng.randint(0, 20))
                hot = excursion is not None and excursion[0] <= slot < excursion[1]
                plan(when, ("temp", loc.location, hot))

        out: list = []
        heap = self._heap
        while heap:
            when, _, what = heapq.heappop(heap)
            if not isinstance(what, tuple):
                if self._apply(what, out) and isinstance(what, GoodsReceipt):
                    self._received(what)
                continue
            kind = what[0]
            if kind == "ticket":
                self._ticket(when, what[1], what[2], sig, out)
            elif kind == "refund":
                self._refund(when, what[1], what[2], out)
            elif kind == "dispatch":
                self._dispatch(when, what[1], what[2], day, out)
            elif kind == "prep":
                self._prep(when, what[1], what[2], day, out)
            elif kind in ("confirm", "revise", "cancel", "serve", "close_order"):
                self._group_meal(when, kind, what[1], day, out)
            elif kind == "quota":
                self._quota(when, *what[1:], out=out)
            elif kind == "spill":
                self._spill(when, what[1], out)
            elif kind == "close":
                self._close(when, what[1], out)
            elif kind == "count":
                self._count_store(when, what[1], out)
            elif kind == "kitchen_count":
                self._count_kitchen(when, out)
            elif kind == "purchase":
                self._order_ingredients(when, day, out)
            elif kind == "expire":
                self._expire(when, out)
            elif kind == "temp":
                self._temperature(when, what[1], what[2], out)
        return out

    # ------------------------------------------------------------------ supply
    def _brand_usage(self, day: date) -> dict[str, float]:
        total: dict[str, float] = {}
        for st in self.stores:
            for code, units in self._usage(st.location, day).items():
                total[code] = total.get(code, 0.0) + units
        return total

    def _order_ingredients(self, when: datetime, day: date, out: list) -> None:
        """The central kitchen's purchase orders for tomorrow: fresh goods every day (what the
        stores take tomorrow, with a margin), the rest when it runs down to a few days' worth;
        delivered early in the morning of the day they are due."""
        rng = self.rng
        tomorrow = day + timedelta(days=1)
        brand = self._brand_usage(tomorrow)
        on_order: dict[str, int] = {}
        for code, units in self._po_units.values():
            on_order[code] = on_order.get(code, 0) + units
        for code in self.stocked:
            sku = self.catalog.skus[code]
            use = brand.get(code, 0.0)
            if use <= 0:
                continue
            supplier = self.catalog.suppliers[sku.supplier or ""]
            lead = max(1, supplier.lead_time_days)
            # what tomorrow's dispatch can still send: not what expires by then
            have = self._free(self.kitchen, code, keeps_after=tomorrow) + on_order.get(code, 0)
            if sku.shelf_life_days is not None and sku.shelf_life_days <= 7:
                target = use * 1.3
            elif have < use * (lead + 3):  # kept longer: bought for a week or two at a time
                shelf = sku.shelf_life_days
                target = use * (lead + 10 if shelf is None else min(lead + 10, max(lead + 4, shelf // 2)))
            else:
                continue
            if have >= target:
                continue
            spec = _INGREDIENT_BY_CODE.get(code)
            step = spec.pack[1] if spec is not None and spec.pack else _step(sku)
            units = max(_round_up(target - have, step), sku.moq)
            po = self._next_id("PO")
            unit, size = spec.pack if spec is not None and spec.pack else self._big_unit(sku)
            due = tomorrow + timedelta(days=lead - 1)
            if lead > 1 and rng.random() < 0.05:
                due += timedelta(days=1)  # the dry-goods truck is a day late now and then
            if self._apply(
                PurchaseOrder(
                    **self._common("POE", when, "ERP"),
                    location=self.kitchen,
                    purchase_order=po,
                    supplier=supplier.supplier,
                    sku=code,
                    qty=Decimal(units) / size,
                    unit=unit,
                    expected_date=tomorrow + timedelta(days=lead - 1),
                ),
                out,
            ):
                arrive = datetime.combine(due, time(4, 30), TZ) + timedelta(minutes=rng.randint(0, 75))
                self._pending_receipts.append(
                    (arrive, self._receipt_of(self.kitchen, sku, units, arrive, po))
                )
                self._po_units[po] = (code, units)

    def _received(self, receipt: GoodsReceipt) -> None:
        self._po_units.pop(receipt.purchase_order, None)

    def _dispatch(self, when: datetime, store: str, orders: list[_GroupOrder], day: date, out: list) -> None:
        """The morning run from the central kitchen: each ingredient brought up to what the
        store is expected to use today with a margin (fresh goods), or to a few days' worth once
        it runs low (the rest), the group meals ordered for today included."""
        usage = dict(self._usage(store, day))
        for order in orders:  # what the orders take, in place of the expected group meals
            for product, units in order.lines.items():
                for code, per in _per_unit(self.catalog, product, store, day).items():
                    usage[code] = usage.get(code, 0.0) + units * float(per)
        for code in self.stocked:
            sku = self.catalog.skus[code]
            use = usage.get(code, 0.0)
            if use <= 0:
                continue
            have = self._stock(store, code) + self._in_transit(store, code)
            if sku.shelf_life_days is not None and sku.shelf_life_days <= 7:
                target = use * 1.3
            elif have < use * 1.5:
                target = use * 4
            else:
                continue
            if have >= target:
                continue
            self._send(when, store, sku, _round_up(target - have, _step(sku)), day, out)

    def _send(self, when: datetime, store: str, sku: Sku, qty: int, day: date, out: list) -> None:
        """Transfer from the central kitchen, batch by batch, earliest expiry first (a batch
        that expires today stays behind); the van arrives an hour or so later."""
        transfer_id = self._next_id("TR")
        common = {
            "transfer_id": transfer_id,
            "from_location": self.kitchen,
            "to_location": store,
            "sku": sku.sku,
        }
        remaining = qty
        arrive = when + timedelta(minutes=self.rng.randint(60, 100))
        for batch in self._fefo(self.kitchen, sku.sku):
            expiry = self.ledger.batch_expiry(self.kitchen, sku.sku, batch)
            if expiry is not None and expiry <= day:
                continue
            take = min(
                remaining, self.ledger.position(PositionKey(self.kitchen, sku.sku, batch)).unrestricted
            )
            if take <= 0:
                continue
            amount, unit = self._qty(sku, take)
            moved = {"gtin": sku.gtin, "batch": batch or None, "qty": amount, "unit": unit}
            if self._apply(
                TransferOut(**self._common("TO", when, f"RF-{self.kitchen}"), **common, **moved), out
            ):
                arriving = self._common("TI", arrive, f"RF-{store}")
                curve = self._curve(sku, when, arrive, arriving["event_id"])
                self._plan(arrive, TransferIn(**arriving, **common, **moved, temperature_curve=curve))
                remaining -= take
            if remaining <= 0:
                break

    # ------------------------------------------------------------------ the kitchen
    def _prep(self, when: datetime, store: str, morning: bool, day: date, out: list) -> None:
        """Make the semi-finished items: in the morning what lunch and the afternoon take, in
        the afternoon what the evening still needs; in whole rounds of the recipe, as far as the
        ingredients go."""
        usage = self._usage(store, day)
        for code in self.semi_finished:
            sku = self.catalog.skus[code]
            share = _MORNING_SHARE if morning else 1 - _MORNING_SHARE
            gap = usage.get(code, 0.0) * share * 1.3 - self._free(store, code)
            if gap <= 0:
                continue
            recipe = self.catalog.recipe_for(code, store, day)
            if recipe is None:
                continue
            size = int(recipe.yield_qty)
            rounds = math.ceil(gap / size)
            while rounds > 0:
                taken = self._taken(code, rounds * size, store, day)
                if all(units <= self._free(store, raw) for raw, units in taken.items()):
                    break
                rounds -= 1
            if rounds <= 0:
                continue
            number = self._prep_numbers.get((store, code, day), 0) + 1
            self._prep_numbers[(store, code, day)] = number
            amount, unit = self._qty(sku, rounds * size)
            event = PrepProduced(
                **self._common("PREP", when, f"KDS-{store}"),
                location=store,
                prep_id=self._next_id("PP"),
                sku=code,
                qty=amount,
                unit=unit,
                batch=f"{code.removeprefix('SEMI-')}-{store}-{day:%y%m%d}-{number}",
            )
            if self._apply(event, out):
                self._use(store, self._taken(code, rounds * size, store, day))
        if len(self._prep_numbers) > 256:
            self._prep_numbers = {k: v for k, v in self._prep_numbers.items() if k[2] >= day}

    # ------------------------------------------------------------------ the tills
    def _can_make(
        self, store: str, lines: Mapping[str, int], day: date, kept: Mapping[str, int] | None = None
    ) -> bool:
        need: dict[str, int] = {}
        for product, qty in lines.items():
            for code, units in self._taken(product, qty, store, day).items():
                need[code] = need.get(code, 0) + units
        kept = kept or {}
        return all(units <= self._free(store, code) + kept.get(code, 0) for code, units in need.items())

    def _ticket(self, when: datetime, store: str, part: DayPart, sig: DaySignals, out: list) -> None:
        rng = self.rng
        day = sig.day
        channel = rng.choices(_TILL_CHANNELS, part.channels)[0]
        party = rng.choice(_PARTY[channel])
        weights = self._weights(store, sig)
        wanted: dict[str, int] = {}

        def pick(group: Mapping[str, float]) -> None:
            codes = sorted(group)
            code = rng.choices(codes, [weights[c] for c in codes])[0]
            wanted[code] = wanted.get(code, 0) + 1

        for _ in range(party):
            if rng.random() < part.main_rate:
                pick(_MAINS)
            if rng.random() < part.drink_rate:
                pick(_DRINKS)
        if party >= 2 and rng.random() < _SIDE_RATE:
            pick(_SIDES)
        lines: dict[str, int] = {}
        for code, qty in wanted.items():  # what the kitchen cannot make is sold out (沽清)
            kept = None
            if store == self.quota_store and (channel.value, code) == (_QUOTA[0].value, _QUOTA[1]):
                kept = self.ledger.allocation(store, quota_holder(channel.value, code))
            for n in (qty, 1):
                if n <= qty and self._can_make(store, {**lines, code: n}, day, kept):
                    lines[code] = n
                    break
        if not lines:
            return
        sale = PosSale(
            **self._common("POS", when, f"POS-{store}-1"),
            store=store,
            ticket=self._next_id("T"),
            channel=channel,
            lines=[self._line(code, qty, sig) for code, qty in lines.items()],
        )
        if not self._apply(sale, out):
            return
        for code, qty in lines.items():
            self._use(store, self._taken(code, qty, store, day))
        if rng.random() < (0.03 if channel is SalesChannel.DELIVERY else 0.012):
            self._plan(when + timedelta(minutes=rng.randint(5, 40)), ("refund", sale, rng.random() < 0.35))

    def _line(
        self, code: str, qty: int, sig: DaySignals | None = None, price: Decimal | None = None
    ) -> PosLine:
        sku = self.catalog.skus[code]
        if price is None:
            price = self.price[code] * (
                Decimal("0.85") if sig is not None and code in sig.promoted_skus else 1
            )
        return PosLine(
            sku=code,
            gtin=sku.gtin,
            qty=Decimal(qty),
            unit=sku.base_unit,
            unit_price=price.quantize(_CENT),
        )

    def _refund(self, when: datetime, sale: PosSale, untouched: bool, out: list) -> None:
        """A dish sent back or a delivery order refunded: one portion of one line; an untouched
        one (cancelled before the kitchen started on it) gives its ingredients back."""
        line = self.rng.choice(sale.lines)
        dish = self.catalog.skus[line.sku].kind is SkuKind.DISH
        self._apply(
            PosReturn(
                **self._common("RET", when, f"POS-{sale.store}-1"),
                store=sale.store,
                ticket=self._next_id("T"),
                original_ticket=sale.ticket,
                channel=sale.channel,
                lines=[line.model_copy(update={"qty": Decimal(1)})],
                restock_ingredients=untouched and dish,
            ),
            out,
        )

    def _quota(
        self, when: datetime, store: str, channel: SalesChannel, dish: str, portions: int, out: list
    ) -> None:
        self._apply(
            ChannelQuota(
                **self._common("QTA", when, f"POS-{store}-1"),
                location=store,
                channel=channel,
                dish=dish,
                portions=portions,
            ),
            out,
        )

    # ------------------------------------------------------------------ group meals (团餐)
    def _group_orders(self, day: date, sig: DaySignals) -> list[_GroupOrder]:
        rng = self.rng
        orders = []
        for st in self.stores:
            for _ in range(_poisson(rng, self._group_rate(st.location, sig))):
                portions = 5 * rng.randint(_GROUP_PORTIONS[0] // 5, _GROUP_PORTIONS[1] // 5)
                lines = {_GROUP_SET: portions}
                if rng.random() < _GROUP_TEA:
                    lines["DRINK-ICED-TEA"] = portions
                orders.append(
                    _GroupOrder(
                        st.location,
                        f"GM-{st.location}-{day:%y%m%d}-{len(orders) + 1}",
                        rng.choice(sorted(self.catalog.customers)),
                        lines,
                    )
                )
        return orders

    def _group_meal(self, when: datetime, step: str, order: _GroupOrder, day: date, out: list) -> None:
        """A group meal's day: confirmed in the morning (its ingredients reserved), perhaps
        revised or cancelled, served before lunch by a ticket that names it (a few portions
        fewer now and then), closed after lunch (what it still holds released)."""
        rng = self.rng
        store = order.store
        held = self.ledger.allocation(store, order_holder(order.order))
        common = {"location": store, "order": order.order, "customer": order.customer, "serve_date": day}
        source = f"POS-{store}-1"
        if step == "revise":
            change = rng.choice([-10, -5, 5, 10])
            order.lines = {code: max(5, units + change) for code, units in order.lines.items()}
            step = "confirm"
        if step == "confirm":
            self._apply(
                GroupMealOrder(
                    **self._common("GMO", when, source),
                    **common,
                    lines=[
                        GroupMealLine(dish=code, portions=units)
                        for code, units in sorted(order.lines.items())
                    ],
                ),
                out,
            )
        elif step == "cancel":
            if held:  # an order that could reserve nothing is simply not served
                self._apply(
                    GroupMealOrder(
                        **self._common("GMO", when, source), **common, action=GroupMealAction.CANCEL
                    ),
                    out,
                )
            order.lines = {}
        elif step == "serve" and order.lines:
            short = rng.randint(1, 3) if rng.random() < 0.15 else 0
            lines = {code: max(1, units - short) for code, units in order.lines.items()}
            while lines and not self._can_make(store, lines, day, held):
                lines = {code: units - 5 for code, units in lines.items() if units > 5}
            if not lines:
                return
            sale = PosSale(
                **self._common("POS", when, source),
                store=store,
                ticket=self._next_id("T"),
                channel=SalesChannel.GROUP_MEAL,
                customer=order.customer,
                order=order.order,
                lines=[
                    self._line(code, qty, price=self._group_price(code))
                    for code, qty in sorted(lines.items())
                ],
            )
            if self._apply(sale, out):
                for code, qty in lines.items():
                    self._use(store, self._taken(code, qty, store, day))
                if rng.random() < 0.05:  # a few portions were never collected: refunded uncooked
                    code = sorted(lines)[0]
                    back = min(lines[code], rng.randint(2, 5))
                    self._apply(
                        PosReturn(
                            **self._common("RET", when + timedelta(minutes=30), source),
                            store=store,
                            ticket=self._next_id("T"),
                            original_ticket=sale.ticket,
                            channel=SalesChannel.GROUP_MEAL,
                            lines=[self._line(code, back, price=self._group_price(code))],
                            restock_ingredients=True,
                        ),
                        out,
                    )
        elif step == "close_order" and order.lines:
            self._apply(
                GroupMealOrder(**self._common("GMO", when, source), **common, action=GroupMealAction.CLOSE),
                out,
            )

    def _group_price(self, code: str) -> Decimal:
        return self.price[code] * (Decimal("0.75") if code != _GROUP_SET else 1)

    # ------------------------------------------------------------------ losses and counts
    def _spill(self, when: datetime, location: str, out: list) -> None:
        """Eggs dropped, a carton of milk burst, tomatoes crushed, a tray of tofu broken."""
        rng = self.rng
        code, low, high, note = rng.choice(_MISHAPS)
        batches = [
            b
            for b in self._fefo(location, code)
            if self.ledger.batches_at(location, code)[b].unrestricted > 0
        ]
        if not batches:
            return
        batch = batches[0]
        free = self.ledger.batches_at(location, code)[batch].unrestricted
        qty = min(free, rng.randint(low, high))
        self._apply(
            StockAdjustment(
                **self._common("ADJ", when, f"RF-{location}"),
                location=location,
                sku=code,
                batch=batch or None,
                qty=Decimal(-qty),
                unit=self.catalog.skus[code].base_unit,
                reason=AdjustmentReason.DAMAGE,
                note=note,
            ),
            out,
        )

    def _close(self, when: datetime, store: str, out: list) -> None:
        """At closing the day's broth and brewed tea are thrown away."""
        for code in _DISCARDED_AT_CLOSING:
            for batch in self._fefo(store, code):
                free = self.ledger.batches_at(store, code)[batch].unrestricted
                if free <= 0:
                    continue
                self._apply(
                    StockAdjustment(
                        **self._common("ADJ", when, f"KDS-{store}"),
                        location=store,
                        sku=code,
                        batch=batch or None,
                        qty=Decimal(-free),
                        unit=self.catalog.skus[code].base_unit,
                        reason=AdjustmentReason.EXPIRED,
                        note="当日剩余报废 (left over at closing, thrown away)",
                    ),
                    out,
                )

    def _count_store(self, when: datetime, store: str, out: list) -> None:
        """The closing count of the main ingredients, batch by batch: a little below the book
        most nights (waste, over-portioning: a share of what the day used), now and then a
        little above (portions on the small side)."""
        rng = self.rng
        for code in self.counted:
            sku = self.catalog.skus[code]
            used = self._used.get((store, code), 0)
            draw = rng.random()
            if sku.kind is SkuKind.GOODS and sku.base_unit == "each":
                delta = -1 if draw < 0.05 else 0
            elif draw < 0.8:
                delta = -round(used * rng.uniform(0.004, 0.03))
            elif draw < 0.9:
                delta = round(used * rng.uniform(0.0, 0.008))
            else:
                delta = 0
            self._count(when, store, sku, delta, out)

    def _count_kitchen(self, when: datetime, out: list) -> None:
        """The central kitchen's weekly stocktake of its main ingredients (meat loses a little
        weight in the cold room)."""
        for code in self.counted:
            sku = self.catalog.skus[code]
            if sku.kind is not SkuKind.GOODS:
                continue
            book = sum(max(p.on_hand, 0) for p in self.ledger.batches_at(self.kitchen, code).values())
            delta = -round(book * self.rng.uniform(0.0, 0.004)) if sku.category == "meat" else 0
            self._count(when, self.kitchen, sku, delta, out)

    def _count(self, when: datetime, location: str, sku: Sku, delta: int, out: list) -> None:
        """Count every batch on hand; `delta` (base units) is what the count finds against the
        book: a shortfall taken from the earliest batches, a surplus found in the first."""
        batches = [
            b
            for b in self._fefo(location, sku.sku)
            if self.ledger.batches_at(location, sku.sku)[b].on_hand > 0
        ]
        count_id = self._next_id("CNT")  # one count of the SKU: a line per batch on hand
        for i, batch in enumerate(batches):
            book = self.ledger.batches_at(location, sku.sku)[batch].on_hand
            change = max(delta, -book) if delta < 0 else (delta if i == 0 else 0)
            delta -= change
            amount, unit = self._qty(sku, book + change)
            count = CycleCount(
                **self._common("CC", when, f"RF-{location}"),
                location=location,
                count_id=count_id,
                sku=sku.sku,
                gtin=sku.gtin,
                batch=batch or None,
                counted_qty=amount,
                unit=unit,
            )
            if self._apply(count, out) and change:
                self._book_variance(count, PositionKey(location, sku.sku, batch or NO_BATCH))

    def _book_variance(self, count: CycleCount, key: PositionKey) -> None:
        """What the count found is physical reality: booked in the simulator's own ledger at
        once, and kept as the adjustment the reconciliation will post (never sent from here)."""
        record = self.ledger.counted_after(key, count.occurred_at - timedelta(microseconds=1))
        if record is None or record.event_id != count.event_id or not record.variance:
            return
        unit = self.catalog.skus[key.sku].base_unit
        adjustment = variance_adjustment(record, count.occurred_at, unit=unit)
        self.ledger.apply(adjustment)  # a count variance is never refused
        self.count_variances[count.event_id] = adjustment


_INGREDIENT_BY_CODE = {i.code: i for i in _INGREDIENTS}
#: What goes wrong in a kitchen now and then: SKU, least and most base units lost, note.
_MISHAPS = (
    ("ING-EGG", 60, 600, "一盘鸡蛋打碎 (a tray of eggs dropped)"),
    ("ING-MILK", 250, 1000, "牛奶盒破损 (a carton of milk burst)"),
    ("ING-TOMATO", 200, 800, "番茄压烂 (tomatoes crushed in the crate)"),
    ("ING-TOFU", 200, 600, "豆腐碎了 (a tray of tofu broken)"),
)
