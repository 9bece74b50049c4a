"""Master data: SKUs (GS1 GTIN via biip, units of measure, shelf life, cold chain, lifecycle,
serial numbers), locations, suppliers, customers, other systems' codes (aliases) and exchange
rates: the catalogue the stream checks every event against.

A SKU's lifecycle is draft → active ⇄ frozen → archived (a draft may be archived, an archived
SKU may come back as frozen). What each state admits is the ledger's rule
(`stockflow.ledger`); which moves are allowed is `SKU_TRANSITIONS`."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from biip import ParseError
from biip.gtin import Gtin
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class InvalidGtin(ValueError):
    """A GTIN that is not a valid GS1 number (length, digits or check digit)."""


@lru_cache(maxsize=262_144)
def validate_gtin(value: str) -> str:
    """Return the GTIN as its canonical 14 digits, or raise `InvalidGtin` with biip's reason.

    Cached: a store scans the same few thousand GTINs all day, and a catalogue of a few hundred
    thousand SKUs loads without checking each again (failures are not cached)."""
    try:
        gtin = Gtin.parse(value.strip())
    except ParseError as exc:
        raise InvalidGtin(str(exc)) from exc
    return gtin.as_gtin_14()


class NegativeStockPolicy(StrEnum):
    REJECT = "reject"
    ALLOW_AND_FLAG = "allow_and_flag"


class ValuationMethod(StrEnum):
    """How a SKU's stock is valued (see `stockflow.valuation`)."""

    FIFO = "fifo"
    MOVING_AVERAGE = "moving_average"


