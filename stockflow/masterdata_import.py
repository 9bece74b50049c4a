"""Master data from spreadsheets: what a file's rows mean, the rules each row must pass, and the
rows an export writes.

One table per entity — SKUs, locations, suppliers, customers, other systems' codes (aliases),
exchange rates, recipes and bills of materials (BOMs) — read from a CSV file or an Excel sheet (`stores.spreadsheets` reads the
bytes; everything here is pure). Which entity a table holds comes from the caller, else from
the sheet's or the file's name (English or Chinese: `skus`, `商品`), else from its key column.
The header is the row (among the first `HEADER_SEARCH_ROWS`) that names the most known
columns; a column is named by its field (`shelf_life_days`) or a Chinese title (`保质期(天)`).

Cells are parsed here (numbers with thousands separators, `是/否`, `13%`, dates as Excel or
people write them, packs as ``case=12;pallet=480``, a quantity as ``24`` or ``2 case``), then
checked by the import's own rules and by the record's model; every problem is kept with its
file, sheet, row (as the spreadsheet numbers them: the header is row 1 when it is the first)
and column, a stable reason and a `Message` in the reader's language. `prepare_import` never
stops at the first problem: the whole file is checked, and the rules of the catalogue
(`stockflow.masterdata_changes.check_changes`) are mapped back to rows by `origin_problems`.

Columns a file leaves out keep the catalogue's value for a record that exists (a price list of
`sku, standard_cost` changes prices only); an empty cell in a column the file has means the
field's default (none, for the optional ones).

Recipes take one row per component (`RecipeRow`): the rows of one product × store ×
effective day, in file order, make one recipe version (`Recipe`). What the rows say of the
whole recipe (出品数量, 配方名称) is said on any of them and the same wherever it is said; a
version's problems in the catalogue's rules are put at its rows (an unknown component at that
component's row, a product or a store at the version's first row). A version the catalogue
has as it is makes no change: a file imported twice adds nothing.

BOMs take one row per line, per substitute and per routing step (`BomRow`): the rows of one
product × effective day, in file order, make one BOM version (`Bom`). A line's row gives its
material (物料编码) and quantity; a substitute's row gives the line's material and the
substitute (替代料编码) with its priority, ratio and validity; an operation's row gives the
operation (工序) with its hours and rates. What the rows say of the whole BOM (基准数量, BOM名称)
is said on any of them and the same wherever it is said. The catalogue's BOM rules are put at
the rows: an unknown material or a cycle at the row of the line (or substitute) that names it,
the product and the effective day at the version's first row."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from stockflow.config import get_settings
from stockflow.i18n import Message
from stockflow.masterdata import (
    VAT_RATES,
    Alias,
    Bom,
    BomLine,
    BomOperation,
    BomSubstitute,
    Catalog,
    Code,
    Customer,
    ExchangeRate,
    InvalidGtin,
    Licence,
    Location,
    LocationKind,
    NegativeStockPolicy,
    OverLimit,
    Recipe,
    RecipeComponent,
    Sku,
    SkuKind,
    SkuStatus,
    Supplier,
    ValuationMethod,
    bom_key,
    recipe_key,
    validate_gtin,
)
from stockflow.masterdata_changes import Problem, Proposal, SetAlias, SetBom, SetRate, SetRecipe, Upsert

#: The entities in the order their proposals are checked: a SKU may name a supplier of the
#: same import, an alias a SKU or location of it, a recipe its SKUs and stores, a BOM its SKUs.
ENTITY_ORDER = ("suppliers", "locations", "customers", "skus", "aliases", "rates", "recipes", "boms")

#: Every reason of the import's own problems (`masterdata.import.<reason>` in the catalogues);
#: the catalogue's rules add theirs (`masterdata.problem.<reason>`).
IMPORT_REASONS = (
    "not_a_number", "not_whole", "out_of_range", "not_yes_no", "bad_date", "bad_code", "bad_gtin",
    "bad_pack", "bad_licence", "bad_vat_rate", "not_allowed", "too_long", "too_many_digits", "required",
    "formula_error", "invalid_value", "pack_base_unit", "pack_not_multiple", "unknown_unit",
    "moq_not_whole_packs", "cold_chain_range", "shelf_life_missing", "serial_negative_stock",
    "duplicate_code", "unknown_column", "duplicate_column", "missing_column", "no_header",
    "unknown_entity", "unreadable_file", "unreadable_sheet", "unreadable_row", "unknown_encoding",
    "file_too_large", "recipe_differs", "recipe_split", "recipe_invalid", "bom_differs", "bom_split",
    "bom_invalid", "bom_mixed_row", "bom_substitute_no_line",
)  # fmt: skip

#: The header is looked for in this many rows at the top of a table (a title row or two above it).
HEADER_SEARCH_ROWS = 20
#: A cell longer than this is refused (no field needs more; a hostile file may hold megabytes).
MAX_CELL_CHARS = 1000
#: Whole numbers fit the lake's 64-bit integers; amounts and readings stay below this.
MAX_INT = 2**63 - 1
MAX_AMOUNT = Decimal(10) ** 15
#: A cell's value as a problem's message quotes it.
QUOTED_CHARS = 60

#: Categories that are perishable by their name: a SKU in one needs a shelf life.
PERISHABLE_CATEGORY_PREFIXES = ("chilled", "frozen", "fresh", "dairy", "meat", "seafood", "bakery")

_YES = {"yes", "y", "true", "t", "1", "是", "对", "有"}
_NO = {"no", "n", "false", "f", "0", "否", "不", "无"}

#: Excel's error values: a formula that failed shows one of these instead of a value.
_EXCEL_ERRORS = {"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#SPILL!", "#CALC!"}
_CODE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_QUANTITY = re.compile(
    r"^([+-]?[0-9][0-9,]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z_][A-Za-z0-9_.:\-]*)?$"
)
_PACK = re.compile(r"^([A-Za-z0-9_.:\-]{1,64}?)\s*[=:]\s*([0-9]{1,19})$")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_EXCEL_EPOCH = date(1899, 12, 30)


# ---------------------------------------------------------------------- what a file holds
@dataclass
class SheetTable:
    """One table as read from a file: a CSV file, or one sheet of a workbook.

    `rows` are (row number as the spreadsheet shows it, cells), header rows included, empty
    rows left out or not; it may be a one-pass iterator. `unreadable` is set (and `rows`
    empty) when the file could not be read at all; a reader that meets damage half-way adds
    to `read_problems` while `rows` is being consumed."""

    file: str
    sheet: str = ""
    sheet_index: int = 0
    rows: Iterable[tuple[int, Sequence[Any]]] = ()
    sha256: str = ""
    entity: str | None = None
    #: Column offset of the first cell (a sheet whose data starts in column C: 2).
    first_column: int = 0
    #: (first row, first column, last row, last column) of merged cells, 1-based, inclusive:
    #: every covered cell reads the top-left one's value.
    merged: Sequence[tuple[int, int, int, int]] = ()
    unreadable: Message | None = None
    read_problems: list[ImportProblem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Why one cell, row or file stops the import. `row` is the spreadsheet's row number (None
    for the whole file), `column` the header as the file writes it ("" for a whole row),
    `cell` the spreadsheet reference (`C5`), `reason` a stable code and `message` the reason in
    the reader's language."""

    file: str
    row: int | None
    column: str
    reason: str
    message: Message
    sheet: str = ""
    cell: str = ""
    entity: str = ""
    code: str = ""

    @property
    def english(self) -> str:
        return self.message.english

    @property
    def where(self) -> str:
        """`skus.csv:5 条码` / `book.xlsx[商品]!C5`: for logs."""
        place = f"{self.file}[{self.sheet}]" if self.sheet else self.file
        if self.cell:
            return f"{place}!{self.cell}"
        return f"{place}:{self.row}" if self.row is not None else place


# ---------------------------------------------------------------------- a recipe's rows
class RecipeRow(BaseModel):
    """One row of a recipes table: one component of one recipe version, with what the version
    says of itself (its store, day, yield and name) repeated or left blank. The fields are
    checked as the recipe's own (`Recipe`, `RecipeComponent`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: Code
    store: Annotated[Code | None, Recipe.model_fields["store"]]
    effective_from: date
    yield_qty: Annotated[Decimal, Recipe.model_fields["yield_qty"]]
    component: Code
    qty: Annotated[Decimal, RecipeComponent.model_fields["qty"]]
    unit: Annotated[Code | None, RecipeComponent.model_fields["unit"]]
    loss_rate: Annotated[Decimal, RecipeComponent.model_fields["loss_rate"]]
    name: Annotated[str, Recipe.model_fields["name"]]


def recipe_rows(recipe: Recipe) -> list[RecipeRow]:
    """A recipe version as the rows a recipes table writes: one per component, in order."""
    return [
        RecipeRow(
            product=recipe.product,
            store=recipe.store,
            effective_from=recipe.effective_from,
            yield_qty=recipe.yield_qty,
            component=c.sku,
            qty=c.qty,
            unit=c.unit,
            loss_rate=c.loss_rate,
            name=recipe.name,
        )
        for c in recipe.components
    ]


# ---------------------------------------------------------------------- a BOM's rows
class BomRow(BaseModel):
    """One row of a boms table: a line of one BOM version (its material, quantity, unit and
    scrap), a substitute of one of its lines (`material` names the line, `substitute` the SKU
    that may stand in for it), or a step of its routing (`operation`); with what the version
    says of itself (its base quantity and name) repeated or left blank. The fields are checked
    as the BOM's own (`Bom`, `BomLine`, `BomSubstitute`, `BomOperation`); a field a row leaves
    empty takes the record's default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: Code
    effective_from: date
    base_qty: Annotated[Decimal, Bom.model_fields["base_qty"]]
    material: Code | None = None
    qty: Annotated[Decimal, *BomLine.model_fields["qty"].metadata] | None = None
    unit: Code | None = None
    scrap_rate: Annotated[Decimal, *BomLine.model_fields["scrap_rate"].metadata] | None = None
    substitute: Code | None = None
    priority: Annotated[int, *BomSubstitute.model_fields["priority"].metadata] | None = None
    ratio: Annotated[Decimal, *BomSubstitute.model_fields["ratio"].metadata] | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    operation: Code | None = None
    operation_name: Annotated[str, BomOperation.model_fields["name"]] = ""
    hours_per_unit: Annotated[Decimal, *BomOperation.model_fields["hours_per_unit"].metadata] | None = None
    labour_rate: Annotated[Decimal, *BomOperation.model_fields["labour_rate"].metadata] | None = None
    overhead_rate: Annotated[Decimal, *BomOperation.model_fields["overhead_rate"].metadata] | None = None
    name: Annotated[str, Bom.model_fields["name"]]


