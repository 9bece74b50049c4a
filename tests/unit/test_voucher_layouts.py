"""A period's vouchers as the import workbooks of 用友 U8 (`yonyou`) and 金蝶 K/3 (`kingdee`).

Vouchers come from the real rules (a purchase receipt, a B2B sales issue) plus the red-letter
reversal of the issue, are exported through the books' use case (`BooksService.export_period`)
and written as .xlsx; the file is read back with openpyxl. The oracles do not use the layouts'
code: the headers are the products' documented column lists typed out here, and every check
compares the file's cells with the vouchers themselves (their totals, lines, accounts, customer
and supplier)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal as D

import openpyxl
import pytest
from typer.testing import CliRunner

from stockflow.config import get_settings
from stockflow.events import SalesIssue
from stockflow.i18n import Language, explain, translator
from stockflow.services.books import EXPORT_FORMATS, BooksService
from stockflow.voucher_layouts import LayoutLine, LayoutRefused, voucher_workbook
from stockflow.vouchers import NumberedVoucher, VoucherKind, number_vouchers, reverse_voucher
from stores.voucher_workbooks import write_workbook
from tests.unit.conftest import at, receipt
from tests.unit.test_vouchers import Books

#: 用友 U8 总账 凭证导入模板: the 73 columns, in order.
U8_HEADER = """
会计期间 凭证类别字 凭证类别排序号 凭证编号 行号 制单日期 附单据数 制单人 审核人 记账人 记账标志 出纳人
凭证标志 凭证头自定义项1 凭证头自定义项2 摘要 科目编码 币种 借方金额 贷方金额 外币借方金额 外币贷方金额
汇率 数量借方 数量贷方 结算方式编码 票号 票号发生日期 部门编码 职员编码 客户编码 供应商编码 项目编码
项目大类编码 业务员 对方科目编码 银行帐两清标志 往来帐两清标志 是否核销 外部凭证帐套号 外部凭证会计年度
外部凭证系统名称 外部凭证系统版本号 外部凭证制单日期 外部凭证会计期间 外部凭证业务类型 外部凭证业务号 日期
标志 外部凭证单据号 凭证是否可修改 凭证分录是否可增删 凭证合计金额是否保值 分录数值是否可修改
分录科目是否可修改 分录受控科目可用状态 分录往来项是否可修改 分录部门是否可修改 分录项目是否可修改
分录往来项是否必输 自定义字段1 自定义字段2 自定义字段3 自定义字段4 自定义字段5 自定义字段6 自定义字段7
自定义字段8 自定义字段9 自定义字段10 现金项目编号 现金借方 现金贷方
""".split()
#: 金蝶 K/3 WISE 标准凭证引出 / 引入, sheet Page1: the 37 columns, in order.
K3_HEADER = """
凭证日期 会计年度 会计期间 凭证字 凭证号 科目代码 科目名称 币别代码 币别名称 原币金额 借方 贷方 制单 审核
核准 出纳 经办 结算方式 结算号 凭证摘要 数量 数量单位 单价 参考信息 业务日期 往来业务编号 附件数 序号
系统模块 业务描述 汇率类型 汇率 分录序号 核算项目 过账 机制凭证 现金流量
""".split()
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class ExportedBooks:
    """The books' store port over numbered vouchers: `export_rows` as the DuckDB store answers
    (one row per line, by set of books, voucher number and line)."""

    def __init__(self, numbered: list[NumberedVoucher]) -> None:
        self.numbered = numbered

    def export_rows(self, period, accounting_unit=None):
        rows = [
            {
                "date": n.voucher.voucher_date,
                "voucher_no": n.voucher_no,
                "accounting_unit": n.voucher.accounting_unit,
                "line_no": i,
                "summary": line.summary,
                "account_code": line.account_code,
                "account_name": line.account_name,
                "debit": line.debit,
                "credit": line.credit,
                "location": line.location,
                "sku": line.sku,
                "batch": line.batch,
                "supplier": line.supplier,
                "customer": line.customer,
                "counterpart_unit": line.counterpart_unit,
                "kind": str(n.voucher.kind),
                "reverses": n.voucher.reverses,
                "note": n.voucher.note,
                "voucher_id": n.voucher.voucher_id,
                "source_event_id": n.voucher.source_event_id,
            }
            for n in self.numbered
            if n.voucher.period == period and accounting_unit in (None, n.voucher.accounting_unit)
            for i, line in enumerate(n.voucher.lines, start=1)
        ]
        return sorted(rows, key=lambda r: (r["accounting_unit"], r["voucher_no"], r["line_no"]))


@pytest.fixture
def posted(catalog):
    """A receipt from SUP1, a B2B issue to C1 and the issue's reversal, numbered in March."""
    milk = catalog.skus["MILK-1L"].model_copy(update={"wholesale_price": D("3.10"), "vat_rate": D("0.09")})
    catalog = catalog.model_copy(update={"skus": {**catalog.skus, "MILK-1L": milk}})
    books = Books(catalog)
    (bought,) = books.post(receipt(qty="24", unit="each", unit_cost=D("2.00")))
    issue = SalesIssue(
        event_id="i1",
        occurred_at=at(3),
        source="wms",
        location="WH1",
        sales_order="SO1",
        customer="C1",
        sku="MILK-1L",
        qty=D(10),
    )
    (sold,) = books.post(issue)
    undone = reverse_voucher(sold, date(2026, 3, 20), "keyed twice")
    numbered = number_vouchers([(v, None) for v in (bought, sold, undone)], {}, set())
    service = BooksService(ExportedBooks(numbered), audit=None, rules=books.rules)
    return service, {n.voucher_no: n.voucher for n in numbered}


