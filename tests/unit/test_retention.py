"""Retention's rules (periods, cut-off days, which versions are due, pseudonyms) and the
watermark every export carries."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from stockflow.config import Settings
from stockflow.masterdata import Catalog, Customer, Supplier
from stockflow.masterdata_import import prepare_import
from stockflow.retention import (
    PERSONAL_FIELDS,
    ChangeDate,
    DataClass,
    Treatment,
    due_versions,
    months_before,
    pseudonym,
    pseudonymise_record,
    retention_rules,
)
from stockflow.watermarks import WATERMARK_MARK, Watermark, is_watermark_row
from stores.spreadsheets import csv_files, read_spreadsheet, workbook_bytes

COMPANY_TZ = ZoneInfo(Settings.model_fields["timezone"].default)  # UTC+8
KEY = bytes(range(32))


def test_periods_come_from_the_settings_and_the_books_are_kept():
    rules = retention_rules(personal_months=6, books_years=30)
    assert rules[DataClass.PERSONAL].treatment is Treatment.PSEUDONYMISE
    assert rules[DataClass.PERSONAL].cutoff(date(2026, 3, 15)) == date(2025, 9, 15)
    for kept in (DataClass.BOOKS, DataClass.AUDIT):
        assert rules[kept].treatment is Treatment.KEEP
        assert rules[kept].cutoff(date(2026, 3, 15)) == date(1996, 3, 15)
    with pytest.raises(ValueError):
        retention_rules(0, 30)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 8, 31), 6, date(2026, 2, 28)),
        (date(2028, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 1, 15), 1, date(2025, 12, 15)),
        (date(2026, 3, 31), 13, date(2025, 2, 28)),
        (date(2026, 3, 1), 360, date(1996, 3, 1)),
    ],
)
def test_months_before_keeps_the_day_or_the_months_last(day, months, expected):
    assert months_before(day, months) == expected


def _at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=COMPANY_TZ).astimezone(UTC)


def test_a_version_is_due_when_the_next_one_replaced_it_before_the_cutoff():
    changes = [
        ChangeDate(1, "customer", "customer|C1", _at("2025-01-10")),
        ChangeDate(2, "customer", "customer|C2", _at("2020-01-01")),  # only version: in use
        ChangeDate(3, "customer", "customer|C1", _at("2025-09-14")),  # replaces v1 the day before
        ChangeDate(4, "sku", "sku|A", _at("2020-01-01")),
        ChangeDate(5, "sku", "sku|A", _at("2020-02-01")),  # not personal
        ChangeDate(6, "customer", "customer|C1", _at("2025-09-15")),  # replaces v3 on the cut-off day
        ChangeDate(7, "supplier", "supplier|S1", _at("2025-01-01")),
        # replaced at 00:30 in Shanghai on the cut-off day: still the day before in UTC
        ChangeDate(8, "supplier", "supplier|S1", _at("2025-09-15", 0).replace(minute=30)),
    ]
    due = due_versions(reversed(changes), date(2025, 9, 15), COMPANY_TZ)
    assert due == {1: date(2025, 9, 14)}


def test_a_pseudonym_is_a_keyed_hash_of_the_value():
    expected = "pz1:" + hmac.new(KEY, b"13812345678", hashlib.sha256).hexdigest()[:32]
    assert pseudonym("13812345678", KEY) == expected
    assert pseudonym("13812345678", bytes(32)) != expected  # another key, another pseudonym
    assert pseudonym(expected, KEY) == expected and pseudonym("", KEY) == ""
    with pytest.raises(ValueError):
        pseudonym("x", b"short")


def test_only_personal_fields_are_pseudonymised():
    record = {
        "customer": "C1",
        "name": "王小明",
        "phone": "13812345678",
        "id_number": "",
        "credit_limit": "10",
    }
    out, changed = pseudonymise_record("customer", record, KEY)
    assert changed == 2 and out["customer"] == "C1" and out["credit_limit"] == "10" and out["id_number"] == ""
    assert out["name"] == pseudonym("王小明", KEY) and out["phone"] == pseudonym("13812345678", KEY)
    assert pseudonymise_record("customer", out, KEY) == (out, 0)  # twice: nothing more
    supplier, changed = pseudonymise_record(
        "supplier", {"supplier": "S", "name": "上海食品", "phone": "021"}, KEY
    )
    assert changed == 1 and supplier["name"] == "上海食品"
    assert pseudonymise_record("sku", {"name": "牛奶"}, KEY) == ({"name": "牛奶"}, 0)
    assert set(PERSONAL_FIELDS) == {"customer", "supplier"}


# ------------------------------------------------------------------ watermarked exports
WATERMARK = Watermark("alice", datetime(2026, 3, 2, 9, 30, tzinfo=COMPANY_TZ))


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.build(
        [],
        [],
        suppliers=[Supplier(supplier="SUP01", name="上海食品", phone="021-55551234")],
        customers=[
            Customer(customer="CUS001", name="王小明", phone="13812345678", id_number="110101199003071234")
        ],
    )


def test_every_csv_export_ends_with_who_and_when_and_reads_back_unchanged(catalog):
    files = csv_files(catalog, watermark=WATERMARK)
    for name, data in files.items():
        last = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[-1]
        assert last == [f"{WATERMARK_MARK} Exported by alice at 2026-03-02T09:30:00+08:00"], name
    tables = [table for name, data in files.items() for table in read_spreadsheet(data, name)]
    assert_reads_back_unchanged(catalog, tables)


def assert_reads_back_unchanged(catalog, tables):
    """Read against the catalogue it came from, an export changes nothing and has a row per
    record (none for the watermark); into an empty one, it proposes the same records."""
    prepared = prepare_import(catalog, tables)
    assert prepared.ok, prepared.problems[:5]
    assert (prepared.counts["customers"].rows, prepared.counts["customers"].changed) == (1, 0)
    assert (prepared.counts["suppliers"].rows, prepared.counts["suppliers"].changed) == (1, 0)
    fresh = prepare_import(Catalog(), tables)
    assert fresh.ok, fresh.problems[:5]
    records = {getattr(p, "record", None) for p in fresh.proposals}
    assert set(catalog.customers.values()) | set(catalog.suppliers.values()) <= records


def test_every_sheet_of_a_workbook_export_carries_the_watermark_and_reads_back(catalog):
    data = workbook_bytes(catalog, chinese=True, watermark=WATERMARK)
    book = load_workbook(io.BytesIO(data))
    assert book.properties.creator == "alice"
    assert "2026-03-02T09:30:00+08:00" in book.properties.description
    for sheet in book.worksheets:
        rows = [r for r in sheet.iter_rows(values_only=True) if any(v is not None for v in r)]
        assert rows[-1][0].startswith(WATERMARK_MARK) and "alice" in rows[-1][0], sheet.title
        assert "alice" in sheet.oddFooter.center.text
    assert_reads_back_unchanged(catalog, read_spreadsheet(data, "masterdata.xlsx"))


def test_an_export_without_a_named_person_names_whoever_runs_it(catalog):
    data = csv_files(catalog)["customers.csv"].decode("utf-8-sig")
    assert WATERMARK_MARK in data.splitlines()[-1]


def test_only_a_watermark_row_is_skipped():
    assert is_watermark_row(["", f"{WATERMARK_MARK} Exported by alice"])
    assert not is_watermark_row(["#1 店", "x"]) and not is_watermark_row(["CUS001", WATERMARK_MARK])
    assert not is_watermark_row([None, 3]) and not is_watermark_row([])
