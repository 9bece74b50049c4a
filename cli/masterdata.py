"""`stockflow masterdata`: the catalogue from spreadsheets and back, one SKU's record, its
lifecycle, other systems' codes, exchange rates, one portion of a recipe with its cost, and a
bill of materials with its routing and its explosion.

Every change goes through the master-data use cases (`stockflow.services.masterdata`,
`stockflow.services.masterdata_import`): checked whole, audited under the person running the
command (or `--actor`), recorded in the lake's change log and the catalogue, and published to
the workers when they are running (else they read the recorded catalogue when they start)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from cli.common import Format, _audit, _whoami, column_title, console, format_option, print_table, t, tr
from stockflow.config import get_settings
from stockflow.masterdata import SkuStatus
from stockflow.masterdata_import import ENTITY_ORDER

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

masterdata_app = typer.Typer(no_args_is_help=True, help=t("cli.masterdata.help"))
alias_app = typer.Typer(no_args_is_help=True, help=t("cli.masterdata.alias.help"))
rate_app = typer.Typer(no_args_is_help=True, help=t("cli.masterdata.rate.help"))
recipe_app = typer.Typer(no_args_is_help=True, help=t("cli.masterdata.recipe.help"))
bom_app = typer.Typer(no_args_is_help=True, help=t("cli.masterdata.bom.help"))
masterdata_app.add_typer(alias_app, name="alias")
masterdata_app.add_typer(rate_app, name="rate")
masterdata_app.add_typer(recipe_app, name="recipe")
masterdata_app.add_typer(bom_app, name="bom")

PROBLEM_COLUMNS = ("file", "row", "column", "reason", "message")
SHEET_PROBLEM_COLUMNS = ("file", "sheet", "row", "column", "reason", "message")
COUNT_COLUMNS = ("entity", "rows", "new", "changed", "unchanged")
SKU_COLUMNS = ("field", "content")
PORTION_COLUMNS = (
    "component", "name", "recipe_qty", "unit", "loss_rate", "base_qty", "base_unit", "standard_cost", "cost",
)  # fmt: skip

BOM_LINE_COLUMNS = (
    "material", "name", "bom_qty", "unit", "scrap_rate", "substitute", "priority", "ratio", "valid_from", "valid_to",
)  # fmt: skip
BOM_ROUTING_COLUMNS = ("operation", "operation_name", "hours_per_unit", "labour_rate", "overhead_rate")
BOM_EXPLOSION_COLUMNS = ("bom_level", "material", "name", "need", "base_unit", "purchased")
#: The explosion's quantities as shown: exact to this, trailing zeros dropped.
NEED_QUANTUM = Decimal("0.0001")

EntityName = StrEnum("EntityName", {name: name for name in ENTITY_ORDER})  # type: ignore[misc]


class BomPart(StrEnum):
    LINES = "lines"
    ROUTING = "routing"
    EXPLOSION = "explosion"


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


def _store():  # noqa: ANN202
    from stores.masterdata import MasterDataFiles

    settings = get_settings()
    return MasterDataFiles(settings.masterdata_path, settings.lake_dir)


def _publisher() -> Any:
    """The running workers' publisher; None when they are not running (each reads the recorded
    catalogue when it starts)."""
    from infra.worker_client import masterdata_publisher

    return masterdata_publisher(get_settings())


def _error(message: str) -> None:
    console.print(Text(message, style="red"))


def _said(message: str) -> None:
    console.print(message, markup=False, highlight=False)


def _actor_option() -> Any:
    return typer.Option("", "--actor", help=t("cli.masterdata.option.actor"))


def _reason_option() -> Any:
    return typer.Option("", "--reason", help=t("cli.masterdata.option.reason"))


def print_problems(problems: list[Any], output: Format) -> None:
    """Import problems as a table: file (and sheet, for a workbook), row, column, reason, message."""
    rows = [
        {
            "file": p.file,
            "sheet": p.sheet,
            "row": p.row,
            "column": p.column,
            "reason": p.reason,
            "message": p.message.text(tr()),
        }
        for p in problems
    ]
    if any(p.sheet for p in problems):
        print_table(rows, SHEET_PROBLEM_COLUMNS, output, t("cli.masterdata.import.problems_title"))
    else:
        print_table(rows, PROBLEM_COLUMNS, output, t("cli.masterdata.import.problems_title"))


# ---------------------------------------------------------------------- import and export
@masterdata_app.command("import", help=t("cli.masterdata.import.help"))
def masterdata_import(
    files: list[Path] = typer.Argument(..., help=t("cli.masterdata.import.files")),
    dry_run: bool = typer.Option(False, "--dry-run", help=t("cli.masterdata.import.dry_run")),
    entity: EntityName | None = typer.Option(None, "--entity", help=t("cli.masterdata.import.entity")),
    actor: str = _actor_option(),
    reason: str = _reason_option(),
    output: Format = format_option(),
) -> None:
    """Check the files and, unless a dry run or any problem, make them one change."""
    from stockflow.services.masterdata_import import import_master_data
    from stores.spreadsheets import read_spreadsheet_files

    chosen = entity.value if entity is not None else None
    tables = read_spreadsheet_files(files, chosen)
    result = import_master_data(
        _store(), _publisher(), _audit(), tables, actor or _whoami(),
        dry_run=dry_run, entity=chosen, reason=reason,
    )  # fmt: skip
    if result.problems:
        print_problems(result.problems, output)
        _error(t("cli.masterdata.import.refused", count=len(result.problems)))
        raise typer.Exit(1)
    rows = [
        {"entity": name, "rows": c.rows, "new": c.new, "changed": c.changed, "unchanged": c.unchanged}
        for name, c in result.counts.items()
        if c.rows
    ]
    print_table(
        rows,
        COUNT_COLUMNS,
        output,
        t("cli.masterdata.import.counts_title"),
        shown={"entity": lambda v: tr().word("entity", v)},
    )
    if dry_run:
        _said(t("cli.masterdata.import.checked"))
    elif result.written and result.versions:
        first, last = result.versions
        _said(t("cli.masterdata.import.recorded", changes=last - first + 1, first=first, last=last))
    else:
        _said(t("cli.masterdata.import.nothing_changed"))


@masterdata_app.command("export", help=t("cli.masterdata.export.help"))
def masterdata_export(
    folder: Path = typer.Argument(..., help=t("cli.masterdata.export.folder")),
    file_format: ExportFormat = typer.Option(
        ExportFormat.CSV, "--format", case_sensitive=False, help=t("cli.masterdata.export.format")
    ),
    chinese: bool = typer.Option(False, "--chinese-headers", help=t("cli.masterdata.export.chinese")),
    approval: str = typer.Option("", "--approval", help=t("cli.masterdata.export.approval")),
) -> None:
    """Write the catalogue as the import reads it: a CSV file per entity, or one workbook. An
    export of personal data a rule holds waits for a second person's approval."""
    from cli.approvals import export_allowed
    from stores.spreadsheets import write_csv_files, write_workbook

    catalog = _store().load()
    export_allowed(catalog, approval)
    if file_format is ExportFormat.XLSX:
        written = [write_workbook(catalog, folder / "masterdata.xlsx", chinese)]
    else:
        written = write_csv_files(catalog, folder, chinese)
    for path in written:
        typer.echo(str(path))
    _said(t("cli.masterdata.export.wrote", count=len(written), folder=str(folder)))


