"""Recipes (配方): what making a dish or a semi-finished item takes from stock.

* One round of a recipe makes `Recipe.yield_qty` base units of its product; making `n` base
  units takes ``n × qty ÷ yield_qty ÷ (1 − loss_rate)`` of each component (its quantity in
  the component's base units).
* A component that is itself a dish (a set meal's dishes) is made to order too: its own recipe
  is exploded in turn, with the version in effect at the same store on the same day. Goods
  and semi-finished items are taken from stock.
* The quantities are added up exactly (fractions) per stocked SKU over the whole tree of one
  sale line or prep, and rounded half up to whole base units once, at the end
  (`consumption`): a ticket line of 3 portions takes exactly ``round(3 × per portion)``.
* The rules a recipe must pass to become master data (`recipe_problems`): a known dish or
  semi-finished product, known components in units they have, no dish in a semi-finished
  item (a dish is never kept), no recipe that contains itself, and a version in effect on a
  past day never changes (sales and preps were booked with it: a change is a new version).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from stockflow.masterdata import Catalog, Recipe, Sku, SkuKind

#: How deep a set meal may nest dishes (a set meal of set meals of dishes is 3).
MAX_DEPTH = 8


class RecipeError(ValueError):
    """A product that cannot be exploded (no recipe in effect, an unknown component)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def component_base_qty(catalog: Catalog, recipe: Recipe, index: int) -> Fraction:
    """Base units of component `index` taken from stock for one round of `recipe` (its loss
    included)."""
    component = recipe.components[index]
    sku = catalog.skus.get(component.sku)
    if sku is None:
        raise RecipeError("unknown_component", f"{recipe.product}: component {component.sku!r} is not a SKU")
    factor = sku.units().get(component.unit or sku.base_unit)
    if factor is None:
        raise RecipeError(
            "unknown_component_unit",
            f"{recipe.product}: component {component.sku} has no unit {component.unit!r}",
        )
    return Fraction(component.qty) * factor / (1 - Fraction(component.loss_rate))


def explode(
    catalog: Catalog, product: str, qty: Fraction | int, store: str, day: date
) -> dict[str, Fraction]:
    """Exactly what making `qty` base units of `product` at `store` on `day` takes from stock,
    per stocked SKU (dishes inside exploded in turn)."""
    out: dict[str, Fraction] = {}
    _explode(catalog, product, Fraction(qty), store, day, out, (product,))
    return out


def _explode(
    catalog: Catalog,
    product: str,
    qty: Fraction,
    store: str,
    day: date,
    out: dict[str, Fraction],
    path: tuple[str, ...],
) -> None:
    recipe = catalog.recipe_for(product, store, day)
    if recipe is None:
        raise RecipeError("no_recipe", f"{product} has no recipe in effect at {store} on {day.isoformat()}")
    rounds = qty / Fraction(recipe.yield_qty)
    for index, component in enumerate(recipe.components):
        need = rounds * component_base_qty(catalog, recipe, index)
        sku = catalog.skus[component.sku]
        if sku.kind is SkuKind.DISH:
            if component.sku in path or len(path) >= MAX_DEPTH:
                raise RecipeError("recipe_cycle", f"{' → '.join((*path, component.sku))}")
            _explode(catalog, component.sku, need, store, day, out, (*path, component.sku))
        else:
            out[component.sku] = out.get(component.sku, Fraction(0)) + need


def per_unit(catalog: Catalog, product: str, store: str, day: date) -> Mapping[str, Fraction]:
    """`explode` for one base unit, remembered per catalogue version (a till explodes the same
    few dishes all day; the explosion is linear, so `qty` units take `qty` times this)."""
    stamp = (catalog.version, len(catalog.recipes), len(catalog.skus))
    cached = catalog.__dict__.get("_per_unit_cache")
    if cached is None or cached[0] != stamp:
        cached = (stamp, {})
        catalog.__dict__["_per_unit_cache"] = cached
    memo: dict[tuple[str, str, date], Mapping[str, Fraction]] = cached[1]
    key = (product, store, day)
    found = memo.get(key)
    if found is None:
        found = memo[key] = explode(catalog, product, 1, store, day)
    return found