def bom_rows(bom: Bom) -> list[BomRow]:
    """A BOM version as the rows a boms table writes: each line, followed by its substitutes,
    then the routing's operations, in order; the base quantity and name on every row."""
    whole = {
        "product": bom.product,
        "effective_from": bom.effective_from,
        "base_qty": bom.base_qty,
        "name": bom.name,
    }
    rows = []
    for line in bom.lines:
        rows.append(
            BomRow(**whole, material=line.sku, qty=line.qty, unit=line.unit, scrap_rate=line.scrap_rate)
        )
        rows += [
            BomRow(
                **whole, material=line.sku, substitute=s.sku, priority=s.priority, ratio=s.ratio,
                valid_from=s.valid_from, valid_to=s.valid_to,
            )
            for s in line.substitutes
        ]  # fmt: skip
    rows += [
        BomRow(
            **whole, operation=o.operation, operation_name=o.name, hours_per_unit=o.hours_per_unit,
            labour_rate=o.labour_rate, overhead_rate=o.overhead_rate,
        )
        for o in bom.operations
    ]  # fmt: skip
    return rows


# ---------------------------------------------------------------------- the columns
@dataclass(frozen=True)
class Column:
    """A column of an entity's table: its field, how its cells are read, the other titles it
    goes by, and the words a choice column accepts besides its values."""

    name: str
    kind: str
    titles: tuple[str, ...] = ()
    words: Mapping[str, str] = field(default_factory=dict)
    #: False: read and checked, but not a field of the record (`perishable`).
    stored: bool = True


@dataclass(frozen=True)
class Entity:
    name: str
    model: type[BaseModel]
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    names: tuple[str, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@lru_cache(maxsize=4096)
def _normal_title(text: str) -> str:
    """A header, sheet or word as compared: width-folded (`（天）` → `(天)`), lower case,
    spaces and dashes as `_`, a required-field mark (`*`) dropped."""
    folded = unicodedata.normalize("NFKC", str(text)).strip().strip("*").strip().lower()
    return re.sub(r"[\s\-]+", "_", folded)


def _choice(values: Iterable[str], words: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {v: v for v in values}
    out.update(words or {})
    return {_normal_title(k): v for k, v in out.items()}


_STATUS_WORDS = _choice(
    (s.value for s in SkuStatus),
    {"新建": "draft", "草稿": "draft", "启用": "active", "冻结": "frozen", "归档": "archived"},
)
_KIND_WORDS = _choice(
    (k.value for k in SkuKind),
    {
        "商品": "goods",
        "货品": "goods",
        "菜品": "dish",
        "饮品": "dish",
        "套餐": "dish",
        "半成品": "semi_finished",
    },
)
_NEGATIVE_WORDS = _choice(
    (p.value for p in NegativeStockPolicy),
    {"拒绝": "reject", "允许并标记": "allow_and_flag", "允许": "allow_and_flag"},
)
_VALUATION_WORDS = _choice(
    (m.value for m in ValuationMethod),
    {"先进先出": "fifo", "移动平均": "moving_average", "移动加权平均": "moving_average"},
)
_OVER_LIMIT_WORDS = _choice(
    (o.value for o in OverLimit), {"拒绝": "refuse", "审批": "approval", "待审批": "approval"}
)
_LOCATION_KIND_WORDS = _choice((k.value for k in LocationKind), {"仓库": "warehouse", "门店": "store"})
_ALIAS_KIND_WORDS = _choice(("sku", "location"), {"商品": "sku", "地点": "location", "仓库门店": "location"})
#: Columns a recipes table says of the whole version, not of its component.
RECIPE_FIELDS = ("yield_qty", "name")
#: Columns a boms table says of the whole version, and the columns of each kind of its rows.
BOM_FIELDS = ("base_qty", "name")
BOM_LINE_FIELDS = ("material", "qty", "unit", "scrap_rate")
BOM_SUBSTITUTE_FIELDS = ("material", "substitute", "priority", "ratio", "valid_from", "valid_to")
BOM_OPERATION_FIELDS = ("operation", "operation_name", "hours_per_unit", "labour_rate", "overhead_rate")

#: Notes a template keeps beside the data (备注): read, never stored.
_NOTE = Column("note", "text", ("备注", "说明", "remark", "remarks", "notes"), stored=False)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "skus",
            Sku,
            ("sku",),
            (
                Column("sku", "code", ("商品编码", "sku编码", "货号", "编码")),
                Column("gtin", "gtin", ("条码", "商品条码", "条形码", "国际条码")),
                Column("name", "text", ("名称", "商品名称", "品名")),
                Column("category", "code", ("类别", "品类", "分类", "类别编码")),
                Column("status", "choice", ("状态",), _STATUS_WORDS),
                Column("kind", "choice", ("类型", "商品类型"), _KIND_WORDS),
                Column("serial_managed", "bool", ("序列号管理", "管理序列号")),
                Column("base_unit", "code", ("基本单位", "单位")),
                Column("packs", "packs", ("包装", "包装规格")),
                Column("shelf_life_days", "int", ("保质期(天)", "保质期天数", "保质期")),
                Column("batch_managed", "bool", ("批次管理", "管理批次")),
                Column("cold_chain_min_c", "float", ("冷链最低温度", "最低温度(℃)", "最低温度")),
                Column("cold_chain_max_c", "float", ("冷链最高温度", "最高温度(℃)", "最高温度")),
                Column(
                    "cold_chain_tolerance_minutes",
                    "float",
                    ("超温容许(分钟)", "冷链超温容许分钟", "超温容许"),
                ),
                Column("reorder_point", "quantity", ("再订货点", "补货点")),
                Column("supplier", "code", ("供应商", "供应商编码")),
                Column("moq", "quantity", ("最小起订量", "起订量")),
                Column("negative_stock", "choice", ("负库存", "负库存策略"), _NEGATIVE_WORDS),
                Column("standard_cost", "decimal", ("标准成本", "成本")),
                Column("vat_rate", "vat", ("税率", "增值税率", "销项税率")),
                Column("wholesale_price", "decimal", ("批发价", "批发价格")),
                Column("valuation_method", "choice", ("计价方法", "计价方式"), _VALUATION_WORDS),
                Column("perishable", "bool", ("易腐", "易腐品", "生鲜"), stored=False),
                _NOTE,
            ),
            ("sku", "商品", "商品资料", "物料"),
        ),
        Entity(
            "locations",
            Location,
            ("location",),
            (
                Column("location", "code", ("地点编码", "仓库门店编码", "仓库编码", "门店编码", "编码")),
                Column("name", "text", ("名称", "地点名称")),
                Column("kind", "choice", ("类型", "地点类型"), _LOCATION_KIND_WORDS),
                Column("latitude", "float", ("纬度",)),
                Column("longitude", "float", ("经度",)),
                Column("city", "text", ("城市",)),
                Column("accounting_unit", "code", ("核算单位", "账套")),
                _NOTE,
            ),
            ("location", "地点", "仓库门店", "门店仓库"),
        ),
        Entity(
            "suppliers",
            Supplier,
            ("supplier",),
            (
                Column("supplier", "code", ("供应商编码", "编码")),
                Column("name", "text", ("名称", "供应商名称")),
                Column("lead_time_days", "int", ("交货期(天)", "提前期(天)", "交货期", "提前期")),
                Column("phone", "text", ("电话", "联系电话")),
                Column("payment_terms_days", "int", ("账期(天)", "付款期(天)", "账期")),
                Column("licences", "licences", ("资质证照", "许可证", "证照")),
                _NOTE,
            ),
            ("supplier", "供应商"),
        ),
        Entity(
            "customers",
            Customer,
            ("customer",),
            (
                Column("customer", "code", ("客户编码", "编码")),
                Column("name", "text", ("名称", "客户名称")),
                Column("phone", "text", ("电话", "联系电话")),
                Column("id_number", "text", ("证件号码", "身份证号")),
                Column("credit_limit", "decimal", ("信用额度", "授信额度")),
                Column("over_credit_limit", "choice", ("超额度处理", "超信用额度"), _OVER_LIMIT_WORDS),
                Column("rebate_rate", "decimal", ("返利比例", "返利率")),
                Column("payment_terms_days", "int", ("账期(天)", "收款期(天)", "账期")),
                _NOTE,
            ),
            ("customer", "客户"),
        ),
        Entity(
            "aliases",
            Alias,
            ("kind", "system", "code"),
            (
                Column("system", "code", ("系统", "外部系统")),
                Column("code", "code", ("外部编码",)),
                Column("kind", "choice", ("类型", "对象"), _ALIAS_KIND_WORDS),
                Column("target", "code", ("本系统编码", "对应编码")),
                _NOTE,
            ),
            ("alias", "外部编码", "别名"),
        ),
        Entity(
            "rates",
            ExchangeRate,
            ("currency", "valid_from"),
            (
                Column("currency", "currency", ("币种", "货币")),
                Column("valid_from", "date", ("生效日期", "起始日期")),
                Column("rate", "decimal", ("汇率",)),
                _NOTE,
            ),
            ("rate", "exchange_rates", "汇率"),
        ),
        Entity(
            "recipes",
            RecipeRow,
            ("product", "effective_from", "component"),
            (
                Column("product", "code", ("成品编码", "菜品编码", "成品", "菜品")),
                Column("store", "code", ("门店", "门店编码", "适用门店")),
                Column("effective_from", "date", ("生效日期", "启用日期")),
                Column("yield_qty", "decimal", ("出品数量", "产出数量", "成品数量")),
                Column("component", "code", ("用料编码", "原料编码", "物料编码", "用料")),
                Column("qty", "decimal", ("用量", "用料数量")),
                Column("unit", "code", ("单位", "用量单位")),
                Column("loss_rate", "percent", ("损耗率", "损耗")),
                Column("name", "text", ("配方名称", "名称")),
                _NOTE,
            ),
            ("recipe", "配方", "菜品配方", "配方表"),
        ),
        Entity(
            "boms",
            BomRow,
            ("product", "effective_from"),
            (
                Column("product", "code", ("产品编码", "产品", "母件编码", "父项编码")),
                Column("effective_from", "date", ("生效日期", "启用日期")),
                Column("base_qty", "decimal", ("基准数量", "母件数量", "基本数量")),
                Column("material", "code", ("物料编码", "子件编码", "材料编码", "物料")),
                Column("qty", "decimal", ("用量", "子件用量")),
                Column("unit", "code", ("单位", "用量单位")),
                Column("scrap_rate", "percent", ("损耗率", "损耗")),
                Column("substitute", "code", ("替代料编码", "替代料")),
                Column("priority", "int", ("替代优先级", "优先级")),
                Column("ratio", "decimal", ("替代比例", "替代率")),
                Column("valid_from", "date", ("替代生效", "替代生效日期")),
                Column("valid_to", "date", ("替代失效", "替代失效日期")),
                Column("operation", "code", ("工序", "工序编码")),
                Column("operation_name", "text", ("工序名称",)),
                Column("hours_per_unit", "decimal", ("单位工时", "工时")),
                Column("labour_rate", "decimal", ("人工费率", "人工费率(元/小时)")),
                Column("overhead_rate", "decimal", ("制造费率", "制造费用率", "制造费率(元/小时)")),
                Column("name", "text", ("BOM名称", "物料清单名称", "名称")),
                _NOTE,
            ),
            ("bom", "物料清单", "bom表", "bill_of_materials"),
        ),
    )
}