#: VAT rates of the Chinese general VAT taxpayer: 13% goods, 9% farm produce and basic food,
#: 6% services, 0% exports and exempt goods.
VAT_RATES = (Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0"))


class Category(StrEnum):
    """The categories the accounting policy knows out of the box; a company adds its own (a
    category is any code: one the policy does not name is valued by its default method)."""

    CHILLED_FOOD = "chilled_food"
    DRY_GOODS = "dry_goods"
    ELECTRONICS = "electronics"


def _unset(value: object) -> bool:
    return value is None


def _empty(value: object) -> bool:
    return not value


class SkuKind(StrEnum):
    """What a SKU is to the stock: goods are bought and kept; a dish (a drink, a set meal) is
    made to order from its recipe when it is sold and never kept; a semi-finished item (a sauce,
    dough, brewed tea) is made in store from its recipe by a prep event and kept in batches."""

    GOODS = "goods"
    DISH = "dish"
    SEMI_FINISHED = "semi_finished"


class SkuStatus(StrEnum):
    """Where a SKU is in its life: 新建 draft, 启用 active, 冻结 frozen, 归档 archived."""

    DRAFT = "draft"
    ACTIVE = "active"
    FROZEN = "frozen"
    ARCHIVED = "archived"


#: The lifecycle moves allowed from each state. A draft is not yet trusted (nothing moves);
#: frozen stock is sold down and counted but not bought; an archived SKU takes no events and
#: comes back only as frozen (its history may still hold stock somewhere).
SKU_TRANSITIONS: dict[SkuStatus, frozenset[SkuStatus]] = {
    SkuStatus.DRAFT: frozenset({SkuStatus.ACTIVE, SkuStatus.ARCHIVED}),
    SkuStatus.ACTIVE: frozenset({SkuStatus.FROZEN}),
    SkuStatus.FROZEN: frozenset({SkuStatus.ACTIVE, SkuStatus.ARCHIVED}),
    SkuStatus.ARCHIVED: frozenset({SkuStatus.FROZEN}),
}


class Sku(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Code
    gtin: str
    name: str = Field(min_length=1, max_length=200)
    category: Code
    status: SkuStatus = SkuStatus.ACTIVE
    kind: SkuKind = SkuKind.GOODS
    serial_managed: bool = Field(
        default=False, description="One serial number per base unit, carried from receipt to sale and return."
    )
    base_unit: Code = "each"
    packs: dict[str, int] = Field(
        default_factory=dict, description="Other units and how many base units each holds."
    )
    shelf_life_days: int | None = Field(default=None, gt=0)
    batch_managed: bool = False
    cold_chain_min_c: float | None = None
    cold_chain_max_c: float | None = None
    cold_chain_tolerance_minutes: float | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 60,
        exclude_if=_unset,
        description="Minutes a curve may spend outside the range before goods are quarantined "
        "(None: the company's excursion_minutes setting).",
    )
    reorder_point: int = Field(default=0, ge=0, description="In base units, per location.")
    supplier: Code | None = Field(
        default=None, description="The usual supplier: purchase suggestions go to it."
    )
    moq: int = Field(default=0, ge=0, description="The supplier's minimum order quantity, in base units.")
    negative_stock: NegativeStockPolicy = NegativeStockPolicy.REJECT
    standard_cost: Decimal = Field(default=Decimal("0"), ge=0)
    vat_rate: Decimal = Field(default=Decimal("0.13"), description="Output VAT rate: 0.13, 0.09, 0.06 or 0.")
    wholesale_price: Decimal | None = Field(
        default=None, ge=0, description="B2B price per base unit excluding VAT (None: invoiced elsewhere)."
    )
    valuation_method: ValuationMethod | None = Field(
        default=None, description="None: the category's method from the accounting policy."
    )

    @field_validator("vat_rate")
    @classmethod
    def _vat_rate(cls, value: Decimal) -> Decimal:
        if value not in VAT_RATES:
            raise ValueError(f"VAT rate {value} is not one of {', '.join(str(r) for r in VAT_RATES)}")
        return value

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, value: str) -> str:
        try:
            return validate_gtin(value)
        except InvalidGtin as exc:
            raise ValueError(f"invalid GTIN {value!r}: {exc}") from exc

    @field_validator("packs")
    @classmethod
    def _packs(cls, value: dict[str, int]) -> dict[str, int]:
        for unit, factor in value.items():
            if factor < 1:
                raise ValueError(f"pack {unit!r} must hold at least one base unit, not {factor}")
        return value

    @model_validator(mode="after")
    def _cold_chain_range(self) -> Sku:
        low, high = self.cold_chain_min_c, self.cold_chain_max_c
        if (low is None) != (high is None):
            raise ValueError("a cold-chain range needs both a minimum and a maximum")
        if low is not None and high is not None and low >= high:
            raise ValueError(f"cold-chain minimum {low} must be below maximum {high}")
        if self.base_unit in self.packs and self.packs[self.base_unit] != 1:
            raise ValueError("the base unit holds exactly one base unit")
        return self

    @model_validator(mode="after")
    def _serials_count_units(self) -> Sku:
        if self.serial_managed and self.negative_stock is not NegativeStockPolicy.REJECT:
            raise ValueError("a serial-managed SKU cannot allow negative stock: each unit is one serial")
        return self

    @model_validator(mode="after")
    def _dishes_are_not_kept(self) -> Sku:
        if self.kind is SkuKind.DISH and (self.serial_managed or self.batch_managed):
            raise ValueError("a dish is made to order and never kept: it has no batches or serial numbers")
        return self

    @property
    def is_cold_chain(self) -> bool:
        return self.cold_chain_min_c is not None

    @property
    def is_perishable(self) -> bool:
        return self.shelf_life_days is not None

    def units(self) -> dict[str, int]:
        return {self.base_unit: 1, **self.packs}

    @property
    def min_pack_units(self) -> int | None:
        """Base units in the smallest pack the SKU is ordered in (最小包装), None if it has none."""
        return min((n for n in self.packs.values() if n > 1), default=None)


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    #: A factory: work orders are released, issued and received here.
    PLANT = "plant"
    #: A subcontractor's site (委外): materials sent there are the work order's, not stock.
    SUBCONTRACTOR = "subcontractor"


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    location: Code
    name: str
    kind: LocationKind
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    city: str = ""
    accounting_unit: Code = Field(
        default="main", description="The books (账套) this location's stock is accounted in."
    )

    def distance_km(self, other: Location) -> float:
        """Great-circle distance (haversine)."""
        lat1, lon1, lat2, lon2 = map(
            math.radians, (self.latitude, self.longitude, other.latitude, other.longitude)
        )
        h = (
            math.sin((lat2 - lat1) / 2) ** 2
            + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        )
        return 2 * 6371.0088 * math.asin(math.sqrt(h))


