"""Discrete manufacturing (生产): bills of materials, what a work order takes, and the rules a
BOM must pass.

* A BOM line gives `qty` of a material (in any of its units) per `Bom.base_qty` base units of
  the parent, plus a scrap factor: making `n` base units of the parent takes
  ``n × qty ÷ base_qty × (1 + scrap_rate)`` base units of the material (`line_need`). The
  quantity a work order may issue of a line is that, exact (fractions), rounded up to whole
  base units once per order (`allowed_issue`): an order never runs short by rounding.
* A substitute replaces its line's material at its `ratio` (``ratio`` units of the substitute
  per unit of the material), on the days it is valid; what a work order issued of a line is
  the material plus each substitute divided by its ratio (`issued_as_line`).
* Multi-level explosion (`explode`): a line whose material has a BOM in effect on the day is
  a sub-assembly; exploded, its own lines are needed in turn (their scrap too), down to the
  purchased materials. `explode_levels` keeps every level's gross need apart (dependent
  demand per level, for kitting and planning).
* The rules a BOM must pass to become master data (`bom_problems`): a known product, known
  materials in units they have, known substitutes (not the line's own material), no BOM that
  contains itself through any version of any level (refused with the path of the cycle), and
  a version in effect on a past day never changes (work orders were released to it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from stockflow.masterdata import Bom, BomLine, Catalog, Sku

#: How deep a BOM may nest (a product of sub-assemblies of sub-assemblies … of materials).
MAX_LEVELS = 20


class BomError(ValueError):
    """A product that cannot be exploded (no BOM in effect, an unknown material or unit)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def unit_factor(catalog: Catalog, bom: Bom, line: BomLine) -> int:
    """Base units of `line`'s material in one of the units the line is given in."""
    sku = catalog.skus.get(line.sku)
    if sku is None:
        raise BomError("unknown_material", f"{bom.product}: material {line.sku!r} is not a SKU")
    factor = sku.units().get(line.unit or sku.base_unit)
    if factor is None:
        raise BomError(
            "unknown_material_unit", f"{bom.product}: material {line.sku} has no unit {line.unit!r}"
        )
    return factor


def line_need(catalog: Catalog, bom: Bom, line: BomLine, parent_qty: Fraction | int) -> Fraction:
    """Exact base units of `line`'s material that making `parent_qty` base units of the parent
    takes, scrap included."""
    per_parent = Fraction(line.qty) * unit_factor(catalog, bom, line) / Fraction(bom.base_qty)
    return Fraction(parent_qty) * per_parent * (1 + Fraction(line.scrap_rate))


def round_up(value: Fraction) -> int:
    return math.ceil(value)


def allowed_issue(catalog: Catalog, bom: Bom, line: BomLine, parent_qty: int) -> int:
    """Whole base units of `line`'s material a work order of `parent_qty` may issue (its need,
    rounded up once)."""
    return round_up(line_need(catalog, bom, line, parent_qty))


def requirements(catalog: Catalog, bom: Bom, parent_qty: int) -> dict[str, int]:
    """Whole base units per line's material for a work order of `parent_qty` (`allowed_issue`)."""
    return {line.sku: allowed_issue(catalog, bom, line, parent_qty) for line in bom.lines}


def substitutes_on(line: BomLine, day: date) -> list[tuple[str, Fraction]]:
    """The substitutes of `line` valid on `day`, by priority: (SKU, ratio)."""
    return [(s.sku, Fraction(s.ratio)) for s in line.substitutes if s.valid_on(day)]


def line_of(bom: Bom, sku: str, day: date) -> tuple[BomLine, Fraction] | None:
    """The line `sku` is issued against on `day` and how many units of the line's material one
    unit of it stands for: (the line, 1) for a line's own material, (the line, 1 ÷ ratio) for a
    valid substitute; None when `sku` is neither (not on the BOM)."""
    own = bom.line(sku)
    if own is not None:
        return own, Fraction(1)
    for line in bom.lines:
        for substitute, ratio in substitutes_on(line, day):
            if substitute == sku:
                return line, 1 / ratio
    return None


def issued_as_line(bom: Bom, issued: Mapping[str, int], day: date) -> dict[str, Fraction]:
    """Per line's material: what `issued` (base units per SKU issued to an order) amounts to in
    the line's own material (substitutes divided by their ratio)."""
    out: dict[str, Fraction] = {line.sku: Fraction(0) for line in bom.lines}
    for sku, qty in issued.items():
        found = line_of(bom, sku, day)
        if found is not None:
            line, per_unit = found
            out[line.sku] += qty * per_unit
    return out


# ---------------------------------------------------------------------- explosion
def explode(catalog: Catalog, product: str, qty: Fraction | int, day: date) -> dict[str, Fraction]:
    """Exactly what making `qty` base units of `product` on `day` takes of each purchased
    material (sub-assemblies exploded in turn, scrap at every level)."""
    out: dict[str, Fraction] = {}
    for level in explode_levels(catalog, product, qty, day):
        for sku, need in level.leaves.items():
            out[sku] = out.get(sku, Fraction(0)) + need
    return out


@dataclass(frozen=True, slots=True)
class Level:
    """One level of an explosion: the gross need of every material at it (sub-assemblies
    included), and of those the purchased ones (no BOM in effect)."""

    depth: int
    gross: dict[str, Fraction]
    leaves: dict[str, Fraction]