def _normal_word(text: str) -> str:
    """A cell's word as compared (`Yes`, `是`, ` 启用 `); the short ones are cached."""
    return _normal_title(text) if len(text) <= 40 else _normal_title(text[:41])


_TITLES: dict[str, dict[str, str]] = {
    name: {
        _normal_title(title): column.name
        for column in entity.columns
        for title in (column.name, *column.titles)
    }
    for name, entity in ENTITIES.items()
}
_ENTITY_NAMES: dict[str, str] = {
    _normal_title(alias): name for name, entity in ENTITIES.items() for alias in (name, *entity.names)
}


def entity_for_name(name: str) -> str | None:
    """The entity a file or sheet name means: `skus`, `skus.csv`, `商品`, `skus_2026-09` → skus."""
    stem = _normal_title(re.sub(r"\.[A-Za-z0-9]{1,5}$", "", name.rsplit("/", 1)[-1]))
    if stem in _ENTITY_NAMES:
        return _ENTITY_NAMES[stem]
    first = re.split(r"[_.]", stem, maxsplit=1)[0]
    return _ENTITY_NAMES.get(first)


def entity_for_header(header: Sequence[Any]) -> str | None:
    """The entity whose key columns the header names (the first of `ENTITY_ORDER` that fits
    best), or None."""
    titles = {_normal_title(h) for h in header if _text(h)}
    best, best_known = None, 0
    for name in ENTITY_ORDER:
        columns = {_TITLES[name][t] for t in titles if t in _TITLES[name]}
        if not set(ENTITIES[name].key) <= columns:
            continue
        if len(columns) > best_known:
            best, best_known = name, len(columns)
    return best


# ---------------------------------------------------------------------- reading cells
class CellProblem(ValueError):
    """A cell the parsers cannot read: a reason (`masterdata.import.<reason>`) and its fields."""

    def __init__(self, reason: str, **fields: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields

    @property
    def message(self) -> Message:
        return Message(f"masterdata.import.{self.reason}", **self.fields)


def _text(value: Any) -> str:
    """A cell as text: numbers Excel stores as floats without their `.0`, times as ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def quoted(value: Any) -> str:
    text = _text(value)
    return text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…"


def _folded(text: str) -> str:
    """Full-width digits and punctuation as ASCII (`１２，５` → `12,5`); ASCII text as it is."""
    return text.strip() if text.isascii() else unicodedata.normalize("NFKC", text).strip()


def parse_decimal(value: Any) -> Decimal:
    """An amount or rate: `12.5`, `1,234.50`, `¥12`, `12.5 元`; floats from Excel as shown."""
    if isinstance(value, bool):
        raise CellProblem("not_a_number", value=quoted(value))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem("not_a_number", value=quoted(value))
        number = Decimal(repr(value))
    else:
        try:
            number = Decimal(value)  # the usual cell: "12.50"
        except (InvalidOperation, ValueError, TypeError):
            text = _folded(_text(value)).replace(",", "").replace("¥", "").replace("元", "").strip()
            try:
                number = Decimal(text)
            except (InvalidOperation, ValueError):
                raise CellProblem("not_a_number", value=quoted(value)) from None
    if not number.is_finite():
        raise CellProblem("not_a_number", value=quoted(value))
    if abs(number) >= MAX_AMOUNT:
        raise CellProblem("out_of_range", value=quoted(value), rule=f"< {MAX_AMOUNT:,.0f}")
    if number == 0:
        return Decimal(0)
    return number


def parse_int(value: Any) -> int:
    if type(value) is str and len(value) <= 18 and value.isascii() and value.isdigit():
        return int(value)  # the usual cell: "12"
    number = _whole(value)
    if abs(number) > MAX_INT:
        raise CellProblem("out_of_range", value=quoted(value), rule=f"≤ {MAX_INT}")
    return int(number)


def _whole(value: Any) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    try:
        number = parse_decimal(value)
    except CellProblem as exc:
        if exc.reason == "out_of_range":
            raise CellProblem("out_of_range", value=quoted(value), rule=f"≤ {MAX_INT}") from None
        raise
    if number != number.to_integral_value():
        raise CellProblem("not_whole", value=quoted(value))
    return number


def parse_float(value: Any) -> float:
    if isinstance(value, float | int) and not isinstance(value, bool):
        number = float(value)
    else:
        number = float(parse_decimal(value))
    if not math.isfinite(number) or abs(number) >= float(MAX_AMOUNT):
        raise CellProblem("out_of_range", value=quoted(value), rule=f"< {MAX_AMOUNT:,.0f}")
    return number


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = _normal_title(_text(value)) if type(value) is not str else _normal_word(value)
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise CellProblem("not_yes_no", value=quoted(value))


def parse_date(value: Any) -> date:
    """`2026-09-01`, `2026/9/1`, `2026.9.1`, `2026年9月1日`, an Excel date, or the day number
    Excel keeps for one (45000 → 2023-03-15)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and 1 <= value < 2958466:  # Excel's days: 1900-01-01 .. 9999-12-31
            return _EXCEL_EPOCH + timedelta(days=int(value))
        raise CellProblem("bad_date", value=quoted(value))
    match = _DATE.match(_folded(_text(value)))
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise CellProblem("bad_date", value=quoted(value))


def parse_code(value: Any) -> str:
    text = _folded(_text(value))
    if not _CODE.fullmatch(text):
        raise CellProblem("bad_code", value=quoted(value))
    return text


def parse_gtin(value: Any) -> str:
    """The GTIN as written (digits): a number Excel kept loses its leading zeros, which a GTIN-14
    has again."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = _text(value)
        if text.isdigit() and len(text) <= 14:
            text = text.zfill(14)
    else:
        text = _folded(_text(value)).replace(" ", "")
    try:
        validate_gtin(text)  # cached: the model's own check finds it again
    except InvalidGtin as exc:
        raise CellProblem("bad_gtin", value=quoted(value), detail=str(exc)) from None
    return text


def parse_packs(value: Any) -> dict[str, int]:
    """`case=12;pallet=480` (also `,` between packs and `:` between unit and count; full-width
    punctuation too)."""
    text = _folded(_text(value))
    packs: dict[str, int] = {}
    for part in re.split(r"[;,]", text):
        part = part.strip()
        if not part:
            continue
        match = _PACK.match(part)
        if not match or match[1] in packs:
            raise CellProblem("bad_pack", value=quoted(value))
        factor = int(match[2])
        if factor < 1 or factor > MAX_INT:
            raise CellProblem("bad_pack", value=quoted(value))
        packs[match[1]] = factor
    return packs


def format_packs(packs: Mapping[str, int]) -> str:
    """Packs as a cell: smallest first, `case=12;pallet=480`."""
    return ";".join(f"{unit}={factor}" for unit, factor in sorted(packs.items(), key=lambda p: (p[1], p[0])))


def parse_licences(value: Any) -> tuple[Licence, ...]:
    """`食品经营许可证:JY13101010000001:2027-06-30; GSP:A-001:2026/12/31`: each licence's kind,
    number and last valid day (full-width punctuation too)."""
    licences = []
    for part in re.split(r"[;\n]", _folded(_text(value))):
        part = part.strip()
        if not part:
            continue
        pieces = [p.strip() for p in part.split(":")]
        if len(pieces) != 3 or not pieces[0] or not pieces[1]:
            raise CellProblem("bad_licence", value=quoted(value))
        try:
            valid_until = parse_date(pieces[2])
            licences.append(Licence(kind=pieces[0], number=pieces[1], valid_until=valid_until))
        except (CellProblem, ValueError):
            raise CellProblem("bad_licence", value=quoted(value)) from None
    return tuple(licences)


def format_licences(licences: Sequence[Licence]) -> str:
    """Licences as a cell: `kind:number:YYYY-MM-DD`, separated by `;`."""
    return ";".join(f"{lic.kind}:{lic.number}:{lic.valid_until.isoformat()}" for lic in licences)


def parse_quantity(value: Any) -> tuple[Decimal, str | None]:
    """A quantity and its unit (None: base units): `24`, `2 case`, `2case`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_decimal(value), None
    if type(value) is str and len(value) <= 18 and value.isascii() and value.isdigit():
        return Decimal(value), None
    match = _QUANTITY.match(_folded(_text(value)))
    if not match:
        raise CellProblem("not_a_number", value=quoted(value))
    return parse_decimal(match[1]), match[2]


def parse_vat(value: Any) -> Decimal:
    """`0.13`, `13%`: one of the VAT rates."""
    text = _folded(_text(value)) if not isinstance(value, int | float) else None
    if text is not None and text.endswith("%"):
        rate = parse_decimal(text[:-1]) / 100
    else:
        rate = parse_decimal(value)
    if rate not in VAT_RATES:
        raise CellProblem("bad_vat_rate", value=quoted(value))
    return rate


def parse_percent(value: Any) -> Decimal:
    """A share: `10%` or `0.1`."""
    text = _folded(_text(value)) if not isinstance(value, int | float) else None
    if text is not None and text.endswith(("%", "％")):
        return parse_decimal(text[:-1].strip()) / 100
    return parse_decimal(value)


def _parse_text(value: Any) -> str:
    return _text(value)


def _parse_currency(value: Any) -> str:
    return _folded(_text(value)).upper()


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": _parse_text,
    "code": parse_code,
    "int": parse_int,
    "decimal": parse_decimal,
    "float": parse_float,
    "bool": parse_bool,
    "date": parse_date,
    "gtin": parse_gtin,
    "packs": parse_packs,
    "licences": parse_licences,
    "quantity": parse_quantity,
    "vat": parse_vat,
    "percent": parse_percent,
    "currency": _parse_currency,
}


