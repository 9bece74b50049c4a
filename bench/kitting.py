"""Kitting benchmark: `stockflow.kitting.kit` over 1,000 open work orders of products with
three-level BOMs drawing on 5,000 purchased materials, against the same first-stage allocation
done with plain pandas, in the same run.

The factory: 50 products, each made of 4 sub-assemblies and 6 purchased materials (a third of
those with a substitute); each sub-assembly of 3 sub-sub-assemblies and 5 purchased materials;
each sub-sub-assembly of 8 purchased materials, drawn from a pool of 5,000 (scrap factors of
0 to 5 %, quantities of an eighth to 3 units). Two plants; stock and on-order lots of every
material a product's BOM names, and stock of the substitutes; some orders partly issued, some
planned.

Figures (best of three runs each):

* kit: `kit` over the 1,000 orders, BOM lines per unit worked out inside the call;
  baseline: the first stage of the same allocation in pandas (order lines from a merge of the
  orders with the BOM lines, each (location, material)'s orders in due-date order, stock then
  on-order arriving by the due date through `merge_asof`, cumulative sums and a cumulative
  minimum), from the same Python objects. The run checks that both leave the same quantities
  short on every line without substitutes, and the same before substitutes on every line.
* planned demand: `planned_demand` on the kitting's result (short sub-assemblies exploded over
  their levels and netted against what is left), no baseline.
* the share of orders kitted and of lines covered, for scale.

`BENCH_KIT_ORDERS` (default 1,000) sizes it; `BENCH_ONLY=kitting` runs it alone. Target: `kit`
under 5 s.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from bench.pipeline import Figure, report_and_save
from stockflow.kitting import KitResult, OrderDemand, Supply, kit, planned_demand
from stockflow.masterdata import (
    Bom,
    BomLine,
    BomSubstitute,
    Catalog,
    Location,
    LocationKind,
    Sku,
    Supplier,
)

PRODUCTS = 50
SUBS_PER_PRODUCT = 4
SUBSUBS_PER_SUB = 3
PURCHASED = 5_000
ALTERNATES = 200
PLANTS = ("P1", "P2")
BOM_FROM = date(2026, 1, 1)
TODAY = date(2026, 6, 1)
TARGET_SECONDS = 5.0
QTYS = ("0.125", "0.5", "1", "1", "1.25", "2", "3")
SCRAP = ("0", "0", "0.01", "0.02", "0.05")
RATIOS = ("1", "1.5", "2")


def _gtin(n: int) -> str:
    body = f"691{n:09d}"
    digits = [int(c) for c in body]
    check = (10 - sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits))) % 10) % 10
    return body + str(check)


def _sku(n: int, code: str, category: str) -> Sku:
    return Sku(sku=code, gtin=_gtin(n), name=code, category=category, supplier="SUP")


def catalog(seed: int = 7) -> Catalog:
    """The factory's master data: products, sub-assemblies, sub-sub-assemblies, purchased
    materials and substitutes, with their BOMs."""
    rng = random.Random(seed)
    materials = [f"MAT-{n:05d}" for n in range(PURCHASED)]
    alternates = [f"ALT-{n:04d}" for n in range(ALTERNATES)]
    codes = [(m, "materials") for m in materials] + [(a, "materials") for a in alternates]
    boms: list[Bom] = []

    def line(sku: str, subs: list[BomSubstitute] | None = None) -> BomLine:
        return BomLine(
            sku=sku,
            qty=Decimal(rng.choice(QTYS)),
            scrap_rate=Decimal(rng.choice(SCRAP)),
            substitutes=subs or [],
        )

    for p in range(PRODUCTS):
        product = f"PRD-{p:02d}"
        codes.append((product, "finished_goods"))
        top = []
        for s in range(SUBS_PER_PRODUCT):
            sub = f"SUB-{p:02d}-{s}"
            codes.append((sub, "components"))
            top.append(line(sub))
            below = []
            for ss in range(SUBSUBS_PER_SUB):
                subsub = f"SSA-{p:02d}-{s}-{ss}"
                codes.append((subsub, "components"))
                below.append(line(subsub))
                boms.append(_bom(subsub, [line(m) for m in rng.sample(materials, 8)]))
            below += [line(m) for m in rng.sample(materials, 5)]
            boms.append(_bom(sub, below))
        for n, m in enumerate(rng.sample(materials, 6)):
            subs = []
            if n % 3 == 0:
                subs = [
                    BomSubstitute(sku=a, priority=k + 1, ratio=Decimal(rng.choice(RATIOS)))
                    for k, a in enumerate(rng.sample(alternates, rng.choice((1, 2))))
                ]
            top.append(line(m, subs))
        boms.append(_bom(product, top))
    built = Catalog.build(
        [_sku(n, code, category) for n, (code, category) in enumerate(codes)],
        [
            Location(location=p, name=f"Plant {p}", kind=LocationKind.PLANT, latitude=31.2, longitude=121.4)
            for p in PLANTS
        ],
        [Supplier(supplier="SUP", name="Supplier", lead_time_days=7)],
    )
    return built.model_copy(update={"boms": {b.key: b for b in boms}})


def _bom(product: str, lines: list[BomLine]) -> Bom:
    return Bom(product=product, effective_from=BOM_FROM, lines=lines)


def work_orders(built: Catalog, n: int, seed: int = 8) -> list[OrderDemand]:
    """`n` open work orders over the next 60 days; one in ten partly issued, one in five planned."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        product = f"PRD-{rng.randrange(PRODUCTS):02d}"
        qty = rng.randint(1, 40)
        issued: dict[str, int] = {}
        if i % 10 == 0:
            bom = built.bom_for(product, TODAY)
            assert bom is not None
            for line in rng.sample(bom.lines, 3):
                issued[line.sku] = rng.randint(0, qty)
        out.append(
            OrderDemand(
                order=f"WO-{i:05d}",
                location=rng.choice(PLANTS),
                product=product,
                qty=qty,
                due=TODAY + timedelta(days=rng.randrange(60)),
                bom_day=TODAY,
                issued=issued,
                planned=i % 5 == 0,
            )
        )
    return out