def round_half_up(value: Fraction) -> int:
    """The nearest whole number, halves away from zero (the quantities here are positive)."""
    whole, rest = divmod(value.numerator, value.denominator)
    return whole + (1 if 2 * rest >= value.denominator else 0)


def consumption(catalog: Catalog, product: str, qty: int, store: str, day: date) -> dict[str, int]:
    """Whole base units per stocked SKU that making `qty` base units of `product` takes
    (`explode`, rounded half up once per SKU); SKUs that round to nothing are left out."""
    taken = {sku: round_half_up(qty * need) for sku, need in per_unit(catalog, product, store, day).items()}
    return {sku: units for sku, units in taken.items() if units > 0}


# ---------------------------------------------------------------------- master-data rules
@dataclass(frozen=True, slots=True)
class RecipeProblem:
    """Why a recipe cannot become master data: a stable reason, the field, and the values a
    message needs."""

    reason: str
    column: str
    fields: Mapping[str, object]


def recipe_problems(
    catalog: Catalog,
    recipe: Recipe,
    today: date,
    sku_of: Callable[[str], Sku | None] | None = None,
    is_store: Callable[[str], bool] | None = None,
) -> list[RecipeProblem]:
    """The rules a new or changed recipe version must pass against `catalog` (`sku_of` and
    `is_store` see proposals made before it in the same batch)."""
    find = sku_of or catalog.skus.get
    store_known = is_store or (lambda code: _is_store(catalog, code))
    out: list[RecipeProblem] = []
    product = find(recipe.product)
    if product is None:
        return [RecipeProblem("recipe_unknown_product", "product", {"product": recipe.product})]
    if product.kind is SkuKind.GOODS:
        out.append(RecipeProblem("recipe_product_kind", "product", {"product": recipe.product}))
    if recipe.store is not None and not store_known(recipe.store):
        out.append(RecipeProblem("recipe_unknown_store", "store", {"store": recipe.store}))
    for component in recipe.components:
        sku = find(component.sku)
        if sku is None:
            out.append(RecipeProblem("recipe_unknown_component", "components", {"component": component.sku}))
            continue
        unit = component.unit or sku.base_unit
        if unit not in sku.units():
            out.append(
                RecipeProblem(
                    "recipe_component_unit",
                    "components",
                    {"component": component.sku, "unit": unit, "units": ", ".join(sorted(sku.units()))},
                )
            )
        if sku.kind is SkuKind.DISH and product.kind is not SkuKind.DISH:
            out.append(RecipeProblem("recipe_dish_in_prep", "components", {"component": component.sku}))
        if component.sku == recipe.product:
            out.append(RecipeProblem("recipe_cycle", "components", {"path": recipe.product}))
    if not out:
        cycle = _cycle_through(catalog, recipe, find)
        if cycle:
            out.append(RecipeProblem("recipe_cycle", "components", {"path": " → ".join(cycle)}))
    current = catalog.recipes.get(recipe.key)
    if current is not None and current != recipe and recipe.effective_from < today:
        out.append(
            RecipeProblem(
                "recipe_in_effect", "effective_from", {"effective_from": recipe.effective_from.isoformat()}
            )
        )
    return out


def _is_store(catalog: Catalog, code: str) -> bool:
    location = catalog.locations.get(code)
    return location is not None and location.kind.value == "store"


def _cycle_through(catalog: Catalog, recipe: Recipe, find: Callable[[str], Sku | None]) -> list[str]:
    """A chain of dishes that leads back to `recipe.product` through any version of their
    recipes (with `recipe` in place of its own key), or []."""
    by_product: dict[str, list[Recipe]] = {}
    for other in catalog.recipes.values():
        if other.key != recipe.key:
            by_product.setdefault(other.product, []).append(other)
    by_product.setdefault(recipe.product, []).append(recipe)

    def walk(product: str, path: list[str]) -> list[str]:
        for version in by_product.get(product, ()):
            for component in version.components:
                sku = find(component.sku)
                if sku is None or sku.kind is not SkuKind.DISH:
                    continue
                if component.sku == recipe.product:
                    return [*path, component.sku]
                if component.sku not in path and len(path) < MAX_DEPTH:
                    found = walk(component.sku, [*path, component.sku])
                    if found:
                        return found
        return []

    return walk(recipe.product, [recipe.product])


