"""Voucher import layouts of Chinese accounting software: a period's vouchers laid out as the
workbook that 用友 U8 (`yonyou`) or 金蝶 K/3 WISE (`kingdee`) imports.

One rule for both, here and nowhere else:

- one set of books (账套) per file: a layout refuses lines of several accounting units
  (`LayoutRefused`), since each product imports into one set of books;
- 凭证字 记 and the voucher's own number in its period (记-000042 → 42), so the numbers in the
  file are those in the books;
- dates ``YYYY-MM-DD``; money `Decimal` to the fen (never a float), both sides written, the
  side without an amount as 0.00;
- red-letter reversals (红字冲销) stay on the side they reverse, with negative amounts;
- the customer and supplier a line carries go to the product's auxiliary accounting columns.

`yonyou` is the 73-column 凭证导入模板 of U8's general ledger (总账 → 凭证 → 凭证导入), one sheet;
`kingdee` is K/3 WISE's 标准凭证引入 workbook: the 37 columns of its 标准凭证引出 on sheet
``Page1`` and the ``t_Schema`` sheet that describes them. Pure Python: the cells come back as
`Sheet`s, which an adapter writes as .xlsx (`stores.voucher_workbooks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from stockflow.i18n import Explained
from stockflow.masterdata import Catalog
from stockflow.money import to_money
from stockflow.vouchers import VOUCHER_NUMBER_PREFIX, NumberedVoucher, period_of, voucher_sequence

#: A cell: text, a whole number, an amount, or nothing.
Cell = str | int | Decimal | None
#: 凭证字 of every exported voucher: 记 (记账凭证), the word of the books' own numbers.
VOUCHER_WORD = VOUCHER_NUMBER_PREFIX.removesuffix("-")


class LayoutRefused(Explained, ValueError):
    """Lines a layout cannot lay out (the message, in any language, says why)."""


# ---------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class LayoutLine:
    """One voucher line as the layouts read it."""

    accounting_unit: str
    voucher_id: str
    voucher_no: str
    voucher_date: date
    line_no: int
    summary: str
    account_code: str
    account_name: str
    debit: Decimal
    credit: Decimal
    supplier: str = ""
    customer: str = ""

    def __post_init__(self) -> None:
        for amount in (self.debit, self.credit):
            if not isinstance(amount, Decimal):
                raise TypeError(
                    f"voucher {self.voucher_id}: amounts are Decimal, not {type(amount).__name__}"
                )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LayoutLine:
        """A line of a books export (`stockflow.services.books.BooksStore.export_rows`)."""
        return cls(
            accounting_unit=row["accounting_unit"],
            voucher_id=row["voucher_id"],
            voucher_no=row["voucher_no"],
            voucher_date=row["date"],
            line_no=int(row["line_no"]),
            summary=row["summary"] or "",
            account_code=row["account_code"],
            account_name=row["account_name"] or "",
            debit=row["debit"],
            credit=row["credit"],
            supplier=row["supplier"] or "",
            customer=row["customer"] or "",
        )

    @property
    def sequence(self) -> int:
        """The voucher's number in its period (记-000042 → 42)."""
        return voucher_sequence(self.voucher_no)

    @property
    def amount(self) -> Decimal:
        """The line's amount on its side (negative on a reversal)."""
        return self.debit if self.debit else self.credit


def layout_lines(vouchers: Iterable[NumberedVoucher]) -> list[LayoutLine]:
    """The lines of numbered vouchers, numbered 1..n within each voucher (as the books number them)."""
    return [
        LayoutLine(
            accounting_unit=n.voucher.accounting_unit,
            voucher_id=n.voucher.voucher_id,
            voucher_no=n.voucher_no,
            voucher_date=n.voucher.voucher_date,
            line_no=i,
            summary=line.summary,
            account_code=line.account_code,
            account_name=line.account_name,
            debit=line.debit,
            credit=line.credit,
            supplier=line.supplier,
            customer=line.customer,
        )
        for n in vouchers
        for i, line in enumerate(n.voucher.lines, start=1)
    ]


@dataclass(frozen=True, slots=True)
class Parties:
    """Names of customers and suppliers by code (K/3 writes a 核算项目 as class, code and name)."""

    customers: Mapping[str, str] = field(default_factory=dict)
    suppliers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, catalog: Catalog) -> Parties:
        return cls(
            {code: c.name for code, c in catalog.customers.items()},
            {code: s.name for code, s in catalog.suppliers.items()},
        )