# ---------------------------------------------------------------------- one SKU
@masterdata_app.command("show", help=t("cli.masterdata.show.help"))
def masterdata_show(
    sku: str = typer.Argument(..., help=t("cli.masterdata.show.sku")),
    output: Format = format_option(),
) -> None:
    """A SKU's record (by its code or another system's), how complete it is, and its aliases."""
    from stockflow.masterdata import AmbiguousAlias
    from stockflow.masterdata_changes import completeness
    from stockflow.masterdata_import import format_packs

    catalog = _store().load()
    try:
        code = catalog.resolve("sku", sku)
    except AmbiguousAlias as exc:
        _error(t("cli.masterdata.show.ambiguous", code=sku, targets=", ".join(exc.targets)))
        raise typer.Exit(1) from None
    record = catalog.skus.get(code)
    if record is None:
        _error(t("cli.masterdata.show.unknown", sku=sku))
        raise typer.Exit(1)
    rows: list[dict[str, Any]] = []
    for name in type(record).model_fields:
        value = getattr(record, name)
        if name == "packs":
            value = format_packs(value)
        rows.append({"field": name, "content": value})
    score, missing = completeness(record)
    rows.append({"field": "completeness", "content": f"{score}%"})
    if missing:
        rows.append({"field": "missing", "content": missing})
    aliases = sorted(
        f"{a.system}:{a.code}" for a in catalog.aliases.values() if a.kind == "sku" and a.target == code
    )
    rows.append({"field": "aliases", "content": aliases})
    print_table(rows, SKU_COLUMNS, output, code, shown={"field": column_title})


