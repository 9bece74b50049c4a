"""Master-data changes as events: what a person (or an import) asks for, the rules it must
pass, and the change events every worker applies.

A change is checked against the catalogue as it stands (`check_changes`, pure), then numbered
by the store and published as an event on the compacted ``masterdata`` topic, keyed by the
entity it changes (`change_key`). Each event carries the entity's whole record after the
change, so the newest message of a key is all a worker needs: compaction may drop the ones
before it. `apply_change` takes an event into a catalogue in place and ignores one it has
already seen (an entity's version only grows).

Rules that keep the record replayable: a SKU's base unit and the size of a pack once defined
never change (every quantity booked in that unit was converted with it; a new case size is a
new unit), and whether it is batch- or serial-managed changes only while it is a draft.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from stockflow.events import EventRejected, Identifier, json_object, validation_problems
from stockflow.i18n import Message
from stockflow.masterdata import (
    SKU_TRANSITIONS,
    Alias,
    Bom,
    Catalog,
    Customer,
    ExchangeRate,
    InvalidGtin,
    Location,
    LocationKind,
    Recipe,
    Sku,
    SkuStatus,
    Supplier,
    validate_gtin,
)
from stockflow.production import bom_problems
from stockflow.recipes import recipe_problems

#: The compacted topic master-data changes travel on (one partition: every worker reads all).
MASTERDATA_TOPIC = "masterdata"


class _Change(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Identifier
    occurred_at: AwareDatetime
    actor: str = Field(min_length=1, max_length=200, description="Who made the change.")
    version: int = Field(ge=1, le=2**63 - 1, description="The master-data version this change made.")
    schema_version: Literal[1] = 1

    #: What it changes; the record's code is the field of that name (an alias's or a rate's:
    #: its key).
    entity: ClassVar[str] = ""

    @property
    def code(self) -> str:
        record = self.record  # type: ignore[attr-defined]
        return (
            record.key
            if isinstance(record, Alias | ExchangeRate | Recipe | Bom)
            else getattr(record, self.entity)
        )


class SkuUpserted(_Change):
    event_type: Literal["sku_upserted"] = "sku_upserted"
    record: Sku
    entity: ClassVar[str] = "sku"


class SkuStatusChanged(_Change):
    event_type: Literal["sku_status_changed"] = "sku_status_changed"
    from_status: SkuStatus
    record: Sku = Field(description="The SKU after the change (its new status included).")
    reason: str = Field(default="", max_length=500)
    entity: ClassVar[str] = "sku"


class LocationUpserted(_Change):
    event_type: Literal["location_upserted"] = "location_upserted"
    record: Location
    entity: ClassVar[str] = "location"


class SupplierUpserted(_Change):
    event_type: Literal["supplier_upserted"] = "supplier_upserted"
    record: Supplier
    entity: ClassVar[str] = "supplier"


class CustomerUpserted(_Change):
    event_type: Literal["customer_upserted"] = "customer_upserted"
    record: Customer
    entity: ClassVar[str] = "customer"


class AliasSet(_Change):
    event_type: Literal["alias_set"] = "alias_set"
    record: Alias
    entity: ClassVar[str] = "alias"


class AliasRemoved(_Change):
    event_type: Literal["alias_removed"] = "alias_removed"
    record: Alias
    entity: ClassVar[str] = "alias"


class ExchangeRateSet(_Change):
    event_type: Literal["exchange_rate_set"] = "exchange_rate_set"
    record: ExchangeRate
    entity: ClassVar[str] = "rate"


class RecipeSet(_Change):
    """A version of a recipe, new or corrected before it takes effect (`stockflow.recipes`)."""

    event_type: Literal["recipe_set"] = "recipe_set"
    record: Recipe
    entity: ClassVar[str] = "recipe"


class BomSet(_Change):
    """A version of a bill of materials, new or corrected before it takes effect
    (`stockflow.production`)."""

    event_type: Literal["bom_set"] = "bom_set"
    record: Bom
    entity: ClassVar[str] = "bom"


MasterDataChange = Annotated[
    SkuUpserted
    | SkuStatusChanged
    | LocationUpserted
    | SupplierUpserted
    | CustomerUpserted
    | AliasSet
    | AliasRemoved
    | ExchangeRateSet
    | RecipeSet
    | BomSet,
    Field(discriminator="event_type"),
]
CHANGE_MODELS: dict[str, type[_Change]] = {
    m.model_fields["event_type"].default: m
    for m in (
        SkuUpserted,
        SkuStatusChanged,
        LocationUpserted,
        SupplierUpserted,
        CustomerUpserted,
        AliasSet,
        AliasRemoved,
        ExchangeRateSet,
        RecipeSet,
        BomSet,
    )
}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(MasterDataChange)


def change_key(change: _Change) -> str:
    """The compaction key: one per entity (an alias's set and removal share it)."""
    return f"{change.entity}|{change.code}"


def parse_change(raw: bytes | str | dict[str, Any]) -> Any:
    """Decode and validate one master-data message, or raise `EventRejected`."""
    data = json_object(raw)
    if data.get("event_type") not in CHANGE_MODELS:
        raise EventRejected(
            "wrong_topic",
            f"event_type {data.get('event_type')!r} is not a master-data change; "
            f"expected one of {sorted(CHANGE_MODELS)}",
        )
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EventRejected("schema_violation", validation_problems(exc, "<change>")) from exc
    except (RecursionError, ValueError, OverflowError) as exc:
        raise EventRejected("schema_violation", f"{type(exc).__name__}: {exc}"[:1000]) from exc


def encode_change(change: _Change) -> bytes:
    return change.model_dump_json().encode()


def apply_change(catalog: Catalog, change: _Change) -> bool:
    """Take one change into `catalog` in place; False (nothing changes) when the entity already
    has this version or a newer one. No rule is checked here: the change was checked when it was
    made, and a worker must converge on the same catalogue whatever compaction kept."""
    key = change_key(change)
    if catalog.versions.get(key, 0) >= change.version:
        return False
    record = change.record  # type: ignore[attr-defined]
    if isinstance(change, SkuUpserted | SkuStatusChanged):
        catalog.skus[record.sku] = record
    elif isinstance(change, LocationUpserted):
        catalog.locations[record.location] = record
    elif isinstance(change, SupplierUpserted):
        catalog.suppliers[record.supplier] = record
    elif isinstance(change, CustomerUpserted):
        catalog.customers[record.customer] = record
    elif isinstance(change, AliasSet):
        catalog.aliases[record.key] = record
    elif isinstance(change, AliasRemoved):
        catalog.aliases.pop(record.key, None)
    elif isinstance(change, ExchangeRateSet):
        catalog.rates[record.key] = record
    elif isinstance(change, RecipeSet):
        catalog.recipes[record.key] = record
    elif isinstance(change, BomSet):
        catalog.boms[record.key] = record
    catalog.versions[key] = change.version
    catalog.forget_indexes()
    if change.version > catalog.version:
        object.__setattr__(catalog, "version", change.version)
    return True


# ---------------------------------------------------------------------- what people ask for
@dataclass(frozen=True, slots=True)
class Upsert:
    """Create or replace a SKU, location, supplier or customer."""

    record: Sku | Location | Supplier | Customer


@dataclass(frozen=True, slots=True)
class SetStatus:
    """Move a SKU along its lifecycle."""

    sku: str
    to_status: SkuStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetAlias:
    alias: Alias


@dataclass(frozen=True, slots=True)
class RemoveAlias:
    alias: Alias


@dataclass(frozen=True, slots=True)
class SetRate:
    rate: ExchangeRate


@dataclass(frozen=True, slots=True)
class SetRecipe:
    """Add a recipe version, or correct one that is not yet in effect; `today` is the
    company's day (a version in effect on a past day never changes)."""

    recipe: Recipe
    today: date


@dataclass(frozen=True, slots=True)
class SetBom:
    """Add a BOM version, or correct one that is not yet in effect; `today` is the company's
    day (a version in effect on a past day never changes: work orders were released to it)."""

    bom: Bom
    today: date


Proposal = Upsert | SetStatus | SetAlias | RemoveAlias | SetRate | SetRecipe | SetBom


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one proposal cannot be made: `where` says which (a file, row and column for an
    import; an entity code otherwise), `message` says why in the reader's language."""

    entity: str
    code: str
    column: str
    reason: str
    message: Message
    where: tuple[str, int, str] | None = None  # (file, row, column) for an import

    @property
    def english(self) -> str:
        return self.message.english


def _problem(entity: str, code: str, column: str, reason: str, **fields: Any) -> Problem:
    return Problem(entity, code, column, reason, Message(f"masterdata.problem.{reason}", code=code, **fields))


@dataclass
class Plan:
    """Proposals checked against a catalogue: the changes they make (unnumbered records), in
    order, or the problems that stop them all."""

    changes: list[tuple[str, Any, SkuStatus | None, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: Proposal index → its problems (an import maps them back to rows).
    by_proposal: dict[int, list[Problem]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_changes(catalog: Catalog, proposals: Sequence[Proposal]) -> Plan:
    """Check proposals in order, each against the catalogue as the ones before it left it.

    The catalogue is not changed. A proposal that changes nothing (the same record again) is
    dropped, so importing one file twice makes no second version."""
    plan = Plan()
    skus: dict[str, Sku] = {}
    gtins: dict[str, str] | None = None
    locations: set[str] = set()
    suppliers: set[str] = set()
    aliases: dict[str, Alias | None] = {}
    recipes: dict[str, Recipe] = {}
    boms: dict[str, Bom] = {}

    def sku_of(code: str) -> Sku | None:
        return skus.get(code) or catalog.skus.get(code)

    def gtin_owner(gtin: str) -> str | None:
        nonlocal gtins
        if gtins is None:
            gtins = {s.gtin: s.sku for s in catalog.skus.values()}
        return gtins.get(gtin)

    for index, proposal in enumerate(proposals):
        found: list[Problem] = []
        if isinstance(proposal, Upsert):
            record = proposal.record
            if isinstance(record, Sku):
                found = _check_sku(record, sku_of(record.sku), gtin_owner(record.gtin), catalog, suppliers)
                if not found and sku_of(record.sku) != record:
                    plan.changes.append(("sku_upserted", record, None, ""))
                    old = sku_of(record.sku)
                    if old is not None and gtins is not None:
                        gtins.pop(old.gtin, None)
                    skus[record.sku] = record
                    if gtins is not None:
                        gtins[record.gtin] = record.sku
            elif isinstance(record, Location):
                if catalog.locations.get(record.location) != record:
                    plan.changes.append(("location_upserted", record, None, ""))
                locations.add(record.location)
            elif isinstance(record, Supplier):
                if catalog.suppliers.get(record.supplier) != record:
                    plan.changes.append(("supplier_upserted", record, None, ""))
                suppliers.add(record.supplier)
            elif isinstance(record, Customer):
                if catalog.customers.get(record.customer) != record:
                    plan.changes.append(("customer_upserted", record, None, ""))
        elif isinstance(proposal, SetStatus):
            current = sku_of(proposal.sku)
            if current is None:
                found = [_problem("sku", proposal.sku, "sku", "unknown_sku")]
            elif proposal.to_status not in SKU_TRANSITIONS[current.status]:
                found = [
                    _problem(
                        "sku",
                        proposal.sku,
                        "status",
                        "status_move",
                        current=current.status.value,
                        wanted=proposal.to_status.value,
                        allowed=", ".join(sorted(s.value for s in SKU_TRANSITIONS[current.status])) or "-",
                    )
                ]
            else:
                moved = current.model_copy(update={"status": proposal.to_status})
                plan.changes.append(("sku_status_changed", moved, current.status, proposal.reason))
                skus[proposal.sku] = moved
        elif isinstance(proposal, SetAlias | RemoveAlias):
            alias = proposal.alias
            if isinstance(proposal, SetAlias):
                known = (
                    sku_of(alias.target) is not None
                    if alias.kind == "sku"
                    else alias.target in catalog.locations or alias.target in locations
                )
                if not known:
                    found = [
                        _problem(
                            "alias", alias.code, "target", f"unknown_{alias.kind}_alias", target=alias.target
                        )
                    ]
                else:
                    current_alias = aliases.get(alias.key, catalog.aliases.get(alias.key))
                    if current_alias != alias:
                        plan.changes.append(("alias_set", alias, None, ""))
                    aliases[alias.key] = alias
            else:
                present = aliases.get(alias.key, catalog.aliases.get(alias.key))
                if present is None:
                    found = [_problem("alias", alias.code, "code", "unknown_alias", system=alias.system)]
                else:
                    plan.changes.append(("alias_removed", present, None, ""))
                    aliases[alias.key] = None
        elif isinstance(proposal, SetRecipe):
            recipe = proposal.recipe
            trial = catalog.model_copy(update={"recipes": {**catalog.recipes, **recipes}})
            found = [
                Problem(
                    "recipe",
                    recipe.key,
                    p.column,
                    p.reason,
                    Message(f"masterdata.problem.{p.reason}", code=recipe.product, **p.fields),
                )
                for p in recipe_problems(
                    trial,
                    recipe,
                    proposal.today,
                    sku_of,
                    lambda code: (
                        code in locations
                        or getattr(catalog.locations.get(code), "kind", None) is LocationKind.STORE
                    ),
                )
            ]
            if not found and trial.recipes.get(recipe.key) != recipe:
                plan.changes.append(("recipe_set", recipe, None, ""))
                recipes[recipe.key] = recipe
        elif isinstance(proposal, SetBom):
            bom = proposal.bom
            trial = catalog.model_copy(update={"boms": {**catalog.boms, **boms}})
            found = [
                Problem(
                    "bom",
                    bom.key,
                    p.column,
                    p.reason,
                    Message(f"masterdata.problem.{p.reason}", code=bom.product, **p.fields),
                )
                for p in bom_problems(trial, bom, proposal.today, sku_of)
            ]
            if not found and trial.boms.get(bom.key) != bom:
                plan.changes.append(("bom_set", bom, None, ""))
                boms[bom.key] = bom
        elif isinstance(proposal, SetRate):
            rate = proposal.rate
            if rate.currency == catalog.currency:
                found = [_problem("rate", rate.currency, "currency", "rate_of_books_currency")]
            elif catalog.rates.get(rate.key) != rate:
                plan.changes.append(("exchange_rate_set", rate, None, ""))
        if found:
            plan.problems += found
            plan.by_proposal[index] = found
    return plan


def _check_sku(
    new: Sku, old: Sku | None, gtin_owner: str | None, catalog: Catalog, suppliers: set[str]
) -> list[Problem]:
    out = []
    code = new.sku
    if gtin_owner is not None and gtin_owner != code:
        out.append(_problem("sku", code, "gtin", "duplicate_gtin", gtin=new.gtin, other=gtin_owner))
    if new.supplier is not None and new.supplier not in catalog.suppliers and new.supplier not in suppliers:
        out.append(_problem("sku", code, "supplier", "unknown_supplier", supplier=new.supplier))
    if old is None:
        return out
    if new.status is not old.status:
        out.append(
            _problem(
                "sku", code, "status", "status_via_upsert", current=old.status.value, wanted=new.status.value
            )
        )
    if new.base_unit != old.base_unit:
        out.append(
            _problem("sku", code, "base_unit", "base_unit_changed", old=old.base_unit, new=new.base_unit)
        )
    for unit, factor in old.packs.items():
        if new.packs.get(unit) != factor:
            out.append(
                _problem(
                    "sku", code, "packs", "pack_changed", unit=unit, old=factor, new=new.packs.get(unit, "-")
                )
            )
    if old.status is not SkuStatus.DRAFT:
        for name in ("batch_managed", "serial_managed", "kind"):
            if getattr(new, name) != getattr(old, name):
                out.append(_problem("sku", code, name, "tracking_changed", field=name))
    return out


def number_changes(plan: Plan, first_version: int, actor: str, at: datetime) -> list[Any]:
    """The plan's changes as events, numbered from `first_version` (event ids follow the
    version, so a retry of the same numbered change is a harmless duplicate)."""
    out = []
    for offset, (event_type, record, from_status, reason) in enumerate(plan.changes):
        version = first_version + offset
        common: dict[str, Any] = {
            "event_id": f"masterdata-{version}",
            "occurred_at": at,
            "actor": actor,
            "version": version,
            "record": record,
        }
        if event_type == "sku_status_changed":
            common.update(from_status=from_status, reason=reason)
        out.append(CHANGE_MODELS[event_type].model_construct(**common, event_type=event_type))
    return out


def gtin_problem(value: str) -> str | None:
    """biip's reason a GTIN is invalid, or None."""
    try:
        validate_gtin(value)
    except InvalidGtin as exc:
        return str(exc)
    return None


def completeness(sku: Sku) -> tuple[int, list[str]]:
    """How complete a SKU's record is, 0–100, and the fields it lacks (数据健康度): what a buyer,
    a warehouse and the books need beyond what the schema requires."""
    checks: dict[str, bool] = {
        "supplier": sku.supplier is not None,
        "standard_cost": sku.standard_cost > 0,
        "wholesale_price": sku.wholesale_price is not None,
        "reorder_point": sku.reorder_point > 0,
        "packs": bool(sku.packs),
        "shelf_life_days": sku.shelf_life_days is not None or sku.category != "chilled_food",
        "cold_chain": sku.is_cold_chain or sku.category != "chilled_food",
        "moq": sku.moq > 0,
    }
    missing = [name for name, ok in checks.items() if not ok]
    return round(100 * (len(checks) - len(missing)) / len(checks)), missing
