"""Data-quality rules the expectation suites check (thresholds and scores live here, not in
the suites)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from stockflow.masterdata import InvalidGtin, validate_gtin

#: A device whose running numbers skip more than this share is flagged (lost documents).
DEVICE_GAP_RATE_LIMIT = 0.03
#: A device that sends more than this share of its documents again under new ids is flagged.
DEVICE_DUPLICATE_RATE_LIMIT = 0.01
#: Events may not claim to happen later than this after they are checked (clock skew).
FUTURE_TOLERANCE_SECONDS = 300

#: What a complete SKU record has (数据健康度审计): field → applies to the SKU?
_REQUIRED: dict[str, Any] = {
    "gtin_valid": lambda sku: True,
    "min_pack_units": lambda sku: True,
    "batch_managed": lambda sku: True,
    "shelf_life_days": lambda sku: sku.get("category") in ("chilled_food", "dry_goods"),
    "standard_cost": lambda sku: True,
    "cold_chain_min_c": lambda sku: sku.get("category") == "chilled_food",
}


def gtin_is_valid(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        validate_gtin(value)
    except InvalidGtin:
        return False
    return True


def sku_completeness(sku: Mapping[str, Any]) -> float:
    """Share of the fields a SKU of its kind must have that are present and valid (0–1)."""
    applicable = [name for name, applies in _REQUIRED.items() if applies(sku)]
    present = 0
    for name in applicable:
        if name == "gtin_valid":
            present += gtin_is_valid(sku.get("gtin"))
        elif name == "standard_cost":
            present += (sku.get(name) or 0) > 0
        else:
            present += sku.get(name) is not None
    return round(present / len(applicable), 4) if applicable else 1.0


def gap_rate(sequence_numbers: Iterable[int]) -> float:
    """Share of the running numbers between a device's first and last that never arrived."""
    seen = {n for n in sequence_numbers if n is not None}
    if len(seen) < 2:
        return 0.0
    span = max(seen) - min(seen) + 1
    return round((span - len(seen)) / span, 6)


def duplicate_rate(sequence_numbers: Iterable[int]) -> float:
    """Share of a device's landed documents that repeat a running number already landed: the
    same document sent again under a new event id. (A re-delivery under the same id changes
    nothing and never lands twice: the ledger drops it.)"""
    numbers = [n for n in sequence_numbers if n is not None]
    if not numbers:
        return 0.0
    return round((len(numbers) - len(set(numbers))) / len(numbers), 6)


def recipe_variance_share(ingredients: Iterable[tuple[Decimal, Decimal]]) -> Decimal | None:
    """How far a kitchen's ingredient usage strays from its recipes: Σ |variance value| ÷ Σ
    theoretical value over its ingredients, each given as (variance value, theoretical value)
    summed over the window (a miscount one day that the next count reverses nets out). None
    when the recipes took nothing."""
    strayed = theoretical = Decimal(0)
    for variance_value, theoretical_value in ingredients:
        strayed += abs(Decimal(variance_value))
        theoretical += Decimal(theoretical_value)
    if theoretical <= 0:
        return None
    return (strayed / theoretical).quantize(Decimal("0.0001"))
