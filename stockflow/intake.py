"""Intake: an incoming event's codes made ours before anything else looks at it.

Other systems (a legacy ERP, a delivery platform, a supplier's scanner) send their own codes
for our SKUs and locations; master data keeps them as aliases (`stockflow.masterdata.Alias`).
`resolve_codes` replaces every SKU and location code of an event that is not ours but an alias
by our code, right after the event is parsed and before its partition is chosen (a location's
alias must land in that location's partition), so that the ledger, the lake and every reader
see our codes only. A code that is neither ours nor an alias is left as it is: the ledger
refuses it as unknown. A code that stands for several of ours is refused (``ambiguous_alias``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from stockflow.events import EventRejected, TransferOut
from stockflow.masterdata import AliasKind, AmbiguousAlias, Catalog

#: The fields of an event (and of its lines) that hold one of our SKU or location codes.
SKU_FIELDS = ("sku",)
LOCATION_FIELDS = ("location", "store", "from_location", "to_location")

E = TypeVar("E")


def resolve_codes(event: E, catalog: Catalog) -> E:
    """The event with our own codes for every SKU (``sku``, ``lines[].sku``) and location
    (``location``, ``store``, ``from_location``, ``to_location``) it names by an alias: a new
    model, or the same object when nothing changed (always, while master data has no alias).
    Raises `EventRejected` ``ambiguous_alias`` for a code that stands for several of ours."""
    if not catalog.aliases:
        return event
    update: dict[str, Any] = {}
    for name in LOCATION_FIELDS:
        _resolve_field(event, name, "location", catalog, update)
    for name in SKU_FIELDS:
        _resolve_field(event, name, "sku", catalog, update)
    lines = getattr(event, "lines", None)
    if lines:
        resolved_lines = [resolve_codes_of_line(line, catalog) for line in lines]
        if any(new is not old for new, old in zip(resolved_lines, lines, strict=True)):
            update["lines"] = resolved_lines
    if not update:
        return event
    resolved = event.model_copy(update=update)  # type: ignore[attr-defined]
    if isinstance(resolved, TransferOut) and resolved.from_location == resolved.to_location:
        raise EventRejected(
            "schema_violation",
            f"from_location and to_location are both {resolved.to_location!r} once aliases are resolved",
        )
    return resolved


def resolve_codes_of_line(line: E, catalog: Catalog) -> E:
    """One event line with our own SKU code (the same object when it names ours)."""
    update: dict[str, Any] = {}
    for name in SKU_FIELDS:
        _resolve_field(line, name, "sku", catalog, update)
    return line.model_copy(update=update) if update else line  # type: ignore[attr-defined]


def _resolve_field(
    model: object, name: str, kind: AliasKind, catalog: Catalog, update: dict[str, Any]
) -> None:
    code = getattr(model, name, None)
    if not isinstance(code, str):
        return
    try:
        ours = catalog.resolve(kind, code)
    except AmbiguousAlias as exc:
        raise EventRejected(
            "ambiguous_alias",
            f"{name} {code!r} is another system's code for {kind}s {', '.join(exc.targets)}: "
            "it names no single one",
        ) from None
    if ours != code:
        update[name] = ours