def _parser(column: Column) -> Callable[[Any], Any]:
    if column.kind != "choice":
        return _PARSERS[column.kind]
    words = column.words
    allowed = ", ".join(dict.fromkeys(words.values()))

    def parse_choice(value: Any) -> str:
        word = words.get(_normal_word(_text(value)))
        if word is None:
            raise CellProblem("not_allowed", value=quoted(value), allowed=allowed)
        return word

    return parse_choice


# ---------------------------------------------------------------------- checking a table
@dataclass
class EntityCounts:
    """What an import does to one entity's records."""

    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a proposal came from: its table, row and record, and the headers of its table."""

    table: int
    row: int
    entity: str
    code: str
    #: field → (header as the file writes it, column number counted from 1)
    headers: Mapping[str, tuple[str, int]]
    #: A recipe version's rows: component → the row that gives it (`row` is the first).
    component_rows: Mapping[str, int] = field(default_factory=dict)
    #: A BOM version's rows: ("material", SKU), ("substitute", line's SKU, SKU) and
    #: ("operation", code) → the row that gives it (`row` is the first).
    bom_rows: Mapping[tuple[str, ...], int] = field(default_factory=dict)


@dataclass
class PreparedImport:
    """Tables read into proposals (in `ENTITY_ORDER`), each with its origin, and every problem
    the rows have on their own. The catalogue's rules are checked when the proposals are made;
    `origin_problems` puts those at their rows."""

    proposals: list[Proposal] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    #: file name → SHA-256 of its bytes.
    files: dict[str, str] = field(default_factory=dict)
    #: The tables read, (file, sheet), in reading order; an origin's `table` indexes it.
    tables: list[tuple[str, str]] = field(default_factory=list)
    #: (file, sheet) → the entity it was read as.
    entities: dict[tuple[str, str], str] = field(default_factory=dict)
    #: The codes each entity's rows name (rows with problems included).
    codes: dict[str, set[str]] = field(default_factory=dict)
    #: (file, sheet) of every table given, in order.
    table_order: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def column_letter(number: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(cell: str) -> int:
    number = 0
    for ch in cell:
        if not ch.isalpha():
            break
        number = number * 26 + ord(ch) - 64
    return number


def choose_tables(
    tables: Sequence[SheetTable], entity: str | None = None
) -> list[tuple[SheetTable, str | None]]:
    """The tables to read and the entity each holds (None: its header tells). A workbook with
    sheets named after entities gives those sheets; any other file its first sheet, holding
    `entity` if given, else what the file's name says."""
    files: list[list[SheetTable]] = []
    for table in tables:  # a file's tables come together, its sheets in order
        if files and files[-1][-1].file == table.file and files[-1][-1].sheet_index < table.sheet_index:
            files[-1].append(table)
        else:
            files.append([table])
    out: list[tuple[SheetTable, str | None]] = []
    for file_tables in files:
        named = [(t, entity_for_name(t.sheet)) for t in file_tables if t.sheet and entity_for_name(t.sheet)]
        if named:
            out += named
            continue
        first = file_tables[0]
        out.append((first, first.entity or entity or entity_for_name(first.file)))
    return out


@dataclass
class _RecipeRows:
    """The rows of one recipe version as they are read: the table's reading they are in, the
    first row, the rows that could be read, and what they say of the whole version."""

    reading: _TableReading
    first_row: int
    code: str
    rows: list[tuple[int, RecipeRow]] = field(default_factory=list)
    #: component → its row
    components: dict[str, int] = field(default_factory=dict)
    #: a field of the whole version (`RECIPE_FIELDS`) → (its value, the first row that says it)
    said: dict[str, tuple[Any, int]] = field(default_factory=dict)
    failed: bool = False


def _recipe_proposals(
    catalog: Catalog, groups: Mapping[tuple[str, str | None, date], _RecipeRows], today: date
) -> Iterator[tuple[Proposal, Origin, str] | ImportProblem]:
    """Each recipe version whose rows all passed as a proposal (`SetRecipe` on `today`), or the
    problem that stops it. A column the table leaves out keeps the catalogue's version's
    value (its yield and name, a component's unit and loss), else the field's default."""
    for (product, store, day), group in groups.items():
        if group.failed or not group.rows:
            continue
        headers = group.reading.headers
        current = catalog.recipes.get(recipe_key(product, store, day))
        kept = {c.sku: c for c in current.components} if current is not None else {}
        whole: dict[str, Any] = {}
        for name in RECIPE_FIELDS:
            if name in group.said:
                whole[name] = group.said[name][0]
            elif name not in headers and current is not None:
                whole[name] = getattr(current, name)
        components = []
        for _, row in group.rows:
            component = {"sku": row.component, "qty": row.qty, "unit": row.unit, "loss_rate": row.loss_rate}
            for name in ("unit", "loss_rate"):
                if name not in headers and row.component in kept:
                    component[name] = getattr(kept[row.component], name)
            components.append(component)
        try:
            recipe = Recipe(product=product, store=store, effective_from=day, components=components, **whole)
        except ValidationError as exc:
            detail = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            problem = group.reading.problem(
                group.first_row, "product", "recipe_invalid", code=group.code, detail=detail[:200]
            )
            yield replace(problem, code=group.code)
            continue
        origin = Origin(
            group.reading.index, group.first_row, "recipes", group.code, headers, dict(group.components)
        )
        yield SetRecipe(recipe, today), origin, _outcome(catalog, "recipes", recipe)


@dataclass
class _BomRows:
    """The rows of one BOM version as they are read: the table's reading they are in, the first
    row, the rows of each kind that could be read, where each line, substitute and operation
    is given, and what the rows say of the whole version."""

    reading: _TableReading
    first_row: int
    code: str
    lines: list[tuple[int, BomRow]] = field(default_factory=list)
    substitutes: list[tuple[int, BomRow]] = field(default_factory=list)
    operations: list[tuple[int, BomRow]] = field(default_factory=list)
    #: ("material", SKU) / ("substitute", line's SKU, SKU) / ("operation", code) → its row
    rows: dict[tuple[str, ...], int] = field(default_factory=dict)
    #: a field of the whole version (`BOM_FIELDS`) → (its value, the first row that says it)
    said: dict[str, tuple[Any, int]] = field(default_factory=dict)
    failed: bool = False


def _kept(
    row: BomRow, names: Iterable[tuple[str, str]], headers: Mapping[str, Any], current: BaseModel | None
) -> dict[str, Any]:
    """A sub-record's fields from a row: (record's field, row's field) for each; a field whose
    column the table leaves out keeps `current`'s value, an empty cell the record's default."""
    out: dict[str, Any] = {}
    for name, column in names:
        if column not in headers:
            if current is not None:
                out[name] = getattr(current, name)
            continue
        value = getattr(row, column)
        if value is not None:
            out[name] = value
    return out


