"""Voucher import workbooks on disk: a `stockflow.voucher_layouts.VoucherWorkbook` written as
.xlsx (openpyxl, write-only), a sheet per `Sheet`, the header in row 1.

Text stays text (account and customer codes keep their leading zeros, a summary that starts with
``=`` is never a formula); amounts are numbers shown with two decimals, written from their
`Decimal`; whole numbers (periods, voucher and line numbers) are numbers.

Who exported the file and when (`stockflow.watermarks`) is in its document properties and in
each sheet's page header and footer, printed on every page; never in a row, which the
accounting package would read as a voucher line."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockflow.voucher_layouts import Cell, VoucherWorkbook
from stockflow.watermarks import Watermark
from stores.spreadsheets import export_watermark, mark_workbook, watermark_line

MONEY_FORMAT = "0.00"


def workbook_bytes(book: VoucherWorkbook, watermark: Watermark | None = None) -> bytes:
    """The workbook, watermarked (unset: taken now by the person running this process)."""
    from openpyxl import Workbook

    watermark = watermark or export_watermark()
    workbook = Workbook(write_only=True)
    sheets = []
    for sheet in book.sheets:
        out = workbook.create_sheet(sheet.name)
        out.append(list(sheet.columns))
        money = [column in sheet.money for column in sheet.columns]
        for row in sheet.rows:
            out.append([_cell(out, value, is_money) for value, is_money in zip(row, money, strict=True)])
        out.oddHeader.right.text = watermark_line(watermark).replace("&", "&&")
        sheets.append(out)
    mark_workbook(workbook, sheets, watermark)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def write_workbook(book: VoucherWorkbook, path: Path, watermark: Watermark | None = None) -> Path:
    """Write `book` to `path` whole (a temporary file renamed over it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(workbook_bytes(book, watermark))
    tmp.replace(path)
    return path


def _cell(sheet: Any, value: Cell, is_money: bool) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, Decimal) and is_money:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = MONEY_FORMAT
        return cell
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # text, even where it reads like a formula or a number
        return cell
    return value