def read_back(path, sheet=None):
    """The file's rows as dicts by header, and the header."""
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list((book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True))
    book.close()
    header = list(rows[0])
    padded = [(*row, *(None,) * (len(header) - len(row))) for row in rows[1:]]  # empty cells at the end
    return header, [dict(zip(header, row, strict=True)) for row in padded]


def money(value) -> D:
    """An amount as Excel holds it, to the fen."""
    return D(str(value or 0)).quantize(D("0.01"))


def exported(posted, tmp_path, fmt):
    service, vouchers = posted
    book = service.export_period("2026-03", fmt, preparer="李会计")
    path = write_workbook(book, tmp_path / f"{fmt}.xlsx")
    return path, vouchers


@pytest.mark.parametrize(
    ("fmt", "header", "number", "debit", "credit", "code"),
    [
        ("yonyou", U8_HEADER, "凭证编号", "借方金额", "贷方金额", "科目编码"),
        ("kingdee", K3_HEADER, "凭证号", "借方", "贷方", "科目代码"),
    ],
)
def test_each_voucher_is_in_the_file_balanced_with_its_own_lines(
    posted, tmp_path, fmt, header, number, debit, credit, code
):
    path, vouchers = exported(posted, tmp_path, fmt)
    got_header, rows = read_back(path)
    assert got_header == header
    by_number = defaultdict(list)
    for row in rows:
        by_number[row[number]].append(row)
    assert sorted(by_number) == [1, 2, 3]
    for voucher_no, voucher in vouchers.items():
        mine = by_number[int(voucher_no.removeprefix("记-"))]
        # double entry in the file, and the same totals as the books
        assert sum(money(r[debit]) for r in mine) == sum(money(r[credit]) for r in mine)
        assert sum(money(r[debit]) for r in mine) == voucher.total_debit != 0
        # the voucher's lines, in order, with their accounts
        assert [(r[code], money(r[debit]), money(r[credit])) for r in mine] == [
            (line.account_code, line.debit, line.credit) for line in voucher.lines
        ]
        for r in mine:
            word = r["凭证类别字"] if fmt == "yonyou" else r["凭证字"]
            day = r["制单日期"] if fmt == "yonyou" else r["凭证日期"]
            assert word == "记" and day == voucher.voucher_date.isoformat() and ISO_DAY.fullmatch(day)
            assert (r["制单人"] if fmt == "yonyou" else r["制单"]) == "李会计"
        if voucher.kind is VoucherKind.REVERSAL:  # red letter: negative, on the side it reverses
            assert all(money(r[debit]) <= 0 and money(r[credit]) <= 0 for r in mine)
            assert any(money(r[debit]) < 0 for r in mine) and any(money(r[credit]) < 0 for r in mine)


def test_u8_lines_carry_the_customer_and_supplier_codes_and_their_row_numbers(posted, tmp_path):
    path, vouchers = exported(posted, tmp_path, "yonyou")
    _, rows = read_back(path)
    for voucher_no, voucher in vouchers.items():
        mine = [r for r in rows if r["凭证编号"] == int(voucher_no.removeprefix("记-"))]
        assert [r["行号"] for r in mine] == list(range(1, len(voucher.lines) + 1))
        assert all(r["会计期间"] == 3 for r in mine)
        assert [(r["客户编码"] or "", r["供应商编码"] or "") for r in mine] == [
            (line.customer, line.supplier) for line in voucher.lines
        ]
    assert {r["供应商编码"] for r in rows} >= {"SUP1"} and {r["客户编码"] for r in rows} >= {"C1"}