def _bom_proposals(
    catalog: Catalog, groups: Mapping[tuple[str, date], _BomRows], today: date
) -> Iterator[tuple[Proposal, Origin, str] | ImportProblem]:
    """Each BOM version whose rows all passed as a proposal (`SetBom` on `today`), or the
    problems that stop it. A column the table leaves out keeps the catalogue's version's value
    (its base quantity and name; a line's unit and scrap, a substitute's priority, ratio and
    days, an operation's name, hours and rates; without a 物料编码 column its lines, without a
    替代料编码 column each line's substitutes, without a 工序 column its routing), else the
    field's default."""
    for (product, day), group in groups.items():
        if group.failed or not (group.lines or group.substitutes or group.operations):
            continue
        reading, headers = group.reading, group.reading.headers
        current = catalog.boms.get(bom_key(product, day))
        whole: dict[str, Any] = {}
        for name in BOM_FIELDS:
            if name in group.said:
                whole[name] = group.said[name][0]
            elif name not in headers and current is not None:
                whole[name] = getattr(current, name)
        lines: list[Any] = []
        if "material" not in headers:
            lines = list(current.lines) if current is not None else []
        else:
            materials = {row.material for _, row in group.lines}
            orphans = [(r, row) for r, row in group.substitutes if row.material not in materials]
            if orphans:
                for r, row in orphans:
                    problem = reading.problem(
                        r, "material", "bom_substitute_no_line",
                        code=group.code, material=row.material, substitute=row.substitute,
                    )  # fmt: skip
                    yield replace(problem, code=group.code)
                continue
            for _, row in group.lines:
                kept = current.line(row.material) if current is not None and row.material else None
                line = {"sku": row.material, "qty": row.qty}
                line |= _kept(row, (("unit", "unit"), ("scrap_rate", "scrap_rate")), headers, kept)
                if "substitute" in headers:
                    substitutes = []
                    for _, sub in group.substitutes:
                        if sub.material != row.material:
                            continue
                        before = (
                            next((s for s in kept.substitutes if s.sku == sub.substitute), None)
                            if kept
                            else None
                        )
                        fields = (("priority", "priority"), ("ratio", "ratio"), ("valid_from", "valid_from"),
                                  ("valid_to", "valid_to"))  # fmt: skip
                        substitutes.append({"sku": sub.substitute, **_kept(sub, fields, headers, before)})
                    line["substitutes"] = substitutes
                elif kept is not None:
                    line["substitutes"] = list(kept.substitutes)
                lines.append(line)
        operations: list[Any] = []
        if "operation" not in headers:
            operations = list(current.operations) if current is not None else []
        else:
            for _, row in group.operations:
                before = current.operation(row.operation) if current is not None and row.operation else None
                fields = (("name", "operation_name"), ("hours_per_unit", "hours_per_unit"),
                          ("labour_rate", "labour_rate"), ("overhead_rate", "overhead_rate"))  # fmt: skip
                operations.append({"operation": row.operation, **_kept(row, fields, headers, before)})
        try:
            bom = Bom(product=product, effective_from=day, lines=lines, operations=operations, **whole)
        except ValidationError as exc:
            detail = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            problem = reading.problem(
                group.first_row, "product", "bom_invalid", code=group.code, detail=detail[:200]
            )
            yield replace(problem, code=group.code)
            continue
        origin = Origin(
            reading.index, group.first_row, "boms", group.code, headers, bom_rows=dict(group.rows)
        )
        yield SetBom(bom, today), origin, _outcome(catalog, "boms", bom)


def prepare_import(
    catalog: Catalog, tables: Sequence[SheetTable], entity: str | None = None, today: date | None = None
) -> PreparedImport:
    """Read `tables` against `catalog` (see the module). `entity` says what a file holds whose
    name (or sheets' names) does not; `today` is the company's day, for the rule that a recipe
    version in effect never changes (None: today in the company's time zone)."""
    prepared = PreparedImport(counts={name: EntityCounts() for name in ENTITY_ORDER})
    if entity is not None and entity not in ENTITIES:
        entity = entity_for_name(entity)
    staged: dict[str, list[tuple[Proposal, Origin, str]]] = {name: [] for name in ENTITY_ORDER}
    first_seen: dict[tuple[str, tuple[Any, ...]], tuple[str, str, int]] = {}
    readings: list[_TableReading] = []
    recipes: dict[tuple[str, str | None, date], _RecipeRows] = {}
    boms: dict[tuple[str, date], _BomRows] = {}
    for table in tables:
        if table.sha256:
            prepared.files.setdefault(table.file, table.sha256)
    for table, table_entity in choose_tables(tables, entity):
        if table.unreadable is not None:
            reason = table.unreadable.key.rsplit(".", 1)[-1]
            prepared.problems.append(
                ImportProblem(table.file, None, "", reason, table.unreadable, table.sheet)
            )
            continue
        reading = _TableReading(
            catalog, table, len(prepared.tables), prepared, staged, first_seen, recipes, boms
        )
        reading.read(table_entity)
        readings.append(reading)
        prepared.problems += table.read_problems
    # a SKU's supplier: in the catalogue or among the import's suppliers (any table, any order)
    known = set(catalog.suppliers) | prepared.codes.get("suppliers", set())
    prepared.problems += [
        reading.unknown_supplier(row, code, supplier)
        for reading in readings
        for row, code, supplier in reading.suppliers_named
        if supplier not in known
    ]
    if recipes or boms:
        day = today if today is not None else datetime.now(get_settings().tz).date()
        made_all = (
            *(("recipes", m) for m in _recipe_proposals(catalog, recipes, day)),
            *(("boms", m) for m in _bom_proposals(catalog, boms, day)),
        )
        for name, made in made_all:
            if isinstance(made, ImportProblem):
                prepared.problems.append(made)
            else:
                staged[name].append(made)
    for name in ENTITY_ORDER:
        counts = prepared.counts[name]
        for proposal, origin, outcome in staged[name]:
            prepared.proposals.append(proposal)
            prepared.origins.append(origin)
            setattr(counts, outcome, getattr(counts, outcome) + 1)
    prepared.table_order = list(dict.fromkeys((t.file, t.sheet) for t in tables))
    prepared.problems = sorted_problems(prepared, prepared.problems)
    return prepared


def sorted_problems(prepared: PreparedImport, problems: Iterable[ImportProblem]) -> list[ImportProblem]:
    """Problems in the order of the files and their sheets, then rows and columns."""
    order = {table: i for i, table in enumerate(prepared.table_order)}
    files = {file: i for i, (file, _) in reversed(list(enumerate(prepared.table_order)))}
    return sorted(
        problems,
        key=lambda p: (
            order.get((p.file, p.sheet), files.get(p.file, len(order))),
            p.row or 0,
            _column_number(p.cell),
        ),
    )


def _header_row(rows: Iterator[tuple[int, Sequence[Any]]], entity: str | None) -> tuple[list[Any], int]:
    """The rows at the top (read ahead) and the index among them of the header: the row naming
    the most known columns (-1: none names any)."""
    top = list(islice(rows, HEADER_SEARCH_ROWS))
    best, best_known = -1, 0
    names = (entity,) if entity is not None else ENTITY_ORDER
    for i, (_, cells) in enumerate(top):
        titles = [_normal_title(c) for c in cells if isinstance(c, str) and c.strip()]
        known = max(sum(1 for t in titles if t in _TITLES[name]) for name in names)
        if known > best_known:
            best, best_known = i, known
    return top, best