class Licence(BaseModel):
    """A supplier's licence or certificate (食品经营许可证, 食品生产许可证, GSP 证书, ...): its
    kind, number and the last day it is valid."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    kind: str = Field(min_length=1, max_length=100)
    number: str = Field(min_length=1, max_length=100)
    valid_until: date


class Supplier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    supplier: Code
    name: str
    lead_time_days: int = Field(default=3, ge=0)
    phone: str = ""
    payment_terms_days: int | None = Field(
        default=None, ge=0, le=3650, description="Days from invoice to due date (default: the books' terms)."
    )
    licences: tuple[Licence, ...] = Field(
        default=(),
        exclude_if=_empty,
        description="Licences on file: goods are not received from it once one has expired.",
    )

    def expired_licences(self, day: date) -> list[Licence]:
        """The licences no longer valid on `day` (valid through their `valid_until`)."""
        return [lic for lic in self.licences if lic.valid_until < day]


class OverLimit(StrEnum):
    """What happens to a reservation or issue that takes a customer over its credit limit."""

    REFUSE = "refuse"
    APPROVAL = "approval"  # held until a person approves the order above the limit


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer: Code
    name: str
    phone: str = ""
    id_number: str = ""
    credit_limit: Decimal | None = Field(
        default=None,
        ge=0,
        max_digits=16,
        decimal_places=2,
        description="Open receivables plus open orders allowed (None: no limit).",
    )
    over_credit_limit: OverLimit = OverLimit.REFUSE
    rebate_rate: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        le=Decimal("0.5"),
        description="Rebate accrued on invoiced net sales (customer agreement).",
    )
    payment_terms_days: int | None = Field(default=None, ge=0, le=3650)


#: The most a preparation may lose (损耗率 below 95%: a component is at least 5% usable).
MAX_LOSS_RATE = Decimal("0.95")


class RecipeComponent(BaseModel):
    """One ingredient (or semi-finished item, or dish of a set meal) of a recipe: the quantity
    that goes into one round of the recipe, in any unit of that SKU, and the share lost
    preparing it (损耗率: trimming, peeling, evaporation), so that ``qty ÷ (1 − loss_rate)`` is
    taken from stock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Code
    qty: Decimal = Field(gt=0, max_digits=14, decimal_places=4)
    unit: Code | None = Field(default=None, description="None: the SKU's base unit.")
    loss_rate: Decimal = Field(default=Decimal("0"), ge=0, lt=MAX_LOSS_RATE, max_digits=5, decimal_places=4)


class Recipe(BaseModel):
    """What a dish or a semi-finished item is made of (配方/BOM), from a day on, for every
    store or for one store's own variant (which wins over the common recipe at that store).

    One round of the recipe makes `yield_qty` base units of `product` (1 portion of a dish,
    2,000 g of a sauce): making `n` base units takes ``n × qty ÷ yield_qty ÷ (1 − loss_rate)``
    of each component (`stockflow.recipes`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: Code
    store: Code | None = Field(default=None, description="None: every store; else this store's variant.")
    effective_from: date
    yield_qty: Decimal = Field(default=Decimal("1"), gt=0, max_digits=14, decimal_places=4)
    components: list[RecipeComponent] = Field(min_length=1, max_length=100)
    name: str = Field(default="", max_length=200)

    @field_validator("components")
    @classmethod
    def _distinct(cls, value: list[RecipeComponent]) -> list[RecipeComponent]:
        seen = set()
        for component in value:
            if component.sku in seen:
                raise ValueError(f"component {component.sku} is listed twice: give it once with its total")
            seen.add(component.sku)
        return value

    @property
    def key(self) -> str:
        return recipe_key(self.product, self.store, self.effective_from)


def recipe_key(product: str, store: str | None, effective_from: date) -> str:
    return f"{product}|{store or '*'}|{effective_from.isoformat()}"


#: The highest scrap factor a BOM line may carry (a line that scraps more than it keeps is a
#: data-entry error, not a process).
MAX_SCRAP_RATE = Decimal("1")


class BomSubstitute(BaseModel):
    """A material that may stand in for a BOM line's own (替代料): the first by `priority` (1
    first) that is in effect on the day is used when the line's material is short; `ratio`
    units of it replace one unit of the line's material (both in their base units)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Code
    priority: int = Field(default=1, ge=1, le=99)
    ratio: Decimal = Field(default=Decimal("1"), gt=0, max_digits=12, decimal_places=4)
    valid_from: date | None = None
    valid_to: date | None = Field(default=None, description="The last day it may be used (inclusive).")

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


