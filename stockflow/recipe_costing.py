"""One portion of a recipe: what it takes of each component in base units, its loss included,
and what it costs at the components' standard costs (理论成本).

A portion is one base unit of the product (one dish, one ml of a broth). Component `i` of the
recipe in effect takes ``qty × unit factor ÷ (1 − loss_rate) ÷ yield_qty`` base units per
portion (`stockflow.recipes.component_base_qty`). A goods or semi-finished component costs its
standard cost per base unit; a dish inside (a set meal's) costs what its own recipe takes at
the same store on the same day (`stockflow.recipes.explode`). Quantities and costs are exact
fractions until shown: each line's cost rounded to the fen on its own, the portion's cost the
exact sum rounded once (so the lines may differ from it by a fen or two)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from stockflow.masterdata import Catalog, Recipe, SkuKind
from stockflow.money import to_money
from stockflow.recipes import component_base_qty, explode

#: Base quantities per portion are shown to this many places.
QTY_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class PortionLine:
    """One component of one portion: as the recipe gives it, in base units with its loss, and
    its cost."""

    component: str
    name: str
    kind: SkuKind
    qty: Decimal
    unit: str
    loss_rate: Decimal
    base_qty: Decimal
    base_unit: str
    #: per base unit: the standard cost, or a dish's own cost per portion (to the fen)
    standard_cost: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class PortionSheet:
    """The recipe version in effect and one portion of it, line by line, with its cost."""

    recipe: Recipe
    lines: tuple[PortionLine, ...]
    cost: Decimal


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _quantity(value: Decimal) -> Decimal:
    """A base quantity to `QTY_QUANTUM`, without trailing zeros (166.6667, 120, 0.9375)."""
    shown = value.quantize(QTY_QUANTUM).normalize()
    return shown if shown.as_tuple().exponent <= 0 else shown.quantize(Decimal(1))


def stock_cost(catalog: Catalog, taken: dict[str, Fraction]) -> Fraction:
    """What stocked SKUs in these base quantities cost at their standard costs, exactly."""
    return sum((qty * Fraction(catalog.skus[sku].standard_cost) for sku, qty in taken.items()), Fraction(0))


def portion_sheet(catalog: Catalog, product: str, store: str | None, day: date) -> PortionSheet | None:
    """One portion of `product` made at `store` (None: the recipe common to every store) on
    `day`, or None when no recipe is in effect then. Raises `stockflow.recipes.RecipeError`
    for a component the catalogue cannot take (unknown, or a dish with no recipe)."""
    place = store or ""
    recipe = catalog.recipe_for(product, place, day)
    if recipe is None:
        return None
    per_round = Fraction(recipe.yield_qty)
    lines = []
    total = Fraction(0)
    for index, component in enumerate(recipe.components):
        need = component_base_qty(catalog, recipe, index) / per_round  # refuses an unknown one
        sku = catalog.skus[component.sku]
        if sku.kind is SkuKind.DISH:
            cost = stock_cost(catalog, explode(catalog, component.sku, need, place, day))
            unit_cost = to_money(_decimal(cost / need))
        else:
            cost = need * Fraction(sku.standard_cost)
            unit_cost = sku.standard_cost
        total += cost
        lines.append(
            PortionLine(
                component=component.sku,
                name=sku.name,
                kind=sku.kind,
                qty=component.qty,
                unit=component.unit or sku.base_unit,
                loss_rate=component.loss_rate,
                base_qty=_quantity(_decimal(need)),
                base_unit=sku.base_unit,
                standard_cost=unit_cost,
                cost=to_money(_decimal(cost)),
            )
        )
    return PortionSheet(recipe=recipe, lines=tuple(lines), cost=to_money(_decimal(total)))