@dataclass(frozen=True, slots=True)
class Sheet:
    """One worksheet: a header row and rows of cells in its order; `money` names the columns
    that hold amounts (shown with two decimals)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    money: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class VoucherWorkbook:
    """A layout's workbook, sheets in order (the first is the one with the vouchers)."""

    layout: str
    sheets: tuple[Sheet, ...]

    @property
    def vouchers(self) -> Sheet:
        return self.sheets[0]


@dataclass(frozen=True, slots=True)
class _Entry:
    """A line with what every layout derives from its place in the file."""

    line: LayoutLine
    index: int  # its position in its voucher, from 0
    preparer: str
    parties: Parties


@dataclass(frozen=True)
class VoucherLayout:
    """A product's import layout: its sheet, its columns in order, and one line's cells."""

    name: str
    product: str
    sheet: str
    columns: tuple[str, ...]
    money: frozenset[str]
    cells: Callable[[_Entry], Mapping[str, Cell]]
    extra_sheets: tuple[Sheet, ...] = ()

    def row(self, entry: _Entry) -> tuple[Cell, ...]:
        cells = self.cells(entry)
        unknown = set(cells) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.name}: no such columns {sorted(unknown)}")
        return tuple(cells.get(column) for column in self.columns)


# ---------------------------------------------------------------------------- 用友 U8
#: The columns of U8's 凭证导入模板, in order (73).
YONYOU_COLUMNS = (
    "会计期间", "凭证类别字", "凭证类别排序号", "凭证编号", "行号", "制单日期", "附单据数", "制单人",
    "审核人", "记账人", "记账标志", "出纳人", "凭证标志", "凭证头自定义项1", "凭证头自定义项2", "摘要",
    "科目编码", "币种", "借方金额", "贷方金额", "外币借方金额", "外币贷方金额", "汇率", "数量借方",
    "数量贷方", "结算方式编码", "票号", "票号发生日期", "部门编码", "职员编码", "客户编码", "供应商编码",
    "项目编码", "项目大类编码", "业务员", "对方科目编码", "银行帐两清标志", "往来帐两清标志", "是否核销",
    "外部凭证帐套号", "外部凭证会计年度", "外部凭证系统名称", "外部凭证系统版本号", "外部凭证制单日期",
    "外部凭证会计期间", "外部凭证业务类型", "外部凭证业务号", "日期", "标志", "外部凭证单据号",
    "凭证是否可修改", "凭证分录是否可增删", "凭证合计金额是否保值", "分录数值是否可修改",
    "分录科目是否可修改", "分录受控科目可用状态", "分录往来项是否可修改", "分录部门是否可修改",
    "分录项目是否可修改", "分录往来项是否必输", "自定义字段1", "自定义字段2", "自定义字段3", "自定义字段4",
    "自定义字段5", "自定义字段6", "自定义字段7", "自定义字段8", "自定义字段9", "自定义字段10",
    "现金项目编号", "现金借方", "现金贷方",
)  # fmt: skip
#: Flags written as 0: neither the voucher nor its lines are edited in U8 (a correction is a
#: reversal in the books, exported like any voucher), nothing is cleared or written off.
_YONYOU_ZERO_FLAGS = (
    "银行帐两清标志", "往来帐两清标志", "是否核销", "凭证是否可修改", "凭证分录是否可增删",
    "凭证合计金额是否保值", "分录数值是否可修改", "分录科目是否可修改", "分录受控科目可用状态",
    "分录往来项是否可修改", "分录部门是否可修改", "分录项目是否可修改", "分录往来项是否必输",
)  # fmt: skip


def _yonyou_cells(entry: _Entry) -> dict[str, Cell]:
    line = entry.line
    return {
        "会计期间": line.voucher_date.month,
        "凭证类别字": VOUCHER_WORD,
        "凭证类别排序号": 1,
        "凭证编号": line.sequence,
        "行号": entry.index + 1,
        "制单日期": line.voucher_date.isoformat(),
        "附单据数": 0,
        "制单人": entry.preparer,
        "摘要": line.summary,
        "科目编码": line.account_code,
        "借方金额": to_money(line.debit),
        "贷方金额": to_money(line.credit),
        "客户编码": line.customer or None,
        "供应商编码": line.supplier or None,
        **dict.fromkeys(_YONYOU_ZERO_FLAGS, 0),
    }