class BomLine(BaseModel):
    """One material of a bill of materials: `qty` in `unit` per `Bom.base_qty` base units of
    the parent, plus `scrap_rate` of it lost in production (损耗), so that making `n` units
    issues ``n × qty ÷ base_qty × (1 + scrap_rate)``; and the substitutes that may replace it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Code
    qty: Decimal = Field(gt=0, max_digits=14, decimal_places=4)
    unit: Code | None = Field(default=None, description="None: the material's base unit.")
    scrap_rate: Decimal = Field(default=Decimal("0"), ge=0, le=MAX_SCRAP_RATE, max_digits=5, decimal_places=4)
    substitutes: list[BomSubstitute] = Field(default_factory=list, max_length=20)

    @field_validator("substitutes")
    @classmethod
    def _distinct_substitutes(cls, value: list[BomSubstitute]) -> list[BomSubstitute]:
        if len({s.sku for s in value}) != len(value):
            raise ValueError("a substitute is listed twice")
        return sorted(value, key=lambda s: (s.priority, s.sku))


class BomOperation(BaseModel):
    """A step of the routing (工序): the hours it takes per base unit of the parent, and the
    labour and overhead rates per hour that a reported hour adds to the work order's cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: Code
    name: str = Field(default="", max_length=200)
    hours_per_unit: Decimal = Field(default=Decimal("0"), ge=0, max_digits=12, decimal_places=4)
    labour_rate: Decimal = Field(default=Decimal("0"), ge=0, max_digits=14, decimal_places=2)
    overhead_rate: Decimal = Field(default=Decimal("0"), ge=0, max_digits=14, decimal_places=2)


class Bom(BaseModel):
    """A bill of materials (物料清单) of a manufactured product, from a day on (every version
    kept: a work order is made to the version in effect on the day it was released). A line
    whose material has a BOM of its own is a sub-assembly: made by its own work orders, or
    taken from stock (`stockflow.production`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: Code
    effective_from: date
    base_qty: Decimal = Field(default=Decimal("1"), gt=0, max_digits=14, decimal_places=4)
    lines: list[BomLine] = Field(min_length=1, max_length=1000)
    operations: list[BomOperation] = Field(default_factory=list, max_length=50)
    name: str = Field(default="", max_length=200)

    @field_validator("lines")
    @classmethod
    def _distinct(cls, value: list[BomLine]) -> list[BomLine]:
        seen = set()
        for line in value:
            if line.sku in seen:
                raise ValueError(f"material {line.sku} is listed twice: give it once with its total")
            seen.add(line.sku)
        return value

    @field_validator("operations")
    @classmethod
    def _distinct_operations(cls, value: list[BomOperation]) -> list[BomOperation]:
        if len({o.operation for o in value}) != len(value):
            raise ValueError("an operation is listed twice")
        return value

    @property
    def key(self) -> str:
        return bom_key(self.product, self.effective_from)

    def line(self, sku: str) -> BomLine | None:
        return next((line for line in self.lines if line.sku == sku), None)

    def operation(self, code: str) -> BomOperation | None:
        return next((o for o in self.operations if o.operation == code), None)


def bom_key(product: str, effective_from: date) -> str:
    return f"{product}|{effective_from.isoformat()}"


AliasKind = Literal["sku", "location"]


class Alias(BaseModel):
    """Another system's code for one of our SKUs or locations (a legacy ERP's item number, a
    delivery platform's store id, a supplier's own article code)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: Code = Field(
        description="The system that uses the code, e.g. legacy_erp, meituan, supplier.S001."
    )
    code: Code
    kind: AliasKind
    target: Code = Field(description="Our SKU or location code.")

    @property
    def key(self) -> str:
        return alias_key(self.kind, self.system, self.code)


def alias_key(kind: str, system: str, code: str) -> str:
    return f"{kind}|{system}|{code}"