class _TableReading:
    """One table read: its header, then each row (cells → values → rules → record)."""

    def __init__(
        self,
        catalog: Catalog,
        table: SheetTable,
        index: int,
        prepared: PreparedImport,
        staged: dict[str, list[tuple[Proposal, Origin, str]]],
        first_seen: dict[tuple[str, tuple[Any, ...]], tuple[str, str, int]],
        recipes: dict[tuple[str, str | None, date], _RecipeRows] | None = None,
        boms: dict[tuple[str, date], _BomRows] | None = None,
    ) -> None:
        self.catalog = catalog
        #: the rows of each recipe version read so far (every table of the import), by its key
        self.recipes = {} if recipes is None else recipes
        #: the rows of each BOM version read so far (every table of the import), by its key
        self.boms = {} if boms is None else boms
        self.row_values: dict[str, Any] = {}
        self.row_raw: dict[str, Any] = {}
        self.table = table
        self.index = index
        self.prepared = prepared
        self.staged = staged
        self.first_seen = first_seen
        self.headers: dict[str, tuple[str, int]] = {}
        #: (row, SKU, supplier) of every SKU naming a supplier: checked once every table is read
        self.suppliers_named: list[tuple[int, str, str]] = []
        self.entity = ENTITIES["skus"]

    # ---- problems
    def problem(
        self, row: int | None, name: str, reason: str, message_key: str | None = None, **fields: Any
    ) -> ImportProblem:
        """A problem with the column of field `name` (or a column the file writes as `name`)."""
        header, number = self.headers.get(name, (name, 0))
        return ImportProblem(
            file=self.table.file,
            row=row,
            column=header,
            reason=reason,
            message=Message(message_key or f"masterdata.import.{reason}", **fields),
            sheet=self.table.sheet,
            cell=f"{column_letter(number)}{row}" if number and row else "",
            entity=self.entity.name,
        )

    # ---- the table
    def read(self, entity_name: str | None) -> None:
        table, prepared = self.table, self.prepared
        rows = iter(table.rows)
        top, header_at = _header_row(rows, entity_name)
        if header_at < 0:
            if any(_text(c) for _, cells in top for c in cells):
                prepared.problems.append(
                    ImportProblem(
                        table.file, None, "", "no_header",
                        Message("masterdata.import.no_header", entities=", ".join(ENTITY_ORDER)), table.sheet,
                    )
                )  # fmt: skip
            return
        header_row, header = top[header_at]
        entity_name = entity_name or entity_for_header(header)
        if entity_name is None:
            prepared.problems.append(
                ImportProblem(
                    table.file, header_row, "", "unknown_entity",
                    Message("masterdata.import.unknown_entity", entities=", ".join(ENTITY_ORDER)), table.sheet,
                )
            )  # fmt: skip
            return
        self.entity = entity = ENTITIES[entity_name]
        prepared.tables.append((table.file, table.sheet))
        prepared.entities[(table.file, table.sheet)] = entity_name
        columns = self._columns(header_row, header)
        missing = [k for k in entity.key if k not in columns]
        for name in missing:
            prepared.problems.append(
                self.problem(header_row, name, "missing_column", column=name, entity=entity_name)
            )
        codes = prepared.codes.setdefault(entity_name, set())
        if missing:
            return
        self._prepare_rows(columns)
        merged = _merged_fill(table.merged, header_row)
        counts = prepared.counts[entity_name]
        key_column = entity.key[-1]
        for row, cells in _chain(top[header_at + 1 :], rows):
            if merged is not None:
                cells = merged(row, cells, table.first_column)
            read = self._row(row, cells)
            if read is None:  # an empty row
                continue
            counts.rows += 1
            key, code, record, problems = read
            if entity_name == "recipes":
                self._recipe_row(row, record, problems, codes)
                continue
            if entity_name == "boms":
                self._bom_row(row, record, problems, codes)
                continue
            if code:
                codes.add(code)
            if problems:
                prepared.problems += [replace(p, code=code) for p in problems] if code else problems
            if key is None:
                continue
            seen_as = (entity_name, key)
            first = self.first_seen.get(seen_as)
            if first is not None:
                file, sheet, first_row = first
                where = f"{file}[{sheet}]:{first_row}" if sheet else f"{file}:{first_row}"
                duplicate = self.problem(row, key_column, "duplicate_code", code=code, first=where)
                prepared.problems.append(replace(duplicate, code=code))
                continue
            self.first_seen[seen_as] = (table.file, table.sheet, row)
            if record is not None:
                origin = Origin(self.index, row, entity_name, code, self.headers)
                proposal: Proposal
                if entity_name == "aliases":
                    proposal = SetAlias(record)
                elif entity_name == "rates":
                    proposal = SetRate(record)
                else:
                    proposal = Upsert(record)
                self.staged[entity_name].append(
                    (proposal, origin, _outcome(self.catalog, entity_name, record))
                )

    def _columns(self, header_row: int, header: Sequence[Any]) -> dict[str, int]:
        """field → position in a row; unknown and repeated columns are problems."""
        titles = _TITLES[self.entity.name]
        columns: dict[str, int] = {}
        for position, title in enumerate(header):
            text = _text(title)
            if not text:
                continue
            number = position + 1 + self.table.first_column
            name = titles.get(_normal_title(text))
            where = (text, number)
            if name is None or name in columns:
                self.headers[f"\0{position}"] = where
                reason = "unknown_column" if name is None else "duplicate_column"
                fields: dict[str, Any] = {"column": quoted(text)}
                if name is None:
                    fields.update(
                        entity=self.entity.name, known=", ".join(c.name for c in self.entity.columns)
                    )
                else:
                    fields["first"] = self.headers[name][0]
                self.prepared.problems.append(self.problem(header_row, f"\0{position}", reason, **fields))
                continue
            columns[name] = position
            self.headers[name] = where
        return columns

    def _prepare_rows(self, columns: dict[str, int]) -> None:
        entity = self.entity
        self.cells = [(name, position, _parser(entity.column(name))) for name, position in columns.items()]
        self.stored = {c.name for c in entity.columns if c.stored}
        self.unstored_read = any(name not in self.stored for name in columns)
        self.absent = [name for name in self.stored if name not in columns]
        self.existing: Mapping[str, Any] = {
            "skus": self.catalog.skus,
            "locations": self.catalog.locations,
            "suppliers": self.catalog.suppliers,
            "customers": self.catalog.customers,
        }.get(entity.name, {})

    # ---- a row
    def _row(
        self, row: int, cells: Sequence[Any]
    ) -> tuple[tuple[Any, ...] | None, str, Any, list[ImportProblem]] | None:
        """(key, code, record, problems) of one row, None for an empty one: key None when the row
        names no record, record None when it names one that cannot be made."""
        problems: list[ImportProblem] = []
        values: dict[str, Any] = {}
        raw: dict[str, Any] = {}
        failed: set[str] = set()
        n = len(cells)
        empty = True
        for name, position, parse in self.cells:
            cell = cells[position] if position < n else None
            if cell is None:
                continue
            if type(cell) is str:
                if len(cell) > MAX_CELL_CHARS:
                    problems.append(
                        self.problem(row, name, "too_long", value=quoted(cell), limit=MAX_CELL_CHARS)
                    )
                    failed.add(name)
                    empty = False
                    continue
                cell = cell.strip()
                if not cell:
                    continue
                if cell[0] == "#" and cell in _EXCEL_ERRORS:
                    problems.append(self.problem(row, name, "formula_error", value=cell))
                    failed.add(name)
                    empty = False
                    continue
            empty = False
            raw[name] = cell
            try:
                values[name] = parse(cell)
            except CellProblem as exc:
                problems.append(self.problem(row, name, exc.reason, **exc.fields))
                failed.add(name)
        if empty:
            return None
        self.row_values, self.row_raw = values, raw
        entity = self.entity
        key_values = [values.get(k) for k in entity.key]
        code = _code(entity.name, key_values)
        key = None if any(v is None for v in key_values) else tuple(key_values)
        if key is None:  # the rest of the row is still checked
            for k in entity.key:
                if k not in values and k not in failed:
                    problems.append(self.problem(row, k, "required", column=self.headers.get(k, (k,))[0]))
                failed.add(k)
        elif self.absent:
            existing = self.existing.get(code)
            if existing is not None:
                for name in self.absent:
                    values[name] = getattr(existing, name)
        if entity.name == "skus":
            self._sku_rules(row, code, values, raw, failed, problems)
        if failed or self.unstored_read:
            record_values = {k: v for k, v in values.items() if k in self.stored and k not in failed}
        else:
            record_values = values
        try:
            record = entity.model.model_validate(record_values)
        except ValidationError as exc:
            said: set[tuple[str, str]] = set()
            for err in exc.errors(include_url=False):
                name = str(err["loc"][0]) if err["loc"] else ""
                if name in failed:
                    continue
                reason, fields = _pydantic_reason(err, raw.get(name, values.get(name)))
                if (name, reason) in said:
                    continue
                said.add((name, reason))
                if reason == "required":
                    fields = {"column": self.headers.get(name, (name,))[0]}
                problems.append(self.problem(row, name, reason, **fields))
            return key, code, None, problems
        # a record some field of which was left out would be checked as if that field were empty
        return key, code, (None if failed else record), problems

    def _sku_rules(
        self,
        row: int,
        code: str,
        values: dict[str, Any],
        raw: Mapping[str, Any],
        failed: set[str],
        problems: list[ImportProblem],
    ) -> None:
        """The import's rules for a SKU: packs that nest, quantities in units it has, an MOQ of
        whole packs, a cold-chain range, a shelf life for a perishable, serials that count
        units, and (once every table is read) a supplier that exists."""
        base_unit = values.get("base_unit", "each")
        packs = values.get("packs") or {}
        if "packs" not in failed:
            if packs.get(base_unit, 1) != 1:
                problems.append(self.problem(row, "packs", "pack_base_unit", unit=base_unit))
                failed.add("packs")
            sizes = sorted((factor, unit) for unit, factor in packs.items() if unit != base_unit)
            for i, (factor, unit) in enumerate(sizes):
                smaller = next(((f, u) for f, u in sizes[:i] if factor % f), None)
                if smaller is not None:
                    problems.append(
                        self.problem(
                            row, "packs", "pack_not_multiple",
                            unit=unit, factor=factor, smaller=smaller[1], smaller_factor=smaller[0],
                        )
                    )  # fmt: skip
                    failed.add("packs")
        units = {base_unit: 1, **packs} if "packs" not in failed else {base_unit: 1}
        for name in ("moq", "reorder_point"):
            quantity = values.get(name)
            if not isinstance(quantity, tuple):
                continue
            amount, unit = quantity
            factor = units.get(unit or base_unit)
            if factor is None:
                if "packs" not in failed:
                    problems.append(
                        self.problem(
                            row, name, "unknown_unit", unit=unit, code=code, units=", ".join(sorted(units))
                        )
                    )
                failed.add(name)
                continue
            base = amount * factor
            if base != base.to_integral_value():
                problems.append(self.problem(row, name, "not_whole", value=quoted(raw.get(name))))
                failed.add(name)
            elif abs(base) > MAX_INT:
                problems.append(
                    self.problem(row, name, "out_of_range", value=quoted(raw.get(name)), rule=f"≤ {MAX_INT}")
                )
                failed.add(name)
            else:
                values[name] = int(base)
        moq = values.get("moq")
        smallest = min((f for f in units.values() if f > 1), default=None)
        if isinstance(moq, int) and "moq" not in failed and moq > 0 and smallest and moq % smallest:
            unit = min(u for u, f in units.items() if f == smallest)
            problems.append(
                self.problem(
                    row,
                    "moq",
                    "moq_not_whole_packs",
                    moq=moq,
                    base_unit=base_unit,
                    unit=unit,
                    factor=smallest,
                )
            )
            failed.add("moq")
        low, high = values.get("cold_chain_min_c"), values.get("cold_chain_max_c")
        if not {"cold_chain_min_c", "cold_chain_max_c"} & failed:
            if (low is None) != (high is None) or (low is not None and high is not None and low >= high):
                column = "cold_chain_max_c" if high is None else "cold_chain_min_c"
                problems.append(
                    self.problem(row, column, "cold_chain_range", low=_shown(low), high=_shown(high))
                )
                failed.update({"cold_chain_min_c", "cold_chain_max_c"})
        perishable = (
            values.get("perishable") is True
            or low is not None
            or high is not None
            or is_perishable_category(values.get("category"))
        )
        if perishable and values.get("shelf_life_days") is None and "shelf_life_days" not in failed:
            problems.append(self.problem(row, "shelf_life_days", "shelf_life_missing", code=code))
        if values.get("serial_managed") is True and values.get("negative_stock", "reject") != "reject":
            problems.append(self.problem(row, "negative_stock", "serial_negative_stock", code=code))
            failed.add("negative_stock")
        supplier = values.get("supplier")
        if supplier and "supplier" not in failed:
            self.suppliers_named.append((row, code, supplier))

    def _recipe_row(
        self, row: int, record: RecipeRow | None, problems: list[ImportProblem], codes: set[str]
    ) -> None:
        """A row of a recipes table joins the rows of its version (product × store × day): a
        component given twice, a version split over two tables, or a yield or name that
        differs from another row's is the row's problem; a version with any row that has a
        problem is not proposed (its rows' problems say why)."""
        values, raw = self.row_values, self.row_raw
        product, store, day = values.get("product"), values.get("store"), values.get("effective_from")
        known = (
            isinstance(product, str) and isinstance(day, date) and ("store" in values or "store" not in raw)
        )
        code = recipe_key(product, store, day) if known else str(product or "")
        if code:
            codes.add(code)
        found = list(problems)
        if known:
            group = self.recipes.get((product, store, day))
            if group is None:
                group = self.recipes[(product, store, day)] = _RecipeRows(self, row, code)
            found += self._recipe_rules(row, group)
            component = values.get("component")
            if isinstance(component, str):
                group.components.setdefault(component, row)
            if record is None or found:
                group.failed = True
            else:
                group.rows.append((row, record))
        self.prepared.problems += [replace(p, code=code) for p in found]

    def _recipe_rules(self, row: int, group: _RecipeRows) -> list[ImportProblem]:
        """What a row may not do to its version: continue it in another table, give one of its
        components again, say another yield or name than an earlier row."""
        values, raw = self.row_values, self.row_raw
        out = []
        if group.reading is not self:
            first = group.reading._where(group.first_row)
            out.append(self.problem(row, "product", "recipe_split", code=group.code, first=first))
        component = values.get("component")
        if isinstance(component, str) and component in group.components:
            where = self._where(group.components[component])
            out.append(self.problem(row, "component", "duplicate_code", code=component, first=where))
        for name in RECIPE_FIELDS:
            if name not in raw or name not in values:
                continue
            said = group.said.get(name)
            if said is None:
                group.said[name] = (values[name], row)
            elif said[0] != values[name]:
                out.append(
                    self.problem(
                        row, name, "recipe_differs",
                        column=self.headers[name][0], value=quoted(raw[name]), first=self._where(said[1]),
                        first_value=quoted(said[0]),
                    )
                )  # fmt: skip
        return out

    def _bom_row(
        self, row: int, record: BomRow | None, problems: list[ImportProblem], codes: set[str]
    ) -> None:
        """A row of a boms table joins the rows of its version (product × day) as a line, a
        substitute or an operation: cells of another kind of row, a line, substitute or
        operation given twice, a version split over two tables, or a base quantity or name that
        differs from another row's is the row's problem; a version with any row that has a
        problem is not proposed (its rows' problems say why)."""
        values = self.row_values
        product, day = values.get("product"), values.get("effective_from")
        known = isinstance(product, str) and isinstance(day, date)
        code = bom_key(product, day) if known else str(product or "")
        if code:
            codes.add(code)
        kind, found = self._bom_row_kind(row)
        found = [*problems, *found]
        if known:
            group = self.boms.get((product, day))
            if group is None:
                group = self.boms[(product, day)] = _BomRows(self, row, code)
            found += self._bom_rules(row, group, kind)
            if record is None or found:
                group.failed = True
            else:
                getattr(
                    group, {"line": "lines", "substitute": "substitutes", "operation": "operations"}[kind]
                ).append((row, record))
        self.prepared.problems += [replace(p, code=code) for p in found]

    def _bom_row_kind(self, row: int) -> tuple[str, list[ImportProblem]]:
        """What a row of a boms table gives (an operation: it names one; a substitute: it names
        one; else a line), and its problems as such: a cell that belongs on another kind of
        row, a line without its material or quantity, a substitute without the line's
        material."""
        raw = self.row_raw
        if "operation" in raw:
            kind, fields = "operation", BOM_OPERATION_FIELDS
        elif "substitute" in raw:
            kind, fields = "substitute", BOM_SUBSTITUTE_FIELDS
        else:
            kind, fields = "line", BOM_LINE_FIELDS
        allowed = {"product", "effective_from", *BOM_FIELDS, *fields}
        shown = {
            name: self.headers.get(name, (name,))[0]
            for name in ("material", "qty", "substitute", "operation")
        }
        out = [
            self.problem(row, name, "bom_mixed_row", column=self.headers[name][0], **shown)
            for name in raw
            if name not in allowed and name != _NOTE.name
        ]
        required = {"line": ("material", "qty"), "substitute": ("material",), "operation": ()}[kind]
        out += [
            self.problem(row, name, "required", column=self.headers.get(name, (name,))[0])
            for name in required
            if name not in raw
        ]
        return kind, out

    def _bom_rules(self, row: int, group: _BomRows, kind: str) -> list[ImportProblem]:
        """What a row may not do to its version: continue it in another table, give one of its
        lines, substitutes or operations again, say another base quantity or name than an
        earlier row."""
        values, raw = self.row_values, self.row_raw
        out = []
        if group.reading is not self:
            first = group.reading._where(group.first_row)
            out.append(self.problem(row, "product", "bom_split", code=group.code, first=first))
        material, substitute, operation = (
            values.get("material"),
            values.get("substitute"),
            values.get("operation"),
        )
        place: tuple[tuple[str, ...], str, Any] | None = None
        if kind == "line" and isinstance(material, str):
            place = ("material", material), "material", material
        elif kind == "substitute" and isinstance(material, str) and isinstance(substitute, str):
            place = ("substitute", material, substitute), "substitute", substitute
        elif kind == "operation" and isinstance(operation, str):
            place = ("operation", operation), "operation", operation
        if place is not None:
            key, column, shown = place
            if key in group.rows:
                where = self._where(group.rows[key])
                out.append(self.problem(row, column, "duplicate_code", code=shown, first=where))
            else:
                group.rows[key] = row
        for name in BOM_FIELDS:
            if name not in raw or name not in values:
                continue
            said = group.said.get(name)
            if said is None:
                group.said[name] = (values[name], row)
            elif said[0] != values[name]:
                out.append(
                    self.problem(
                        row, name, "bom_differs",
                        column=self.headers[name][0], value=quoted(raw[name]), first=self._where(said[1]),
                        first_value=quoted(said[0]),
                    )
                )  # fmt: skip
        return out

    def _where(self, row: int) -> str:
        table = self.table
        return f"{table.file}[{table.sheet}]:{row}" if table.sheet else f"{table.file}:{row}"

    def unknown_supplier(self, row: int, code: str, supplier: str) -> ImportProblem:
        problem = self.problem(
            row,
            "supplier",
            "unknown_supplier",
            "masterdata.problem.unknown_supplier",
            code=code,
            supplier=supplier,
        )
        return replace(problem, code=code)