# ---------------------------------------------------------------------- planning
#: A forecast or a planned demand's key: location, SKU, day.
DayKey = tuple[str, str, date]


@dataclass(frozen=True, slots=True)
class PlannedDemand:
    """What a day's forecasts take from each location's stock, in whole base units per
    location × stocked SKU × day (`planned_demand`), and the forecasts that could not be
    exploded (location, product, day, reason: `RecipeError.reason`)."""

    demand: dict[DayKey, int]
    unexploded: list[tuple[str, str, date, str]]


def is_made_in_store(sku: Sku) -> bool:
    """A semi-finished item is made from its recipe where it is used, unless it is bought (it
    has a supplier: then it is planned and ordered like goods)."""
    return sku.kind is SkuKind.SEMI_FINISHED and sku.supplier is None


def planned_demand(catalog: Catalog, forecasts: Mapping[DayKey, float | Fraction]) -> PlannedDemand:
    """Demand on stock from the daily forecasts of every location × SKU (base units a day).

    * A dish is never kept: its forecast portions are exploded with the recipe in effect at
      that store on that day (`explode`: set meals through their dishes), and the dish itself
      has no demand on stock.
    * Goods and semi-finished items keep their own (direct) forecast, plus what the dishes take.
    * A semi-finished item made in store (`is_made_in_store`) is made from its ingredients: all
      of its demand that day is exploded again into them (a semi-finished item in it in turn).
    * Everything is added up exactly and rounded half up once per location × SKU × day.

    A dish whose forecast cannot be exploded (no recipe in effect, a broken one) adds nothing
    and is listed in `unexploded`; so is a semi-finished item made in store that cannot, which
    keeps its own demand."""
    exact: dict[DayKey, Fraction] = {}
    unexploded: list[tuple[str, str, date, str]] = []

    def take(location: str, code: str, day: date, qty: Fraction, path: tuple[str, ...]) -> None:
        sku = catalog.skus.get(code)
        if sku is not None and sku.kind is SkuKind.DISH:
            if qty == 0:
                return
            parts = _exploded(catalog, code, qty, location, day, unexploded)
        else:
            key = (location, code, day)
            exact[key] = exact.get(key, Fraction(0)) + qty
            if sku is None or not is_made_in_store(sku) or qty == 0:
                return
            if code in path or len(path) >= MAX_DEPTH:
                unexploded.append((location, code, day, "recipe_cycle"))
                return
            parts = _exploded(catalog, code, qty, location, day, unexploded)
        for component, need in parts.items():
            take(location, component, day, need, (*path, code))

    for (location, code, day), value in sorted(forecasts.items()):
        take(location, code, day, max(Fraction(0), _exact(value)), ())
    return PlannedDemand({key: round_half_up(qty) for key, qty in sorted(exact.items())}, unexploded)


def daily_means(planned: PlannedDemand, forecast_days: Mapping[str, int]) -> dict[tuple[str, str], float]:
    """Mean planned demand a day per location × SKU, over the days each location's forecasts
    cover (`forecast_days`: a day with no demand for a SKU counts as 0)."""
    totals: dict[tuple[str, str], int] = {}
    for (location, code, _), units in planned.demand.items():
        totals[(location, code)] = totals.get((location, code), 0) + units
    return {key: total / forecast_days[key[0]] for key, total in totals.items() if forecast_days.get(key[0])}


def _exploded(
    catalog: Catalog,
    product: str,
    qty: Fraction,
    location: str,
    day: date,
    unexploded: list[tuple[str, str, date, str]],
) -> dict[str, Fraction]:
    try:
        return explode(catalog, product, qty, location, day)
    except RecipeError as exc:
        unexploded.append((location, product, day, exc.reason))
        return {}


def _exact(value: float | Fraction) -> Fraction:
    """A forecast as the decimal it prints as (10.3 is 103/10, not the binary float nearest it)."""
    return value if isinstance(value, Fraction) else Fraction(repr(float(value)))