YONYOU = VoucherLayout(
    name="yonyou",
    product="用友 U8 凭证导入模板",
    sheet="Sheet1",
    columns=YONYOU_COLUMNS,
    money=frozenset({"借方金额", "贷方金额"}),
    cells=_yonyou_cells,
)


# ---------------------------------------------------------------------------- 金蝶 K/3
#: K/3's fields of a voucher line: (field, column title, value type, column index in its
#: t_Schema), in the order of the columns of sheet Page1 (37).
KINGDEE_FIELDS: tuple[tuple[str, str, str, int], ...] = (
    ("FDate", "凭证日期", "DateTime", 1),
    ("FYear", "会计年度", "Decimal(28,10)", 2),
    ("FPeriod", "会计期间", "Decimal(28,10)", 3),
    ("FGroupID", "凭证字", "Varchar(80)", 4),
    ("FNumber", "凭证号", "Decimal(28,10)", 5),
    ("FAccountNum", "科目代码", "Varchar(40)", 7),
    ("FAccountName", "科目名称", "Varchar(255)", 8),
    ("FCurrencyNum", "币别代码", "Varchar(10)", 9),
    ("FCurrencyName", "币别名称", "Varchar(40)", 10),
    ("FAmountFor", "原币金额", "Decimal(28,10)", 11),
    ("FDebit", "借方", "Decimal(28,10)", 12),
    ("FCredit", "贷方", "Decimal(28,10)", 13),
    ("FPreparerID", "制单", "Varchar(255)", 14),
    ("FCheckerID", "审核", "Varchar(255)", 15),
    ("FApproveID", "核准", "Varchar(255)", 17),
    ("FCashierID", "出纳", "Varchar(255)", 18),
    ("FHandler", "经办", "Varchar(50)", 19),
    ("FSettleTypeID", "结算方式", "Varchar(80)", 20),
    ("FSettleNo", "结算号", "Varchar(255)", 21),
    ("FExplanation", "凭证摘要", "Varchar(255)", 22),
    ("FQuantity", "数量", "Decimal(28,10)", 23),
    ("FMeasureUnitID", "数量单位", "Varchar(255)", 24),
    ("FUnitPrice", "单价", "Decimal(28,10)", 25),
    ("FReference", "参考信息", "Varchar(255)", 26),
    ("FTransDate", "业务日期", "DateTime", 27),
    ("FTransNo", "往来业务编号", "Varchar(255)", 28),
    ("FAttachments", "附件数", "Decimal(28,10)", 29),
    ("FSerialNum", "序号", "Decimal(28,10)", 30),
    ("FObjectName", "系统模块", "Varchar(100)", 31),
    ("FParameter", "业务描述", "Varchar(100)", 32),
    ("FExchangeRateType", "汇率类型", "Varchar(80)", 33),
    ("FExchangeRate", "汇率", "Decimal(28,10)", 34),
    ("FEntryID", "分录序号", "Decimal(28,10)", 35),
    ("FItem", "核算项目", "Text", 36),
    ("FPosted", "过账", "Decimal(28,10)", 37),
    ("FInternalInd", "机制凭证", "Varchar(10)", 38),
    ("FCashFlow", "现金流量", "Text", 39),
)
KINGDEE_COLUMNS = tuple(title for _, title, _, _ in KINGDEE_FIELDS)
#: The books' currency as K/3 names it, and what K/3 writes where a voucher names no one.
KINGDEE_CURRENCY = ("RMB", "人民币")
KINGDEE_NOBODY = "NONE"
KINGDEE_NONE = "*"
#: An auxiliary accounting item (核算项目): class---code---name; several on a line, comma-separated.
KINGDEE_ITEM_SEPARATOR = "---"
_SCHEMA_COLUMNS = (
    "FType", "FKey", "FFieldName", "FCaption", "FValueType", "FNeedSave", "FColIndex", "FSrcTableName",
    "FSrcFieldName", "FExpFieldName", "FImpFieldName", "FDefaultVal", "FSearch", "FItemPageName",
    "FTrueType", "FPrecision", "FSearchName", "FIsShownList", "FViewMask", "FPage",
)  # fmt: skip


def _schema_row(*cells: Cell) -> tuple[Cell, ...]:
    return cells + ("",) * (len(_SCHEMA_COLUMNS) - len(cells))


def _field_row(key: str, title: str, value_type: str, index: int) -> tuple[Cell, ...]:
    """A field's row of t_Schema, as K/3's 标准凭证引出 writes it."""
    return (
        "FieldInfo", key, key, title, value_type, "", str(index), "", "", key, key, "", "0", "", "", "0",
        "0", "0", "0", "1",
    )  # fmt: skip