def supply(built: Catalog, seed: int = 9) -> Supply:
    """Stock of everything a product's BOM names at both plants (one in twenty none), on-order lots
    for a third of them over the next 75 days, and stock of the substitutes."""
    rng = random.Random(seed)
    available: dict[tuple[str, str], int] = {}
    on_order: dict[tuple[str, str], list[tuple[date, int]]] = {}
    top = {line.sku for b in built.boms.values() if b.product.startswith("PRD-") for line in b.lines}
    below = {line.sku for b in built.boms.values() if not b.product.startswith("PRD-") for line in b.lines}
    for plant in PLANTS:
        for sku in sorted(top):
            available[(plant, sku)] = 0 if rng.random() < 0.05 else rng.randint(300, 1800)
            if rng.random() < 1 / 3:
                on_order[(plant, sku)] = [
                    (TODAY + timedelta(days=rng.randrange(75)), rng.randint(20, 300))
                    for _ in range(rng.randint(1, 3))
                ]
        for sku in sorted(below - top):
            available[(plant, sku)] = rng.randint(0, 600)
            if rng.random() < 1 / 4:
                on_order[(plant, sku)] = [(TODAY + timedelta(days=rng.randrange(75)), rng.randint(50, 500))]
        for n in range(ALTERNATES):
            available[(plant, f"ALT-{n:04d}")] = rng.randint(0, 200)
    return Supply(available, on_order)


# ---------------------------------------------------------------------- baseline
def _per_unit(built: Catalog, product: str, day: date) -> list[dict[str, Any]]:
    """A product's BOM lines as whole numbers: one base unit of the parent needs num ÷ den base
    units of the material, scrap included (4 decimals at most in the master data)."""
    bom = built.bom_for(product, day)
    assert bom is not None
    out = []
    for line in bom.lines:
        factor = built.skus[line.sku].units()[line.unit or built.skus[line.sku].base_unit]
        out.append(
            {
                "product": product,
                "material": line.sku,
                "num": int(line.qty * 10_000) * factor * int((1 + line.scrap_rate) * 10_000),
                "den": int(bom.base_qty * 10_000) * 10_000,
                "has_substitutes": any(s.valid_on(day) for s in line.substitutes),
            }
        )
    return out


