"""Spreadsheet files for master data: reading CSV and Excel into tables, writing exports.

Reading (`read_spreadsheet`, bytes and a file name, as the dashboard's upload gives them;
`read_spreadsheet_files` for paths): CSV as UTF-8 (with or without BOM), else GB18030 (which
covers GBK and GB2312, the encodings a Chinese Excel saves), UTF-16 when it says so by its BOM;
commas, tabs or semicolons between cells (what the header line uses most). Workbooks (.xlsx,
.xlsm, .xlsb, .xls, .ods) through python-calamine: every sheet, merged ranges, formulas as their
last computed value. The file's kind comes from its first bytes, then its name. A file that
cannot be read is one table saying why; nothing here raises on a file's content.

Writing (`write_csv_files`, `write_workbook`, and their `*_bytes` for a download): a CSV file
per entity in UTF-8 with a BOM (Excel opens it as UTF-8), or one .xlsx with a sheet per entity
(openpyxl, write-only). What is written reads back as the same records
(`stockflow.masterdata_import.export_tables`).

Every export is watermarked with who took it and when (`stockflow.watermarks`): a CSV file's
last row, a workbook's last row on each sheet, its page footer and its document properties
(author, description). Reading skips a watermark row wherever it is, so an export imports
unchanged."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockflow.config import get_settings
from stockflow.i18n import Message, translator
from stockflow.masterdata import Catalog
from stockflow.masterdata_import import ImportProblem, SheetTable, export_tables
from stockflow.watermarks import Watermark, is_watermark_row

#: A file larger than this is not read (a workbook is unpacked whole into memory).
MAX_FILE_BYTES = 256 * 1024 * 1024
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls
#: Whole numbers and decimals Excel keeps exactly as numbers; longer ones are written as text.
_EXCEL_DIGITS = 15


def _unreadable(file: str, sha: str, reason: str, **fields: Any) -> SheetTable:
    return SheetTable(
        file=file, sha256=sha, unreadable=Message(f"masterdata.import.{reason}", file=file, **fields)
    )


def read_spreadsheet(data: bytes, file_name: str, entity: str | None = None) -> list[SheetTable]:
    """The tables of one file: a CSV file's one, or each sheet of a workbook. `file_name` is
    the name problems give (and what the file's entity is guessed from); `entity` what a file
    whose name says nothing holds."""
    name = file_name
    sha = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_FILE_BYTES:
        return [_unreadable(name, sha, "file_too_large", limit=f"{MAX_FILE_BYTES // 2**20} MiB")]
    suffix = Path(name).suffix.lower()
    if data.startswith(_ZIP) or data.startswith(_OLE):
        return _read_workbook(data, name, sha, entity)
    if suffix in WORKBOOK_SUFFIXES:
        return [_unreadable(name, sha, "unreadable_file", detail="not an Excel workbook")]
    return [_read_csv(data, name, sha, entity)]


def read_spreadsheet_files(paths: Iterable[Path], entity: str | None = None) -> list[SheetTable]:
    """`read_spreadsheet` for files on disk (one that cannot be opened is a table saying why),
    each named by its file name, or by its path where two have the same name."""
    paths = [Path(p) for p in paths]
    names = [p.name for p in paths]
    tables: list[SheetTable] = []
    for path in paths:
        name = path.name if names.count(path.name) == 1 else str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            tables.append(_unreadable(name, "", "unreadable_file", detail=exc.strerror or type(exc).__name__))
            continue
        tables += read_spreadsheet(data, name, entity)
    return tables


# ---------------------------------------------------------------------- CSV
def decode_text(data: bytes) -> tuple[str, str] | None:
    """The text of a CSV file and the encoding it was in, or None when it is none we know."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            return None  # a binary file
        return text, encoding
    return None


def _delimiter(text: str) -> str:
    first = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(data: bytes, name: str, sha: str, entity: str | None) -> SheetTable:
    decoded = decode_text(data)
    if decoded is None:
        return _unreadable(name, sha, "unknown_encoding")
    text, _ = decoded
    delimiter = _delimiter(text)
    table = SheetTable(file=name, sha256=sha, entity=entity)
    table.rows = _Rows(table, lambda: csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return table


class _Rows:
    """A table's rows, read afresh each time they are iterated (a dry run, then the import),
    with their row numbers as a spreadsheet shows them (a quoted line break keeps a record on
    one row; a blank line is a row). Damage half-way ends the rows with a problem at the row
    that could not be read."""

    def __init__(
        self,
        table: SheetTable,
        read: Callable[[], Iterable[list[Any]]],
        errors: Mapping[int, Mapping[int, str]] | None = None,
    ) -> None:
        self.table = table
        self.read = read
        #: row → column (1-based, as the sheet counts) → the error value a formula shows
        self.errors = errors or {}

    def __iter__(self) -> Iterator[tuple[int, Sequence[Any]]]:
        table = self.table
        table.read_problems.clear()
        row = 0
        try:
            for row, cells in enumerate(self.read(), start=1):
                if is_watermark_row(cells):
                    continue
                if row in self.errors:
                    cells = list(cells)
                    for column, error in self.errors[row].items():
                        i = column - 1 - table.first_column
                        if 0 <= i < len(cells):
                            cells[i] = error
                yield row, cells
        except Exception as exc:  # csv.Error, or a workbook's damage: the file's problem
            table.read_problems.append(
                ImportProblem(
                    table.file,
                    row + 1,
                    "",
                    "unreadable_row",
                    Message("masterdata.import.unreadable_row", detail=_detail(exc)),
                    table.sheet,
                )
            )


# ---------------------------------------------------------------------- workbooks
def _read_workbook(data: bytes, name: str, sha: str, entity: str | None) -> list[SheetTable]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(workbook.sheet_names)
    except Exception as exc:  # any damage to the file is the file's problem
        return [_unreadable(name, sha, "unreadable_file", detail=_detail(exc))]
    errors = error_cells(data) if data.startswith(_ZIP) else {}
    tables = []
    for index, sheet_name in enumerate(names):
        try:
            sheet = workbook.get_sheet_by_name(sheet_name)
            merged = [
                (r0 + 1, c0 + 1, r1 + 1, c1 + 1) for (r0, c0), (r1, c1) in (sheet.merged_cell_ranges or [])
            ]
            first_column = sheet.start[1] if sheet.start else 0
        except Exception as exc:
            table = _unreadable(name, sha, "unreadable_sheet", sheet=sheet_name, detail=_detail(exc))
            table.sheet, table.sheet_index = sheet_name, index
            tables.append(table)
            continue
        table = SheetTable(
            file=name,
            sheet=sheet_name,
            sheet_index=index,
            sha256=sha,
            entity=entity if index == 0 else None,
            first_column=first_column,
            merged=merged,
        )
        table.rows = _Rows(table, sheet.iter_rows, errors.get(sheet_name))
        tables.append(table)
    if not tables:
        return [_unreadable(name, sha, "unreadable_file", detail="no sheet")]
    return tables


_SHEET = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>")
_RELATION = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(rb"\b([\w:]+)=\"([^\"]*)\"")
_ERROR_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*\bt=\"e\"[^>]*)>")
_CELL_REF = re.compile(rb"\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_CELL_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)<")
_CELL_END = re.compile(rb"</(?:\w+:)?c>")


def error_cells(data: bytes) -> dict[str, dict[int, dict[int, str]]]:
    """The cells of an .xlsx that show an Excel error (`#DIV/0!`, `#N/A`), by sheet name, row
    and column: python-calamine reads them as empty, and an empty cell would quietly become the
    field's default. Only sheets that have any are looked at twice."""
    import html
    import zipfile

    out: dict[str, dict[int, dict[int, str]]] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
                return out
            targets = {}
            for tag in _RELATION.findall(archive.read("xl/_rels/workbook.xml.rels")):
                attributes = dict(_ATTRIBUTE.findall(tag))
                target = attributes.get(b"Target", b"").decode("utf-8", "replace")
                targets[attributes.get(b"Id", b"")] = target.lstrip("/").removeprefix("xl/")
            for tag in _SHEET.findall(archive.read("xl/workbook.xml")):
                attributes = dict(_ATTRIBUTE.findall(tag))
                sheet = attributes.get(b"name", b"")
                path = "xl/" + targets.get(attributes.get(b"r:id", b""), "")
                if path not in names:
                    continue
                xml = archive.read(path)
                if b't="e"' not in xml:
                    continue
                cells: dict[int, dict[int, str]] = {}
                for match in _ERROR_CELL.finditer(xml):
                    ref = _CELL_REF.search(match[1])
                    if ref is None:
                        continue
                    letters, row = ref.groups()
                    end = _CELL_END.search(xml, match.end(), match.end() + 4096)
                    body = b"" if match[1].endswith(b"/") or end is None else xml[match.end() : end.start()]
                    found = _CELL_VALUE.search(body)
                    value = found[1] if found else b""
                    column = 0
                    for ch in letters.decode():
                        column = column * 26 + ord(ch) - 64
                    cells.setdefault(int(row), {})[column] = html.unescape(value.decode()) or "#N/A"
                out[html.unescape(sheet.decode("utf-8", "replace"))] = cells
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return out
    return out


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


# ---------------------------------------------------------------------- writing
def csv_bytes(
    rows: Sequence[Sequence[Any]], columns: Sequence[str], watermark: Watermark | None = None
) -> bytes:
    """A table as CSV in UTF-8 with a BOM, CRLF line ends (what Excel writes); the watermark,
    where given, as its last row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    if watermark is not None:
        writer.writerow([watermark_line(watermark)])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def export_watermark(actor: str | None = None) -> Watermark:
    """The watermark of an export taken now by `actor` (None: the person running this process),
    in the company's time zone."""
    return Watermark.taken_now(actor, get_settings().tz)


def watermark_line(watermark: Watermark) -> str:
    return watermark.line(translator(get_settings().interface_language))


def mark_workbook(book: Any, sheets: Iterable[Any], watermark: Watermark) -> None:
    """A workbook's document properties and each sheet's page footer name who exported it and
    when (what rows each sheet carries is the caller's)."""
    line = watermark_line(watermark)
    book.properties.creator = watermark.actor
    book.properties.lastModifiedBy = watermark.actor
    book.properties.description = line
    book.properties.keywords = f"exported_by={watermark.actor}; exported_at={watermark.stamp}"
    for sheet in sheets:
        sheet.oddFooter.center.text = line.replace("&", "&&")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def csv_files(
    catalog: Catalog, chinese: bool = False, watermark: Watermark | None = None
) -> dict[str, bytes]:
    """`<entity>.csv` → its bytes, for every entity (a download, or `write_csv_files`), each
    watermarked (unset: taken now by the person running this process)."""
    watermark = watermark or export_watermark()
    return {
        f"{table.entity}.csv": csv_bytes(table.rows, table.columns, watermark)
        for table in export_tables(catalog, chinese)
    }


def write_csv_files(
    catalog: Catalog, folder: Path, chinese: bool = False, watermark: Watermark | None = None
) -> list[Path]:
    """One `<entity>.csv` per entity in `folder` (made if missing); the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in csv_files(catalog, chinese, watermark).items():
        path = folder / name
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        written.append(path)
    return written


def workbook_bytes(catalog: Catalog, chinese: bool = False, watermark: Watermark | None = None) -> bytes:
    """One .xlsx with a sheet per entity (headers in row 1), watermarked (unset: taken now by
    the person running this process): the last row of each sheet, its page footer and the
    document properties."""
    from openpyxl import Workbook

    watermark = watermark or export_watermark()
    line = watermark_line(watermark)
    book = Workbook(write_only=True)
    sheets = []
    for table in export_tables(catalog, chinese):
        sheet = book.create_sheet(table.sheet)
        sheet.append(table.columns)
        for row in table.rows:
            sheet.append([_excel_cell(sheet, v) for v in row])
        sheet.append([_excel_cell(sheet, line)])
        sheets.append(sheet)
    mark_workbook(book, sheets, watermark)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_workbook(
    catalog: Catalog, path: Path, chinese: bool = False, watermark: Watermark | None = None
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(workbook_bytes(catalog, chinese, watermark))
    tmp.replace(path)
    return path


def _excel_cell(sheet: Any, value: Any) -> Any:
    """A value as Excel keeps it: numbers it holds exactly as numbers, the rest as text (never
    a formula: a name that starts with `=` stays a name)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) >= 10**_EXCEL_DIGITS:
        return str(value)
    if isinstance(value, Decimal) and len(value.as_tuple().digits) > _EXCEL_DIGITS:
        return str(value)
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)
        if text.startswith("="):
            cell = WriteOnlyCell(sheet, value=text)
            cell.data_type = "s"
            return cell
        return text
    return value