class ExchangeRate(BaseModel):
    """Units of the books' currency one unit of `currency` buys, from `valid_from` on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    valid_from: date
    rate: Decimal = Field(gt=0, max_digits=18, decimal_places=8)

    @property
    def key(self) -> str:
        return f"{self.currency}|{self.valid_from.isoformat()}"


class AmbiguousAlias(LookupError):
    """A code that other systems use for more than one of our SKUs or locations."""

    def __init__(self, kind: str, code: str, targets: list[str]) -> None:
        super().__init__(
            f"{kind} code {code!r} is an alias of {', '.join(targets)}: it names no single {kind}"
        )
        self.kind = kind
        self.code = code
        self.targets = targets


def _in_effect(versions: list[Recipe], day: date) -> Recipe | None:
    """The newest of `versions` (sorted by effective day) in effect on `day`."""
    found = None
    for recipe in versions:
        if recipe.effective_from > day:
            break
        found = recipe
    return found


class UnitConversionError(ValueError):
    pass


#: Indexes a catalogue keeps derived from itself, each stamped with what it was made from.
CATALOG_INDEXES = ("_alias_cache", "_cold_chain_cache", "_recipe_cache", "_bom_cache")


class Catalog(BaseModel):
    """All master data, indexed for lookups by code and by GTIN."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skus: dict[str, Sku] = Field(default_factory=dict)
    locations: dict[str, Location] = Field(default_factory=dict)
    suppliers: dict[str, Supplier] = Field(default_factory=dict)
    customers: dict[str, Customer] = Field(default_factory=dict)
    #: Other systems' codes, by `Alias.key`.
    aliases: dict[str, Alias] = Field(default_factory=dict)
    #: Exchange rates by `ExchangeRate.key`.
    rates: dict[str, ExchangeRate] = Field(default_factory=dict)
    #: Recipes of dishes and semi-finished items by `Recipe.key` (every version kept: a sale
    #: is made with the version in effect on its day).
    recipes: dict[str, Recipe] = Field(default_factory=dict)
    #: Bills of materials by `Bom.key` (every version kept).
    boms: dict[str, Bom] = Field(default_factory=dict)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = Field(
        default="CNY", description="The books' currency: what every cost is booked in."
    )
    #: The master-data version this catalogue includes (the highest change applied), and each
    #: entity's own (by change key): a change at or below an entity's version is old news.
    version: int = 0
    versions: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_gtins(self) -> Catalog:
        seen: dict[str, str] = {}
        for sku in self.skus.values():
            if sku.gtin in seen:
                raise ValueError(f"GTIN {sku.gtin} is used by both {seen[sku.gtin]} and {sku.sku}")
            seen[sku.gtin] = sku.sku
            if sku.supplier is not None and sku.supplier not in self.suppliers:
                raise ValueError(
                    f"SKU {sku.sku} names supplier {sku.supplier!r}, which is not in master data"
                )
        return self

    @classmethod
    def build(
        cls,
        skus: list[Sku],
        locations: list[Location],
        suppliers: list[Supplier] = (),  # type: ignore[assignment]
        customers: list[Customer] = (),  # type: ignore[assignment]
    ) -> Catalog:
        return cls(
            skus={s.sku: s for s in skus},
            locations={loc.location: loc for loc in locations},
            suppliers={s.supplier: s for s in suppliers},
            customers={c.customer: c for c in customers},
        )

    # ------------------------------------------------------------------ other systems' codes
    def categories(self) -> dict[str, str]:
        """Each SKU's category."""
        return {s.sku: s.category for s in self.skus.values()}

    def alias_targets(self, kind: str, code: str) -> list[str]:
        """Our codes that other systems' `code` stands for (any system), sorted."""
        index = self._alias_index()
        return sorted(index.get((kind, code), ()))

    def resolve(self, kind: AliasKind, code: str) -> str:
        """Our own code for `code`: itself when it is one of ours, else the one SKU or location
        other systems mean by it (unchanged when no system knows it: the caller refuses it as
        unknown). Raises `AmbiguousAlias` when it stands for several."""
        own = self.skus if kind == "sku" else self.locations
        if code in own or not self.aliases:
            return code
        targets = self.alias_targets(kind, code)
        if len(targets) > 1:
            raise AmbiguousAlias(kind, code, targets)
        return targets[0] if targets else code

    def _alias_index(self) -> dict[tuple[str, str], set[str]]:
        cached = self.__dict__.get("_alias_cache")
        if cached is not None and cached[0] == (len(self.aliases), self.version):
            return cached[1]
        index: dict[tuple[str, str], set[str]] = {}
        for alias in self.aliases.values():
            index.setdefault((alias.kind, alias.code), set()).add(alias.target)
        self.__dict__["_alias_cache"] = ((len(self.aliases), self.version), index)
        return index

    def forget_indexes(self) -> None:
        """Drop the derived indexes after a change in place (a change applied out of order
        leaves the stamps as they were)."""
        for name in CATALOG_INDEXES:
            self.__dict__.pop(name, None)

    def cold_chain_codes(self) -> list[str]:
        """The codes of the cold-chain SKUs, sorted (kept until the catalogue changes: every
        temperature reading asks)."""
        cached = self.__dict__.get("_cold_chain_cache")
        stamp = (id(self.skus), len(self.skus), self.version)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        codes = sorted(code for code, sku in self.skus.items() if sku.is_cold_chain)
        self.__dict__["_cold_chain_cache"] = (stamp, codes)
        return codes

    # ------------------------------------------------------------------ recipes
    def recipe_for(self, product: str, store: str, day: date) -> Recipe | None:
        """The recipe `product` is made with at `store` on `day`: the store's own variant in
        effect then, else the common recipe in effect then (None: it has none)."""
        versions = self._recipe_index().get(product)
        if not versions:
            return None
        own = versions.get(store)
        if own is not None:
            found = _in_effect(own, day)
            if found is not None:
                return found
        common = versions.get(None)
        return _in_effect(common, day) if common is not None else None

    def has_recipe(self, product: str) -> bool:
        return product in self._recipe_index()

    def _recipe_index(self) -> dict[str, dict[str | None, list[Recipe]]]:
        cached = self.__dict__.get("_recipe_cache")
        stamp = (id(self.recipes), len(self.recipes), self.version)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        index: dict[str, dict[str | None, list[Recipe]]] = {}
        for recipe in self.recipes.values():
            index.setdefault(recipe.product, {}).setdefault(recipe.store, []).append(recipe)
        for by_store in index.values():
            for versions in by_store.values():
                versions.sort(key=lambda r: r.effective_from)
        self.__dict__["_recipe_cache"] = (stamp, index)
        return index

    # ------------------------------------------------------------------ bills of materials
    def bom_for(self, product: str, day: date) -> Bom | None:
        """The BOM `product` is made to on `day` (None: it has none in effect)."""
        versions = self._bom_index().get(product)
        if not versions:
            return None
        found = None
        for bom in versions:
            if bom.effective_from > day:
                break
            found = bom
        return found

    def has_bom(self, product: str) -> bool:
        return product in self._bom_index()

    def _bom_index(self) -> dict[str, list[Bom]]:
        cached = self.__dict__.get("_bom_cache")
        # a copy with other BOMs (`model_copy`) has another dict: its own index
        stamp = (id(self.boms), len(self.boms), self.version)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        index: dict[str, list[Bom]] = {}
        for bom in self.boms.values():
            index.setdefault(bom.product, []).append(bom)
        for versions in index.values():
            versions.sort(key=lambda b: b.effective_from)
        self.__dict__["_bom_cache"] = (stamp, index)
        return index

    # ------------------------------------------------------------------ currencies
    def rate_on(self, currency: str, day: date) -> Decimal | None:
        """Books-currency units per unit of `currency` on `day` (the newest rate valid then);
        1 for the books' own currency, None when no rate is known for that day."""
        if currency == self.currency:
            return Decimal(1)
        best: ExchangeRate | None = None
        for rate in self.rates.values():
            if (
                rate.currency == currency
                and rate.valid_from <= day
                and (best is None or rate.valid_from > best.valid_from)
            ):
                best = rate
        return best.rate if best else None

    def to_base_units(self, sku: Sku, qty: Decimal, unit: str) -> int:
        """Convert a quantity in any unit the SKU knows into whole base units."""
        factor = sku.units().get(unit)
        if factor is None:
            raise UnitConversionError(
                f"SKU {sku.sku} has no unit {unit!r}; known units: {sorted(sku.units())}"
            )
        base = qty * factor
        if base != base.to_integral_value():
            raise UnitConversionError(
                f"{qty} {unit} of {sku.sku} is {base} {sku.base_unit}, not a whole number of base units"
            )
        return int(base)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Catalog:
        return cls.model_validate(json.loads(path.read_text()))