def _chain(first: Iterable[Any], rest: Iterator[Any]) -> Iterator[Any]:
    yield from first
    yield from rest


def _code(entity: str, key: Sequence[Any]) -> str:
    """A record's code as people read it: `SKU-1`, `meituan:77` (an alias), `USD 2026-09-01`."""
    if entity == "aliases":
        return ":".join(str(k) for k in key[1:] if k is not None)
    if entity == "rates":
        return " ".join(k.isoformat() if isinstance(k, date) else str(k) for k in key if k is not None)
    return "" if key[0] is None else str(key[0])


def _merged_fill(
    merged: Sequence[tuple[int, int, int, int]], header_row: int
) -> Callable[[int, Sequence[Any], int], Sequence[Any]] | None:
    """A function giving a row's cells with every merged cell below the header reading the value
    of the range's top-left cell (what the sheet shows), or None when nothing is merged there."""
    ranges = [m for m in merged if m[2] > header_row and (m[0] != m[2] or m[1] != m[3])]
    if not ranges:
        return None
    top_left: dict[tuple[int, int], Any] = {}

    def fill(row: int, cells: Sequence[Any], first_column: int) -> Sequence[Any]:
        out = list(cells)
        for r0, c0, r1, c1 in ranges:
            if not r0 <= row <= r1:
                continue
            for column in range(c0, c1 + 1):
                i = column - 1 - first_column
                if i < 0:
                    continue
                while len(out) <= i:
                    out.append(None)
                if row == r0 and column == c0:
                    top_left[(r0, c0)] = out[i]
                elif (r0, c0) in top_left:
                    out[i] = top_left[(r0, c0)]
        return out

    return fill