def pandas_first_stage(built: Catalog, orders: list[OrderDemand], stock: Supply) -> pd.DataFrame:
    """Stock, then on-order arriving by the due date, to the orders in due-date order, per
    (location, material): what each order line is allocated and what it is short.

    With each key's lines in due-date order, line i gets ``X_i − X_{i−1}`` where the running
    total ``X_i = min(X_{i−1} + need_i, A_i)`` and ``A_i`` is the stock plus what arrives by
    its due date; unrolled, ``X_i = C_i + min(0, cummin_j≤i(A_j − C_j))`` with ``C`` the
    cumulative need."""
    days = {(o.product, o.bom_day) for o in orders}
    bom_lines = pd.DataFrame([row for product, day in sorted(days) for row in _per_unit(built, product, day)])
    wo = pd.DataFrame(
        {
            "order": [o.order for o in orders],
            "location": [o.location for o in orders],
            "product": [o.product for o in orders],
            "qty": [o.qty for o in orders],
            "due": pd.to_datetime([o.due for o in orders]),
        }
    )
    issued = pd.DataFrame(
        [(o.order, sku, qty) for o in orders for sku, qty in o.issued.items()],
        columns=["order", "material", "issued"],
    )
    lines = wo.merge(bom_lines, on="product").merge(issued, on=["order", "material"], how="left")
    allowed = -((-lines["qty"] * lines["num"]) // lines["den"])
    lines["need"] = (allowed - lines["issued"].fillna(0).astype("int64")).clip(lower=0)
    lines = lines.sort_values(["due", "order"], kind="stable").reset_index(drop=True)

    keys = ["location", "material"]
    avail = pd.DataFrame(
        [(loc, sku, qty) for (loc, sku), qty in stock.available.items()], columns=[*keys, "stock"]
    )
    lots = pd.DataFrame(
        [(loc, sku, day, qty) for (loc, sku), entries in stock.on_order.items() for day, qty in entries],
        columns=[*keys, "arrives", "lot"],
    )
    lots["arrives"] = pd.to_datetime(lots["arrives"])
    lots = lots.sort_values("arrives", kind="stable")
    lots["arrived"] = lots.groupby(keys)["lot"].cumsum()
    lots = lots.drop_duplicates([*keys, "arrives"], keep="last")

    lines = lines.merge(avail, on=keys, how="left")
    lines = pd.merge_asof(
        lines.sort_values("due", kind="stable"),
        lots[[*keys, "arrives", "arrived"]],
        left_on="due",
        right_on="arrives",
        by=keys,
        direction="backward",
    )
    lines = lines.sort_values(["due", "order"], kind="stable").reset_index(drop=True)
    lines["stock"] = lines["stock"].fillna(0).astype("int64")
    lines["by_due"] = lines["stock"] + lines["arrived"].fillna(0).astype("int64")
    group = lines.groupby(keys, sort=False)
    lines["cum_need"] = group["need"].cumsum()
    lines["slack"] = lines["by_due"] - lines["cum_need"]
    lines["taken_total"] = lines["cum_need"] + lines.groupby(keys, sort=False)["slack"].cummin().clip(upper=0)
    before = lines.groupby(keys, sort=False)["taken_total"].shift(1, fill_value=0)
    lines["allocated"] = lines["taken_total"] - before
    lines["from_stock"] = lines["taken_total"].clip(upper=lines["stock"]) - before.clip(upper=lines["stock"])
    lines["short"] = lines["need"] - lines["allocated"]
    return lines[["order", "material", "need", "from_stock", "allocated", "short", "has_substitutes"]]


# ---------------------------------------------------------------------- the run
def _best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = work()
        best = min(best, time.perf_counter() - t0)
    return best, out


def check_agreement(result: KitResult, baseline: pd.DataFrame) -> int:
    """Every line: the same need, stock and first-stage shortfall in both; lines without
    substitutes: the same quantity short. Returns how many lines were compared."""
    ours = {
        (o.demand.order, x.material): (
            x.need,
            x.from_stock,
            x.need - x.from_stock - sum(q for _d, q in x.from_on_order),
            x.short,
        )
        for o in result.orders
        for x in o.lines
    }
    assert len(ours) == len(baseline), (len(ours), len(baseline))
    for row in baseline.itertuples(index=False):
        need, from_stock, first_stage_short, short = ours[(row.order, row.material)]
        assert (need, from_stock, first_stage_short) == (row.need, row.from_stock, row.short), row
        if not row.has_substitutes:
            assert short == row.short, (row, short)
    return len(ours)


def run(n_orders: int = 1_000) -> list[Figure]:
    built = catalog()
    orders = work_orders(built, n_orders)
    stock = supply(built)
    kit_s, result = _best_of(3, lambda: kit(built, orders, stock))
    pandas_s, baseline = _best_of(3, lambda: pandas_first_stage(built, orders, stock))
    lines = check_agreement(result, baseline)
    plan_s, planned = _best_of(3, lambda: planned_demand(built, result))
    return [
        Figure(
            f"kit: {n_orders:,} work orders ({lines:,} lines), s",
            kit_s,
            "s",
            pandas_s,
            f"< {TARGET_SECONDS:.0f} s",
            kit_s < TARGET_SECONDS,
        ),
        Figure(
            f"planned demand: short sub-assemblies over 3 levels ({len(planned.buy):,} purchases), s",
            plan_s,
            "s",
        ),
        Figure("orders kitted, %", float(result.kitted_rate * 100), "%"),
        Figure("lines covered, %", float(result.line_rate * 100), "%"),
    ]


def main() -> None:
    figures = run(int(os.environ.get("BENCH_KIT_ORDERS", 1_000)))
    report_and_save(
        figures,
        "stockflow kitting benchmark: kit against a pandas first-stage allocation (same run)",
        "kitting",
    )


if __name__ == "__main__":
    main()