KINGDEE_SCHEMA = Sheet(
    "t_Schema",
    _SCHEMA_COLUMNS,
    (
        _schema_row("ClassInfo", "ClassType", "", "VoucherData"),
        _schema_row("ClassInfo", "ClassTypeID", "", "123"),
        _schema_row("PageInfo", "Page1", "", "Page1"),
        *(_field_row(*f) for f in KINGDEE_FIELDS),
    ),
)


def kingdee_items(line: LayoutLine, parties: Parties) -> str:
    """The line's 核算项目: 客户---C1---name and 供应商---S1---name (comma-separated)."""
    items = [
        KINGDEE_ITEM_SEPARATOR.join((kind, code, names.get(code) or code))
        for kind, code, names in (
            ("客户", line.customer, parties.customers),
            ("供应商", line.supplier, parties.suppliers),
        )
        if code
    ]
    return ",".join(items)


def _kingdee_cells(entry: _Entry) -> dict[str, Cell]:
    line = entry.line
    day = line.voucher_date.isoformat()
    return {
        "凭证日期": day,
        "会计年度": line.voucher_date.year,
        "会计期间": line.voucher_date.month,
        "凭证字": VOUCHER_WORD,
        "凭证号": line.sequence,
        "科目代码": line.account_code,
        "科目名称": line.account_name,
        "币别代码": KINGDEE_CURRENCY[0],
        "币别名称": KINGDEE_CURRENCY[1],
        "原币金额": to_money(line.amount),
        "借方": to_money(line.debit),
        "贷方": to_money(line.credit),
        "制单": entry.preparer,
        "审核": KINGDEE_NOBODY,
        "核准": KINGDEE_NOBODY,
        "出纳": KINGDEE_NOBODY,
        "结算方式": KINGDEE_NONE,
        "凭证摘要": line.summary,
        "数量": 0,
        "数量单位": KINGDEE_NONE,
        "单价": 0,
        "参考信息": line.voucher_id,
        "业务日期": day,
        "附件数": 0,
        "序号": line.sequence,
        "汇率类型": "公司汇率",
        "汇率": 1,
        "分录序号": entry.index,
        "核算项目": kingdee_items(line, entry.parties) or None,
        "过账": 0,
    }


KINGDEE = VoucherLayout(
    name="kingdee",
    product="金蝶 K/3 WISE 标准凭证引入",
    sheet="Page1",
    columns=KINGDEE_COLUMNS,
    money=frozenset({"原币金额", "借方", "贷方"}),
    cells=_kingdee_cells,
    extra_sheets=(KINGDEE_SCHEMA,),
)

#: The layouts by name (what `stockflow vouchers export --format` takes).
LAYOUTS: dict[str, VoucherLayout] = {layout.name: layout for layout in (YONYOU, KINGDEE)}


# ---------------------------------------------------------------------------- laying out
def voucher_workbook(
    layout: str | VoucherLayout,
    lines: Iterable[LayoutLine],
    preparer: str = "",
    parties: Parties | None = None,
) -> VoucherWorkbook:
    """`lines` (of one set of books) in `layout`: vouchers by period and number, their lines in
    order, `preparer` as 制单人 / 制单 (a user name the product knows)."""
    chosen = LAYOUTS[layout] if isinstance(layout, str) else layout
    ordered = sorted(lines, key=lambda line: (period_of(line.voucher_date), line.sequence, line.line_no))
    units = sorted({line.accounting_unit for line in ordered})
    if len(units) > 1:
        raise LayoutRefused("refusal.voucher_layout_one_unit", layout=chosen.name, units=", ".join(units))
    rows = [
        chosen.row(_Entry(line, index, preparer, parties or Parties()))
        for line, index in zip(ordered, _positions(ordered), strict=True)
    ]
    sheet = Sheet(chosen.sheet, chosen.columns, tuple(rows), chosen.money)
    return VoucherWorkbook(chosen.name, (sheet, *chosen.extra_sheets))


def _positions(lines: Sequence[LayoutLine]) -> list[int]:
    """Each line's position in its voucher (from 0), the lines in file order."""
    positions: list[int] = []
    previous: tuple[str, str] | None = None
    for line in lines:
        key = (period_of(line.voucher_date), line.voucher_no)
        positions.append(positions[-1] + 1 if key == previous else 0)
        previous = key
    return positions