def _outcome(catalog: Catalog, entity: str, record: Any) -> str:
    """new, changed or unchanged: the record against the catalogue's."""
    current: Any = {
        "skus": lambda: catalog.skus.get(record.sku),
        "locations": lambda: catalog.locations.get(record.location),
        "suppliers": lambda: catalog.suppliers.get(record.supplier),
        "customers": lambda: catalog.customers.get(record.customer),
        "aliases": lambda: catalog.aliases.get(record.key),
        "rates": lambda: catalog.rates.get(record.key),
        "recipes": lambda: catalog.recipes.get(record.key),
        "boms": lambda: catalog.boms.get(record.key),
    }[entity]()
    if current is None:
        return "new"
    return "unchanged" if current == record else "changed"


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def is_perishable_category(category: Any) -> bool:
    """A category whose name says its goods spoil (`chilled_food`, `fresh_produce`)."""
    return isinstance(category, str) and category.lower().startswith(PERISHABLE_CATEGORY_PREFIXES)


_BOUNDS = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}


def _pydantic_reason(err: Mapping[str, Any], value: Any) -> tuple[str, dict[str, Any]]:
    """A validation error of the record's model as a reason and its message's fields."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    shown = quoted(value) if value is not None else ""
    name = str(err["loc"][0]) if err["loc"] else ""
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return "required", {}
    if kind == "string_too_long":
        return "too_long", {"value": shown, "limit": ctx.get("max_length")}
    if kind == "string_pattern_mismatch":
        return "bad_code", {"value": shown}
    if kind in _BOUNDS:
        return "out_of_range", {"value": shown, "rule": f"{_BOUNDS[kind]} {next(iter(ctx.values()), '')}"}
    if kind in ("decimal_max_digits", "decimal_max_places", "decimal_whole_digits"):
        return "too_many_digits", {"value": shown}
    if kind in ("enum", "literal_error"):
        return "not_allowed", {"value": shown, "allowed": str(ctx.get("expected", "")).replace("'", "")}
    if kind == "value_error" and name == "gtin":
        return "bad_gtin", {"value": shown, "detail": str(ctx.get("error", err["msg"]))}
    if kind == "value_error" and name == "vat_rate":
        return "bad_vat_rate", {"value": shown}
    detail = str(err["msg"]).removeprefix("Value error, ")
    return "invalid_value", {"value": shown, "detail": detail[:200]}


# ---------------------------------------------------------------------- the catalogue's rules, by row
def all_problems(
    prepared: PreparedImport, by_proposal: Mapping[int, Sequence[Problem]]
) -> list[ImportProblem]:
    """The rows' own problems and the catalogue's (`Plan.by_proposal`), in file order."""
    return sorted_problems(prepared, [*prepared.problems, *origin_problems(prepared, by_proposal)])


def origin_problems(
    prepared: PreparedImport, by_proposal: Mapping[int, Sequence[Problem]]
) -> list[ImportProblem]:
    """The catalogue's problems with the proposals (`Plan.by_proposal`) at the rows they came
    from, less those the rows' own problems already say."""
    out: list[ImportProblem] = []
    said = {(p.file, p.sheet, p.row, p.column, p.reason) for p in prepared.problems}
    for index in sorted(by_proposal):
        origin = prepared.origins[index]
        file, sheet = prepared.tables[origin.table]
        for problem in by_proposal[index]:
            if _follows_from_rows(prepared, problem):
                continue
            if origin.entity == "recipes":
                row, column = _recipe_place(origin, problem)
            elif origin.entity == "boms":
                row, column = _bom_place(origin, problem)
            else:
                row, column = origin.row, problem.column
            header, number = origin.headers.get(column, (column, 0))
            key = (file, sheet, row, header, problem.reason)
            if key in said:
                continue
            said.add(key)
            out.append(
                ImportProblem(
                    file=file,
                    row=row,
                    column=header,
                    reason=problem.reason,
                    message=problem.message,
                    sheet=sheet,
                    cell=f"{column_letter(number)}{row}" if number else "",
                    entity=origin.entity,
                    code=origin.code,
                )
            )
    return out


def _recipe_place(origin: Origin, problem: Problem) -> tuple[int, str]:
    """The row and field a recipe version's problem points at: a component's problem at that
    component's row (its unit's at the unit), a cycle at the component that leads back, the
    rest at the version's first row and the column the rule names."""
    fields = problem.message.fields
    component = fields.get("component")
    if problem.reason == "recipe_cycle":
        path = str(fields.get("path", "")).split(" → ")
        component = path[1] if len(path) > 1 else path[0]
    if isinstance(component, str) and component in origin.component_rows:
        column = (
            "unit" if problem.reason == "recipe_component_unit" and "unit" in origin.headers else "component"
        )
        return origin.component_rows[component], column
    column = "component" if problem.column == "components" else problem.column
    return origin.row, column


def _bom_place(origin: Origin, problem: Problem) -> tuple[int, str]:
    """The row and field a BOM version's problem points at: a line's problem at that line's row
    (its unit's at the unit), a substitute's at the substitute's row (reversed days at the day
    it is valid to), a cycle at the line or substitute that leads back, the rest at the
    version's first row and the column the rule names."""
    fields, rows, headers = problem.message.fields, origin.bom_rows, origin.headers
    material = fields.get("material")
    reason = problem.reason

    def substitute_row(sku: Any, line: Any = None) -> int | None:
        return next(
            (r for k, r in rows.items() if k[0] == "substitute" and k[2] == sku and line in (None, k[1])),
            None,
        )

    if reason == "bom_cycle":
        path = str(fields.get("path", "")).split(" → ")
        step = path[1] if len(path) > 1 else path[0]
        if ("material", step) in rows:
            return rows[("material", step)], "material"
        found = substitute_row(step)
        if found is not None:
            return found, "substitute"
    elif problem.column == "lines" and ("material", material) in rows:
        column = "unit" if reason == "bom_material_unit" and "unit" in headers else "material"
        return rows[("material", material)], column
    elif problem.column == "substitutes":
        found = substitute_row(material, material if reason == "bom_substitute_of_itself" else None)
        if found is not None:
            column = (
                "valid_to" if reason == "bom_substitute_dates" and "valid_to" in headers else "substitute"
            )
            return found, column
    column = {"lines": "material", "substitutes": "substitute"}.get(problem.column, problem.column)
    return origin.row, column


def _follows_from_rows(prepared: PreparedImport, problem: Problem) -> bool:
    """A catalogue problem that only follows from a row's own (a SKU naming a supplier whose row
    failed, an alias of a SKU whose row failed): the row's problem says it."""
    fields = problem.message.fields
    if problem.reason == "unknown_supplier":
        return fields.get("supplier") in prepared.codes.get("suppliers", ())
    if problem.reason == "unknown_sku_alias":
        return fields.get("target") in prepared.codes.get("skus", ())
    if problem.reason == "unknown_location_alias":
        return fields.get("target") in prepared.codes.get("locations", ())
    if problem.reason == "recipe_unknown_product":
        return fields.get("product") in prepared.codes.get("skus", ())
    if problem.reason == "recipe_unknown_component":
        return fields.get("component") in prepared.codes.get("skus", ())
    if problem.reason == "recipe_unknown_store":
        return fields.get("store") in prepared.codes.get("locations", ())
    if problem.reason == "bom_unknown_product":
        return fields.get("product") in prepared.codes.get("skus", ())
    if problem.reason == "bom_unknown_material":
        return fields.get("material") in prepared.codes.get("skus", ())
    return False


# ---------------------------------------------------------------------- export
@dataclass(frozen=True)
class ExportTable:
    """One entity's records as a table: what `prepare_import` reads back into the same records."""

    entity: str
    sheet: str
    columns: list[str]
    rows: list[list[Any]]


def export_tables(catalog: Catalog, chinese: bool = False) -> list[ExportTable]:
    """Every entity of `catalog` as a table, in `ENTITY_ORDER`: cells as the import reads them
    (yes/no, packs as `case=12;pallet=480`, enums by value, amounts as `Decimal`, empty for
    none). `chinese`: the headers and sheet names in Chinese (the first title of each)."""
    records: dict[str, Iterable[BaseModel]] = {
        "suppliers": catalog.suppliers.values(),
        "locations": catalog.locations.values(),
        "customers": catalog.customers.values(),
        "skus": catalog.skus.values(),
        "aliases": sorted(catalog.aliases.values(), key=lambda a: a.key),
        "rates": sorted(catalog.rates.values(), key=lambda r: r.key),
        "recipes": [row for _, recipe in sorted(catalog.recipes.items()) for row in recipe_rows(recipe)],
        "boms": [row for _, bom in sorted(catalog.boms.items()) for row in bom_rows(bom)],
    }
    out = []
    for name in ENTITY_ORDER:
        entity = ENTITIES[name]
        columns = [c for c in entity.columns if c.stored]
        headers = [c.titles[0] if chinese and c.titles else c.name for c in columns]
        sheet = next((n for n in entity.names if not n.isascii()), name) if chinese else name
        rows = [[_cell(c.kind, getattr(record, c.name)) for c in columns] for record in records[name]]
        out.append(ExportTable(name, sheet, headers, rows))
    return out


def _cell(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "packs":
        return format_packs(value) or None
    if kind == "licences":
        return format_licences(value) or None
    if isinstance(value, StrEnum):
        return value.value
    return value