def explode_levels(catalog: Catalog, product: str, qty: Fraction | int, day: date) -> list[Level]:
    """The explosion of `qty` base units of `product` level by level (level 1: its own lines).
    A material needed at several levels is exploded at each, with the quantity needed there."""
    if catalog.bom_for(product, day) is None:
        raise BomError("no_bom", f"{product} has no BOM in effect on {day.isoformat()}")
    levels: list[Level] = []
    frontier: dict[str, Fraction] = {product: Fraction(qty)}
    paths: dict[str, tuple[str, ...]] = {product: (product,)}
    depth = 0
    while frontier:
        depth += 1
        if depth > MAX_LEVELS:
            raise BomError("bom_too_deep", f"{product}: more than {MAX_LEVELS} levels")
        gross: dict[str, Fraction] = {}
        next_paths: dict[str, tuple[str, ...]] = {}
        for parent, parent_qty in frontier.items():
            bom = catalog.bom_for(parent, day)
            assert bom is not None
            for line in bom.lines:
                if line.sku in paths[parent]:
                    raise BomError("bom_cycle", " → ".join((*paths[parent], line.sku)))
                gross[line.sku] = gross.get(line.sku, Fraction(0)) + line_need(catalog, bom, line, parent_qty)
                next_paths.setdefault(line.sku, (*paths[parent], line.sku))
        leaves = {sku: need for sku, need in gross.items() if catalog.bom_for(sku, day) is None}
        levels.append(Level(depth, gross, leaves))
        frontier = {sku: need for sku, need in gross.items() if sku not in leaves}
        paths = next_paths
    return levels


# ---------------------------------------------------------------------- master-data rules
def bom_cycle(catalog: Catalog, bom: Bom) -> list[str] | None:
    """The path of a cycle `bom` would close (through any version of any BOM, substitutes
    included), e.g. ``["A", "B", "C", "A"]``; None when it closes none."""
    edges: dict[str, set[str]] = {}
    for other in catalog.boms.values():
        if other.key == bom.key:
            continue
        edges.setdefault(other.product, set()).update(_materials(other))
    edges.setdefault(bom.product, set()).update(_materials(bom))
    # depth-first from the product, iteratively, keeping the path
    start = bom.product
    stack: list[tuple[str, list[str]]] = [(start, sorted(edges.get(start, ())))]
    path = [start]
    on_path = {start}
    done: set[str] = set()
    while stack:
        node, todo = stack[-1]
        if not todo:
            stack.pop()
            path.pop()
            on_path.discard(node)
            done.add(node)
            continue
        child = todo.pop(0)
        if child in on_path:
            return [*path[path.index(child) :], child]
        if child in done or child not in edges:
            continue
        stack.append((child, sorted(edges[child])))
        path.append(child)
        on_path.add(child)
    return None


def _materials(bom: Bom) -> set[str]:
    out = set()
    for line in bom.lines:
        out.add(line.sku)
        out.update(s.sku for s in line.substitutes)
    return out


@dataclass(frozen=True, slots=True)
class BomProblem:
    """Why a BOM cannot become master data: a stable reason, the field, and the values a
    message needs (``masterdata.problem.<reason>``)."""

    reason: str
    column: str
    fields: Mapping[str, object]

    @property
    def detail(self) -> str:
        return (
            ", ".join(f"{k}={v}" for k, v in self.fields.items())
            if "path" not in self.fields
            else str(self.fields["path"])
        )


def bom_problems(
    catalog: Catalog, bom: Bom, today: date, sku_of: Callable[[str], Sku | None] | None = None
) -> list[BomProblem]:
    """Why `bom` cannot become master data (empty: it can); `sku_of` sees SKUs proposed before
    it in the same batch."""
    find = sku_of or catalog.skus.get
    problems = []
    if find(bom.product) is None:
        problems.append(BomProblem("bom_unknown_product", "product", {"product": bom.product}))
    for line in bom.lines:
        sku = find(line.sku)
        if sku is None:
            problems.append(BomProblem("bom_unknown_material", "lines", {"material": line.sku}))
        elif (line.unit or sku.base_unit) not in sku.units():
            problems.append(
                BomProblem(
                    "bom_material_unit",
                    "lines",
                    {"material": line.sku, "unit": line.unit, "units": ", ".join(sorted(sku.units()))},
                )
            )
        if line.sku == bom.product:
            problems.append(BomProblem("bom_cycle", "lines", {"path": f"{bom.product} → {bom.product}"}))
        for substitute in line.substitutes:
            if substitute.sku == line.sku:
                problems.append(BomProblem("bom_substitute_of_itself", "substitutes", {"material": line.sku}))
            elif find(substitute.sku) is None:
                problems.append(
                    BomProblem("bom_unknown_material", "substitutes", {"material": substitute.sku})
                )
            if substitute.valid_from and substitute.valid_to and substitute.valid_to < substitute.valid_from:
                problems.append(
                    BomProblem("bom_substitute_dates", "substitutes", {"material": substitute.sku})
                )
    if not any(p.reason == "bom_cycle" for p in problems):
        cycle = bom_cycle(catalog, bom)
        if cycle is not None:
            problems.append(BomProblem("bom_cycle", "lines", {"path": " → ".join(cycle)}))
    current = catalog.boms.get(bom.key)
    if current is not None and current != bom and bom.effective_from <= today:
        problems.append(
            BomProblem("bom_in_effect", "effective_from", {"effective_from": bom.effective_from.isoformat()})
        )
    return problems