# ---------------------------------------------------------------------- changes one at a time
def _change(proposals: list[Any], actor: str, reason: str) -> Any:
    """Make the proposals one change; its problems are the command's error (exit 1)."""
    from stockflow.services.masterdata import change_master_data

    result = change_master_data(
        _store(), _publisher(), _audit(), proposals, actor or _whoami(), reason=reason
    )
    if result.problems:
        for problem in result.problems:
            _error(problem.message.text(tr()))
        raise typer.Exit(1)
    if result.versions:
        _said(t("cli.masterdata.changed", version=result.versions[-1]))
    else:
        _said(t("cli.masterdata.unchanged"))
    return result


def _invalid(exc: Exception) -> None:
    from pydantic import ValidationError

    detail = "; ".join(str(e["msg"]) for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
    _error(t("cli.masterdata.invalid", detail=detail))
    raise typer.Exit(2) from None


@masterdata_app.command("status", help=t("cli.masterdata.status.help"))
def masterdata_status(
    sku: str = typer.Argument(..., help=t("cli.masterdata.status.sku")),
    status: SkuStatus = typer.Argument(..., help=t("cli.masterdata.status.status")),
    reason: str = _reason_option(),
    actor: str = _actor_option(),
) -> None:
    """Move a SKU along its lifecycle (draft → active ⇄ frozen → archived)."""
    from stockflow.masterdata_changes import SetStatus

    _change([SetStatus(sku, status, reason)], actor, reason)


def _alias(system: str, code: str, sku: str | None, location: str | None) -> Any:
    from pydantic import ValidationError

    from stockflow.masterdata import Alias

    if (sku is None) == (location is None):
        _error(t("cli.masterdata.alias.one_target"))
        raise typer.Exit(2)
    kind, target = ("sku", sku) if sku is not None else ("location", location)
    try:
        return Alias(system=system, code=code, kind=kind, target=target)
    except ValidationError as exc:
        _invalid(exc)


@alias_app.command("set", help=t("cli.masterdata.alias.set.help"))
def alias_set(
    system: str = typer.Argument(..., help=t("cli.masterdata.alias.system")),
    code: str = typer.Argument(..., help=t("cli.masterdata.alias.code")),
    sku: str | None = typer.Option(None, "--sku", help=t("cli.masterdata.alias.sku")),
    location: str | None = typer.Option(None, "--location", help=t("cli.masterdata.alias.location")),
    actor: str = _actor_option(),
    reason: str = _reason_option(),
) -> None:
    """Another system's code for one of our SKUs or locations."""
    from stockflow.masterdata_changes import SetAlias

    _change([SetAlias(_alias(system, code, sku, location))], actor, reason)


@alias_app.command("remove", help=t("cli.masterdata.alias.remove.help"))
def alias_remove(
    system: str = typer.Argument(..., help=t("cli.masterdata.alias.system")),
    code: str = typer.Argument(..., help=t("cli.masterdata.alias.code")),
    sku: str | None = typer.Option(None, "--sku", help=t("cli.masterdata.alias.sku")),
    location: str | None = typer.Option(None, "--location", help=t("cli.masterdata.alias.location")),
    actor: str = _actor_option(),
    reason: str = _reason_option(),
) -> None:
    """Stop knowing another system's code."""
    from stockflow.masterdata_changes import RemoveAlias

    _change([RemoveAlias(_alias(system, code, sku, location))], actor, reason)


@rate_app.command("set", help=t("cli.masterdata.rate.set.help"))
def rate_set(
    currency: str = typer.Argument(..., help=t("cli.masterdata.rate.currency")),
    valid_from: str = typer.Argument(..., help=t("cli.masterdata.rate.valid_from")),
    rate: str = typer.Argument(..., help=t("cli.masterdata.rate.rate")),
    actor: str = _actor_option(),
    reason: str = _reason_option(),
) -> None:
    """How many units of the books' currency one unit of CURRENCY buys from VALID_FROM on."""
    from pydantic import ValidationError

    from stockflow.masterdata import ExchangeRate
    from stockflow.masterdata_changes import SetRate
    from stockflow.masterdata_import import CellProblem, parse_date, parse_decimal

    try:
        day: date = parse_date(valid_from)
        value: Decimal = parse_decimal(rate)
        record = ExchangeRate(currency=currency.strip().upper(), valid_from=day, rate=value)
    except CellProblem as exc:
        _error(exc.message.text(tr()))
        raise typer.Exit(2) from None
    except ValidationError as exc:
        _invalid(exc)
        return
    _change([SetRate(record)], actor, reason)


# ---------------------------------------------------------------------- recipes
@recipe_app.command("show", help=t("cli.masterdata.recipe.show.help"))
def recipe_show(
    product: str = typer.Argument(..., help=t("cli.masterdata.recipe.product")),
    store: str | None = typer.Option(None, "--store", help=t("cli.masterdata.recipe.store")),
    on: str | None = typer.Option(None, "--on", help=t("cli.masterdata.recipe.on")),
    output: Format = format_option(),
) -> None:
    """The recipe in effect: each component per portion in base units with its loss, and the
    portion's cost at the components' standard costs."""
    from datetime import datetime

    from stockflow.masterdata_import import CellProblem, parse_date
    from stockflow.recipe_costing import portion_sheet
    from stockflow.recipes import RecipeError

    try:
        day = parse_date(on) if on else datetime.now(get_settings().tz).date()
    except CellProblem as exc:
        _error(exc.message.text(tr()))
        raise typer.Exit(2) from None
    catalog = _store().load()
    where = store or t("cli.masterdata.recipe.all_stores")
    try:
        sheet = portion_sheet(catalog, product, store, day)
    except RecipeError as exc:
        _error(t("cli.masterdata.recipe.broken", product=product, detail=exc.detail))
        raise typer.Exit(1) from None
    if sheet is None:
        _error(t("cli.masterdata.recipe.none", product=product, store=where, day=day.isoformat()))
        raise typer.Exit(1)
    recipe = sheet.recipe
    rows = [
        {
            "component": line.component, "name": line.name, "recipe_qty": line.qty, "unit": line.unit,
            "loss_rate": line.loss_rate, "base_qty": line.base_qty, "base_unit": line.base_unit,
            "standard_cost": line.standard_cost, "cost": line.cost,
        }
        for line in sheet.lines
    ]  # fmt: skip
    unit = catalog.skus[recipe.product].base_unit
    title = t(
        "cli.masterdata.recipe.title",
        product=recipe.product, name=recipe.name or catalog.skus[recipe.product].name,
        store=recipe.store or t("cli.masterdata.recipe.all_stores"),
        effective_from=recipe.effective_from.isoformat(), yield_qty=recipe.yield_qty, unit=unit,
    )  # fmt: skip
    _said(title)
    print_table(rows, PORTION_COLUMNS, output, shown={"loss_rate": lambda v: tr().percent(float(v), 1)})
    _said(t("cli.masterdata.recipe.cost", unit=unit, cost=sheet.cost, currency=catalog.currency))


# ---------------------------------------------------------------------- bills of materials
def _need(value: Any) -> Decimal:
    """An exact quantity (a fraction) as shown: to `NEED_QUANTUM`, without trailing zeros."""
    shown = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(NEED_QUANTUM).normalize()
    return shown if shown.as_tuple().exponent <= 0 else shown.quantize(Decimal(1))


@bom_app.command("show", help=t("cli.masterdata.bom.show.help"))
def bom_show(
    product: str = typer.Argument(..., help=t("cli.masterdata.bom.product")),
    on: str | None = typer.Option(None, "--day", "--on", help=t("cli.masterdata.bom.day")),
    part: BomPart | None = typer.Option(None, "--part", help=t("cli.masterdata.bom.part")),
    output: Format = format_option(),
) -> None:
    """The BOM in effect: its lines with their scrap and substitutes, its routing, and the
    multi-level explosion of one unit of the product."""
    from datetime import datetime

    from stockflow.masterdata_import import CellProblem, parse_date
    from stockflow.production import BomError, explode_levels

    try:
        day = parse_date(on) if on else datetime.now(get_settings().tz).date()
    except CellProblem as exc:
        _error(exc.message.text(tr()))
        raise typer.Exit(2) from None
    catalog = _store().load()
    bom = catalog.bom_for(product, day)
    if bom is None:
        _error(t("cli.masterdata.bom.none", product=product, day=day.isoformat()))
        raise typer.Exit(1)
    try:
        levels = explode_levels(catalog, product, 1, day)
    except BomError as exc:
        _error(t("cli.masterdata.bom.broken", product=product, detail=exc.detail))
        raise typer.Exit(1) from None

    def name_of(code: str) -> str:
        sku = catalog.skus.get(code)
        return sku.name if sku is not None else ""

    made = catalog.skus.get(bom.product)
    unit = made.base_unit if made is not None else ""
    parts = [part] if part is not None else list(BomPart) if output is Format.TABLE else [BomPart.LINES]
    _said(
        t(
            "cli.masterdata.bom.title",
            product=bom.product, name=bom.name or name_of(bom.product),
            effective_from=bom.effective_from.isoformat(), base_qty=bom.base_qty, unit=unit,
        )
    )  # fmt: skip
    if BomPart.LINES in parts:
        lines: list[dict[str, Any]] = []
        for line in bom.lines:
            lines.append(
                {"material": line.sku, "name": name_of(line.sku), "bom_qty": line.qty,
                 "unit": line.unit or getattr(catalog.skus.get(line.sku), "base_unit", ""),
                 "scrap_rate": line.scrap_rate}
            )  # fmt: skip
            lines += [
                {"material": line.sku, "name": name_of(s.sku), "substitute": s.sku, "priority": s.priority,
                 "ratio": s.ratio, "valid_from": s.valid_from, "valid_to": s.valid_to}
                for s in line.substitutes
            ]  # fmt: skip
        if output is Format.TABLE:
            _said(t("cli.masterdata.bom.lines", base_qty=bom.base_qty, unit=unit))
        shown = {"scrap_rate": lambda v: "" if v is None else tr().percent(float(v), 1)}
        print_table(lines, BOM_LINE_COLUMNS, output, shown=shown)
    if BomPart.ROUTING in parts:
        routing = [
            {"operation": o.operation, "operation_name": o.name, "hours_per_unit": o.hours_per_unit,
             "labour_rate": o.labour_rate, "overhead_rate": o.overhead_rate}
            for o in bom.operations
        ]  # fmt: skip
        if output is Format.TABLE:
            _said(t("cli.masterdata.bom.routing", unit=unit, currency=catalog.currency))
        print_table(routing, BOM_ROUTING_COLUMNS, output)
    if BomPart.EXPLOSION in parts:
        explosion = [
            {"bom_level": level.depth, "material": sku, "name": name_of(sku), "need": _need(need),
             "base_unit": getattr(catalog.skus.get(sku), "base_unit", ""), "purchased": sku in level.leaves}
            for level in levels
            for sku, need in level.gross.items()
        ]  # fmt: skip
        if output is Format.TABLE:
            _said(t("cli.masterdata.bom.explosion", unit=unit, day=day.isoformat()))
        print_table(explosion, BOM_EXPLOSION_COLUMNS, output)


GROUPS = {"masterdata": masterdata_app}