def test_k3_lines_carry_names_currency_and_auxiliary_items(posted, tmp_path):
    path, vouchers = exported(posted, tmp_path, "kingdee")
    _, rows = read_back(path, "Page1")
    names = {"C1": "Canteen", "SUP1": "Dairy Co"}  # the catalogue's customer and supplier
    for voucher_no, voucher in vouchers.items():
        mine = [r for r in rows if r["凭证号"] == int(voucher_no.removeprefix("记-"))]
        assert [(r["科目代码"], r["科目名称"]) for r in mine] == [
            (line.account_code, line.account_name) for line in voucher.lines
        ]
        assert all(r["科目名称"] for r in mine)
        assert [r["分录序号"] for r in mine] == list(range(len(voucher.lines)))
        for r, line in zip(mine, voucher.lines, strict=True):
            assert (r["会计年度"], r["会计期间"], r["币别代码"], r["币别名称"]) == (2026, 3, "RMB", "人民币")
            assert money(r["原币金额"]) == line.debit + line.credit  # one side is 0.00
            expected = [
                f"{kind}---{code}---{names[code]}"
                for kind, code in (("客户", line.customer), ("供应商", line.supplier))
                if code
            ]
            assert (r["核算项目"] or "") == ",".join(expected)
            assert r["参考信息"] == voucher.voucher_id
    assert any("供应商---SUP1---Dairy Co" == r["核算项目"] for r in rows)
    assert any("客户---C1---Canteen" == r["核算项目"] for r in rows)
    # the schema sheet K/3 reads the columns by: one field per column of Page1, in order
    _, schema = read_back(path, "t_Schema")
    assert [r["FCaption"] for r in schema if r["FType"] == "FieldInfo"] == K3_HEADER


def test_amounts_are_decimals_to_the_fen_and_never_floats(posted):
    service, _ = posted
    for fmt in ("yonyou", "kingdee"):
        sheet = service.export_period("2026-03", fmt).vouchers
        amounts = [
            value
            for row in sheet.rows
            for column, value in zip(sheet.columns, row, strict=True)
            if column in sheet.money
        ]
        assert amounts and all(isinstance(a, D) and a == a.quantize(D("0.01")) for a in amounts)
        assert not any(isinstance(v, float) for row in sheet.rows for v in row)
    line = {
        "accounting_unit": "main", "voucher_id": "V1", "voucher_no": "记-000001", "date": date(2026, 3, 2),
        "line_no": 1, "summary": "", "account_code": "1001", "account_name": "库存现金", "debit": 1.5,
        "credit": D("0.00"), "supplier": "", "customer": "",
    }  # fmt: skip
    with pytest.raises(TypeError, match="Decimal"):
        LayoutLine.from_row(line)


def test_a_file_holds_one_set_of_books():
    def line(unit):
        return LayoutLine(
            unit, f"V:{unit}", "记-000001", date(2026, 3, 2), 1, "", "1001", "库存现金", D(1), D(0)
        )

    assert "yonyou" in EXPORT_FORMATS and "kingdee" in EXPORT_FORMATS
    with pytest.raises(LayoutRefused) as refused:
        voucher_workbook("kingdee", [line("RETAIL"), line("DIST")])
    assert "DIST, RETAIL" in str(refused.value)
    assert "DIST, RETAIL" in explain(refused.value, translator(Language.ZH_CN))
    assert "一套账" in explain(refused.value, translator(Language.ZH_CN))


def test_the_cli_writes_the_workbook_to_the_file_it_is_given(posted, tmp_path, monkeypatch):
    from cli import books as books_cli
    from cli.main import app

    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    monkeypatch.setattr(books_cli, "_books", lambda: posted[0])
    try:
        runner = CliRunner()
        target = tmp_path / "k3.xlsx"
        done = runner.invoke(
            app,
            [
                "vouchers",
                "export",
                "2026-03",
                "--format",
                "kingdee",
                "--out",
                str(target),
                "--preparer",
                "王",
            ],
        )
        assert done.exit_code == 0, done.output
        header, rows = read_back(target, "Page1")
        assert (
            header == K3_HEADER
            and {r["制单"] for r in rows} == {"王"}
            and len(rows) == sum(len(v.lines) for v in posted[1].values())
        )
        refused = runner.invoke(app, ["vouchers", "export", "2026-03", "--format", "yonyou"])
        assert refused.exit_code == 2 and "--out" in refused.output
    finally:
        get_settings.cache_clear()


def test_the_cli_csv_export_ends_with_who_took_it_and_when(posted, tmp_path, monkeypatch):
    import csv

    from cli import books as books_cli
    from cli.main import app
    from stockflow.watermarks import is_watermark_row

    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    for name in ("LOGNAME", "USER"):  # who the operating system says runs the command
        monkeypatch.setenv(name, "zhao.min")
    get_settings.cache_clear()
    monkeypatch.setattr(books_cli, "_books", lambda: posted[0])
    try:
        target = tmp_path / "journal.csv"
        done = CliRunner().invoke(app, ["vouchers", "export", "2026-03", "--out", str(target)])
        assert done.exit_code == 0, done.output
        rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
        *body, last = rows
        assert is_watermark_row(last) and not any(is_watermark_row(r) for r in body)
        assert "zhao.min" in last[0] and f"{datetime.now(get_settings().tz):%Y-}" in last[0]
        assert len(body) - 1 == sum(len(v.lines) for v in posted[1].values())  # the lines, unchanged
    finally:
        get_settings.cache_clear()
