"""Master data from spreadsheets: every problem of a deliberately broken catalogue reported at its
file, row and column with its reason; CSV (UTF-8, with a BOM, GBK) and Excel read alike;
Chinese headers; hostile cells; the catalogue's own rules put back at their rows; an export
read back changes nothing; and the import is all or nothing.

The oracles are written out by hand: the rows and columns a person sees when opening the file
(the header is row 1), and the records the rows must become."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import Workbook

from simulator.company import build_catalog
from stockflow.i18n import Language, catalogue, fields
from stockflow.masterdata import Alias, Catalog, ExchangeRate, Sku, Supplier
from stockflow.masterdata_import import (
    ENTITIES,
    ENTITY_ORDER,
    IMPORT_REASONS,
    entity_for_header,
    entity_for_name,
    export_tables,
    prepare_import,
)
from stockflow.services.masterdata_import import import_master_data
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles
from stores.spreadsheets import csv_bytes, read_spreadsheet, workbook_bytes

SUPPLIERS = "supplier,name,lead_time_days\nSUP01,上海鲜品,2\nSUP02,五常粮油,4\n"

#: A catalogue file with one problem (or two) per row; the comment is the oracle.
BROKEN_SKUS = """\
sku,gtin,name,category,base_unit,packs,shelf_life_days,cold_chain_min_c,cold_chain_max_c,supplier,moq,vat_rate,standard_cost,batch_managed
OK-1,6903210000010,好商品,dry_goods,each,case=12;pallet=480,365,,,SUP01,24,0.13,1.00,yes
BAD-GTIN,6903210000011,坏条码,dry_goods,each,case=12,365,,,SUP01,24,0.13,1.00,no
NOT-NESTED,6903210000027,包装不整除,dry_goods,each,case=12;pallet=100,365,,,SUP01,24,13%,1.00,no
MOQ,6903210000034,起订量,dry_goods,each,case=12,365,,,SUP01,10,0.13,1.00,no
UNIT,6903210000041,单位,dry_goods,each,case=12,365,,,SUP01,2 box,0.13,1.00,no
CHILLED,6903210000058,冷鲜无保质期,chilled_food,each,case=6,,0,4,SUP01,6,0.09,1.00,yes
OK-1,6903210000065,重复编码,dry_goods,each,case=6,365,,,SUP01,6,0.13,1.00,no
NO-SUP,6903210000072,供应商不存在,dry_goods,each,case=6,365,,,SUP99,6,0.13,abc,no
PACKS,6903210000089,包装写错,dry_goods,each,case=six,365,,,SUP02,6,0.2,1e400,maybe
,6903210000096,没有编码,dry_goods,each,,365,,,SUP02,,0.13,1,no
BAD CODE,6903210000102,,dry_goods,each,,365,,,SUP02,,0.13,-5,no
COLD,6903210000119,冷链范围,chilled_food,each,,7,8,2,SUP02,,0.09,1,no
"""
BROKEN_EXPECTED = {
    (3, "gtin", "bad_gtin"),
    (4, "packs", "pack_not_multiple"),
    (5, "moq", "moq_not_whole_packs"),
    (6, "moq", "unknown_unit"),
    (7, "shelf_life_days", "shelf_life_missing"),
    (8, "sku", "duplicate_code"),
    (9, "supplier", "unknown_supplier"),
    (9, "standard_cost", "not_a_number"),
    (10, "packs", "bad_pack"),
    (10, "vat_rate", "bad_vat_rate"),
    (10, "standard_cost", "out_of_range"),
    (10, "batch_managed", "not_yes_no"),
    (11, "sku", "required"),
    (12, "sku", "bad_code"),
    (12, "name", "required"),
    (12, "standard_cost", "out_of_range"),
    (13, "cold_chain_min_c", "cold_chain_range"),
}


def tables_of(*files: tuple[str, bytes | str], entity: str | None = None):
    out = []
    for name, data in files:
        out += read_spreadsheet(data.encode("utf-8") if isinstance(data, str) else data, name, entity)
    return out


def found(prepared, file: str | None = None) -> set[tuple[int | None, str, str]]:
    return {(p.row, p.column, p.reason) for p in prepared.problems if file is None or p.file == file}


def test_every_problem_of_a_broken_file_at_its_row_and_column_with_its_reason():
    prepared = prepare_import(Catalog(), tables_of(("suppliers.csv", SUPPLIERS), ("skus.csv", BROKEN_SKUS)))
    assert found(prepared) == BROKEN_EXPECTED
    assert {p.file for p in prepared.problems} == {"skus.csv"}
    by_row = {(p.row, p.reason): p for p in prepared.problems}
    gtin = by_row[(3, "bad_gtin")]
    assert gtin.cell == "B3" and gtin.code == "BAD-GTIN" and gtin.entity == "skus"
    assert "check digit" in gtin.english  # biip's reason
    assert gtin.message.key == "masterdata.import.bad_gtin"
    assert by_row[(8, "duplicate_code")].message.fields["first"] == "skus.csv:2"
    assert by_row[(9, "unknown_supplier")].message.fields == {"code": "NO-SUP", "supplier": "SUP99"}
    assert by_row[(4, "pack_not_multiple")].message.fields == {
        "unit": "pallet", "factor": 100, "smaller": "case", "smaller_factor": 12,
    }  # fmt: skip
    # the catalogue's rules are checked on every row whose every cell could be read (CHILLED:
    # its problem is a rule of the import's); no row with a cell that failed is proposed
    assert [p.record.sku for p in prepared.proposals if isinstance(p.record, Sku)] == ["OK-1", "CHILLED"]
    assert prepared.counts["skus"].rows == 12 and prepared.counts["suppliers"].new == 2


def test_a_message_reads_in_either_language():
    prepared = prepare_import(Catalog(), tables_of(("skus.csv", BROKEN_SKUS)))
    problem = next(p for p in prepared.problems if p.reason == "moq_not_whole_packs")
    assert problem.english == "the MOQ of 10 each is not a whole number of the smallest pack, case (12)"
    from stockflow.i18n import translator

    assert (
        problem.message.text(translator(Language.ZH_CN))
        == "最小起订量 10 each 不是最小包装 case（12）的整数倍"
    )


def test_every_reason_has_its_message_in_both_catalogues():
    for language in Language:
        known = catalogue(language)
        missing = [r for r in IMPORT_REASONS if f"masterdata.import.{r}" not in known]
        assert not missing, (language, missing)
    zh, en = catalogue(Language.ZH_CN), catalogue(Language.EN)
    for reason in IMPORT_REASONS:
        key = f"masterdata.import.{reason}"
        assert fields(zh[key]) == fields(en[key]), key


def test_every_field_of_every_record_has_a_column():
    """A field added to a model without a column here would be lost by an export."""
    for entity in ENTITIES.values():
        stored = [c.name for c in entity.columns if c.stored]
        assert stored == list(entity.model.model_fields), entity.name


def test_a_supplier_row_that_fails_is_not_also_an_unknown_supplier_of_its_skus():
    suppliers = "supplier,name,lead_time_days\nSUP01,上海鲜品,-2\n"
    skus = "sku,gtin,name,category,supplier\nA,6903210000010,甲,electronics,SUP01\n"
    prepared = prepare_import(Catalog(), tables_of(("suppliers.csv", suppliers), ("skus.csv", skus)))
    assert found(prepared) == {(2, "lead_time_days", "out_of_range")}


def test_duplicate_codes_across_files_of_one_entity():
    one = "supplier,name\nSUP01,甲\nSUP02,乙\n"
    two = "供应商编码,名称\nSUP02,丙\n"
    prepared = prepare_import(Catalog(), tables_of(("suppliers.csv", one), ("suppliers_more.csv", two)))
    assert [(p.file, p.row, p.column, p.reason) for p in prepared.problems] == [
        ("suppliers_more.csv", 2, "供应商编码", "duplicate_code")
    ]
    assert prepared.problems[0].message.fields["first"] == "suppliers.csv:3"


# ---------------------------------------------------------------------- encodings and formats
CHINESE = """\
商品编码,条码,名称,类别,包装,保质期（天）,冷链最低温度,冷链最高温度,供应商,起订量,税率,标准成本,批次管理,状态,备注
MILK-1L,6903210000010,鲜牛奶 1L,chilled_food,case=12,10,0,4,SUP01,2 case,9%,"1,008.50",是,启用,第一批
RICE-5KG,6903210000034,东北大米 5kg,dry_goods,袋=1,365,,,SUP02,8,0.09,32,否,新建,
"""


def test_chinese_headers_and_words_in_a_gbk_file():
    data = CHINESE.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    tables = tables_of(("suppliers.csv", SUPPLIERS), ("商品.csv", data))
    prepared = prepare_import(Catalog(), tables)
    # 袋 is not a code a unit may have
    assert found(prepared) == {(3, "包装", "bad_pack")}
    milk = next(p.record for p in prepared.proposals if getattr(p.record, "sku", "") == "MILK-1L")
    assert milk.moq == 24 and milk.vat_rate == Decimal("0.09") and milk.standard_cost == Decimal("1008.50")
    assert milk.batch_managed is True and milk.shelf_life_days == 10 and milk.packs == {"case": 12}
    assert prepared.entities[("商品.csv", "")] == "skus"


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
        lambda text: text.encode("gb18030"),
        lambda text: text.encode("utf-16"),
        lambda text: text.replace(",", "\t").encode("utf-8"),
        lambda text: text.replace(",", ";").replace("\r\n", "\n").encode("utf-8"),
    ],
    ids=["utf8", "bom", "gb18030", "utf16", "tabs", "semicolons"],
)
def test_csv_files_as_excel_and_people_save_them(encode):
    text = "supplier,name,phone\r\nSUP01,上海鲜品供应链,021-61230001\r\n"
    prepared = prepare_import(Catalog(), read_spreadsheet(encode(text), "suppliers.csv"))
    assert prepared.ok, prepared.problems
    [proposal] = prepared.proposals
    assert proposal.record == Supplier(supplier="SUP01", name="上海鲜品供应链", phone="021-61230001")


def test_files_that_are_not_spreadsheets_are_problems_not_crashes():
    cases = {
        "skus.csv": b"\x00\x01\x02\xff\xfe\x00binary",
        "skus.xlsx": b"PK\x03\x04 not really a zip",
        "old.xls": b"sku,name\n",
        "skus2.csv": b'sku,name\n"unterminated',
    }
    prepared = prepare_import(Catalog(), tables_of(*cases.items()))
    reasons = {p.file: p.reason for p in prepared.problems}
    assert reasons["skus.csv"] == "unknown_encoding"
    assert reasons["skus.xlsx"] == "unreadable_file"
    assert reasons["old.xls"] == "unreadable_file"
    assert not prepared.proposals
    assert all(p.message.english for p in prepared.problems)


def workbook(sheets: dict[str, list[list[object]]], merge: dict[str, list[str]] | None = None) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for cells in (merge or {}).get(title, []):
            sheet.merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_workbook_with_a_sheet_per_entity_chinese_names_merged_cells_formulas_and_dates():
    data = workbook(
        {
            "说明": [["这一页是填写说明，不导入"]],
            "供应商": [["供应商编码", "名称"], ["SUP01", "上海鲜品"]],
            "商品": [
                ["商品资料导入"],  # a title row above the header
                ["sku", "gtin", "name", "category", "supplier", "packs", "moq", "standard_cost"],
                ["A", 6903210000010, "甲", "electronics", "SUP01", "case=10", 20, 12.5],
                ["B", "6903210000027", "乙", "electronics", None, "case=10", "=10*2", "#DIV/0!"],
                [None, None, None, None, None, None, None, None],
                ["C", "6903210000034", "丙", "electronics", None, "case=10", 10.5, 1e300],
            ],
            "汇率": [
                ["币种", "生效日期", "汇率"],
                ["usd", date(2026, 9, 1), 7.1234],
                ["EUR", "2026年9月1日", "7.8"],
            ],
        },
        merge={"商品": ["E3:E4"]},  # supplier SUP01 for A and B
    )
    prepared = prepare_import(Catalog(), read_spreadsheet(data, "主数据.xlsx"))
    assert found(prepared) == {
        (4, "standard_cost", "formula_error"),
        (6, "moq", "not_whole"),
        (6, "standard_cost", "out_of_range"),
    }
    assert {p.sheet for p in prepared.problems} == {"商品"}
    assert prepared.entities == {
        ("主数据.xlsx", "供应商"): "suppliers",
        ("主数据.xlsx", "商品"): "skus",
        ("主数据.xlsx", "汇率"): "rates",
    }
    skus = {p.record.sku: p.record for p in prepared.proposals if isinstance(getattr(p, "record", None), Sku)}
    assert skus["A"].gtin == "06903210000010" and skus["A"].standard_cost == Decimal("12.5")
    rates = sorted(
        (p.rate.currency, p.rate.valid_from, p.rate.rate) for p in prepared.proposals if hasattr(p, "rate")
    )
    assert rates == [("EUR", date(2026, 9, 1), Decimal("7.8")), ("USD", date(2026, 9, 1), Decimal("7.1234"))]


def test_merged_cells_read_the_value_the_sheet_shows():
    data = workbook(
        {"skus": [
            ["sku", "gtin", "name", "category", "supplier"],
            ["A", "6903210000010", "甲", "electronics", "SUP01"],
            ["B", "6903210000027", "乙", None, None],
        ]},
        merge={"skus": ["D2:D3", "E2:E3"]},
    )  # fmt: skip
    catalog = Catalog(suppliers={"SUP01": Supplier(supplier="SUP01", name="甲")})
    prepared = prepare_import(catalog, read_spreadsheet(data, "any.xlsx"))
    assert prepared.ok, prepared.problems
    b = next(p.record for p in prepared.proposals if p.record.sku == "B")
    assert (b.category, b.supplier) == ("electronics", "SUP01")


def test_hostile_cells():
    huge = "9" * 400
    text = (
        "sku,gtin,name,category,shelf_life_days,reorder_point,cold_chain_min_c,cold_chain_max_c\n"
        f"A,6903210000010,{'名' * 5000},electronics,{huge},1e30,-inf,nan\n"
        "B,6903210000027,乙,electronics,12.5,3 pallet,,\n"
        ",,,,,,,\n"
        "\n"
        "C,69032100000271234567890,丙,electronics,0,-1,,\n"
    )
    prepared = prepare_import(Catalog(), read_spreadsheet(text.encode(), "skus.csv"))
    assert found(prepared) == {
        (2, "name", "too_long"),
        (2, "shelf_life_days", "out_of_range"),
        (2, "reorder_point", "out_of_range"),
        (2, "cold_chain_min_c", "not_a_number"),
        (2, "cold_chain_max_c", "not_a_number"),
        (3, "shelf_life_days", "not_whole"),
        (3, "reorder_point", "unknown_unit"),
        (6, "gtin", "bad_gtin"),
        (6, "shelf_life_days", "out_of_range"),
        (6, "reorder_point", "out_of_range"),
    }
    assert all(len(str(v)) <= 200 for p in prepared.problems for v in p.message.fields.values())


def test_a_header_the_import_does_not_know():
    text = "sku,gtin,name,colour,名称\nA,6903210000010,甲,red,乙\n"
    prepared = prepare_import(Catalog(), read_spreadsheet(text.encode(), "skus.csv"))
    assert found(prepared) == {
        (1, "colour", "unknown_column"),
        (1, "名称", "duplicate_column"),
        (2, "category", "required"),
    }
    nothing = prepare_import(Catalog(), read_spreadsheet(b"a,b\n1,2\n", "misc.csv"))
    assert [p.reason for p in nothing.problems] == ["no_header"]
    no_key = prepare_import(Catalog(), read_spreadsheet("name,gtin\n甲,6903210000010\n".encode(), "skus.csv"))
    assert found(no_key) == {(1, "sku", "missing_column")}


def test_which_entity_a_table_holds():
    assert entity_for_name("skus.csv") == "skus"
    assert entity_for_name("/tmp/skus_2026-09.xlsx") == "skus"
    assert entity_for_name("商品.csv") == "skus"
    assert entity_for_name("供应商") == "suppliers"
    assert entity_for_name("exchange_rates.csv") == "rates"
    assert entity_for_name("inventory.csv") is None
    assert entity_for_header(["供应商编码", "名称"]) == "suppliers"
    assert entity_for_header(["sku", "supplier", "name"]) == "skus"
    assert entity_for_header(["system", "code", "kind", "target"]) == "aliases"
    told = prepare_import(Catalog(), read_spreadsheet(b"supplier,name\nS1,x\n", "export(3).csv", "suppliers"))
    assert told.ok and told.counts["suppliers"].new == 1


# ---------------------------------------------------------------------- against the catalogue
def catalog_with_history() -> Catalog:
    catalog = build_catalog(7, n_skus=40)
    sku = next(iter(catalog.skus.values()))
    return catalog.model_copy(
        update={
            "aliases": {
                a.key: a
                for a in (
                    Alias(system="legacy_erp", code="100234", kind="sku", target=sku.sku),
                    Alias(system="meituan", code="st-9", kind="location", target="ST01"),
                )
            },
            "rates": {
                r.key: r
                for r in (
                    ExchangeRate(currency="USD", valid_from=date(2026, 1, 1), rate=Decimal("7.12345678")),
                )
            },
        }
    )


def test_the_catalogues_rules_come_back_at_their_rows(tmp_path):
    catalog = catalog_with_history()
    store = MasterDataFiles(tmp_path / "masterdata.json", tmp_path / "lake")
    store.record([], catalog)
    first, second = list(catalog.skus.values())[:2]
    case = first.packs["case"]
    text = (
        "sku,gtin,name,category,base_unit,packs,status,supplier,moq\n"
        f"{first.sku},{first.gtin},{first.name},{first.category},box,case={case * 2},{first.status.value},{first.supplier},{case * 2}\n"
        f"NEW-1,{second.gtin},新商品,electronics,each,case=5,active,{first.supplier},5\n"
        f"{second.sku},{second.gtin},{second.name},{second.category},each,case={second.packs['case']},frozen,{second.supplier},{second.moq}\n"
    )
    tables = read_spreadsheet(text.encode(), "skus.csv")
    result = import_master_data(store, None, AuditLog(tmp_path), tables, "ops.chen", dry_run=True)
    assert {(p.row, p.column, p.reason) for p in result.problems} >= {
        (2, "base_unit", "base_unit_changed"),
        (2, "packs", "pack_changed"),
        (3, "gtin", "duplicate_gtin"),
        (4, "status", "status_via_upsert"),
    }
    assert {p.message.key.split(".")[1] for p in result.problems} == {"problem"}
    assert all(p.cell for p in result.problems)


def test_columns_a_file_leaves_out_keep_the_catalogues_values():
    catalog = catalog_with_history()
    sku = next(iter(catalog.skus.values()))
    text = f"sku,standard_cost\n{sku.sku},{sku.standard_cost + 1}\n"
    prepared = prepare_import(catalog, read_spreadsheet(text.encode(), "price_list.csv", "skus"))
    assert prepared.ok, prepared.problems
    [proposal] = prepared.proposals
    assert proposal.record == sku.model_copy(update={"standard_cost": sku.standard_cost + 1})
    assert (prepared.counts["skus"].changed, prepared.counts["skus"].new) == (1, 0)


@pytest.mark.parametrize("chinese", [False, True])
@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_an_export_read_back_changes_nothing(form, chinese):
    catalog = catalog_with_history()
    if form == "xlsx":
        tables = read_spreadsheet(workbook_bytes(catalog, chinese), "masterdata.xlsx")
    else:
        tables = [
            t
            for table in export_tables(catalog, chinese)
            for t in read_spreadsheet(csv_bytes(table.rows, table.columns), f"{table.entity}.csv")
        ]
    prepared = prepare_import(catalog, tables)
    assert prepared.ok, prepared.problems[:5]
    counts = {name: (c.rows, c.new, c.changed) for name, c in prepared.counts.items()}
    sizes = {
        "suppliers": len(catalog.suppliers), "locations": len(catalog.locations),
        "customers": len(catalog.customers), "skus": len(catalog.skus),
        "aliases": len(catalog.aliases), "rates": len(catalog.rates),
        "recipes": sum(len(r.components) for r in catalog.recipes.values()),  # a row per component
        "boms": 0,  # the catalogue has none: tests/unit/test_bom_import.py reads BOMs back
    }  # fmt: skip
    assert counts == {name: (sizes[name], 0, 0) for name in ENTITY_ORDER}
    # and into an empty catalogue, the same records
    fresh = prepare_import(
        Catalog(), tables if form == "csv" else read_spreadsheet(workbook_bytes(catalog, chinese), "m.xlsx")
    )
    assert fresh.ok

    def record(proposal):
        return getattr(proposal, "record", None) or getattr(proposal, "alias", None) or proposal.rate

    def keyed(records):
        codes = ("key", "sku", "location", "supplier", "customer")
        return {(type(r).__name__, next(getattr(r, c) for c in codes if hasattr(r, c))): r for r in records}

    assert keyed(record(p) for p in fresh.proposals) == keyed(
        r
        for records in (
            catalog.skus,
            catalog.locations,
            catalog.suppliers,
            catalog.customers,
            catalog.aliases,
            catalog.rates,
        )
        for r in records.values()
    )


def test_an_import_is_all_or_nothing_and_audited_with_its_files(tmp_path):
    store = MasterDataFiles(tmp_path / "masterdata.json", tmp_path / "lake")
    audit = AuditLog(tmp_path)
    broken = tables_of(("suppliers.csv", SUPPLIERS), ("skus.csv", BROKEN_SKUS))
    refused = import_master_data(store, None, audit, broken, "ops.chen")
    assert not refused.ok and not refused.written
    assert store.load() == Catalog() and not (tmp_path / "lake").exists()
    assert audit.records() == []

    clean = BROKEN_SKUS.splitlines()[:2]
    tables = tables_of(("suppliers.csv", SUPPLIERS), ("skus.csv", "\n".join(clean) + "\n"))
    checked = import_master_data(store, None, audit, tables, "ops.chen", dry_run=True)
    assert checked.ok and not checked.written and store.load() == Catalog()
    done = import_master_data(store, None, audit, tables, "ops.chen", role="manager")
    assert done.ok and done.written and done.versions == (1, 3)
    assert set(store.load().skus) == {"OK-1"} and set(store.load().suppliers) == {"SUP01", "SUP02"}
    [entry] = audit.records()
    assert (entry["actor"], entry["action"], entry["role"]) == ("ops.chen", "masterdata.imported", "manager")
    import hashlib

    assert entry["details"]["files"] == [
        {"name": "suppliers.csv", "sha256": hashlib.sha256(SUPPLIERS.encode()).hexdigest()},
        {"name": "skus.csv", "sha256": hashlib.sha256(("\n".join(clean) + "\n").encode()).hexdigest()},
    ]
    again = import_master_data(store, None, audit, tables, "ops.chen")
    assert again.ok and not again.written and again.counts["skus"].unchanged == 1
    assert len(audit.records()) == 1


def test_two_files_of_the_same_name_are_both_read(tmp_path):
    from stores.spreadsheets import read_spreadsheet_files

    for folder, code in (("north", "SUP01"), ("south", "SUP02")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "suppliers.csv").write_text(f"supplier,name\n{code},甲\n", encoding="utf-8")
    paths = [tmp_path / "north" / "suppliers.csv", tmp_path / "south" / "suppliers.csv"]
    prepared = prepare_import(Catalog(), read_spreadsheet_files(paths))
    assert prepared.ok and prepared.counts["suppliers"].new == 2
    assert list(prepared.files) == [str(p) for p in paths]


def test_a_change_made_while_an_import_was_read_is_in_the_catalogue_it_is_checked_against(tmp_path):
    from stockflow.masterdata_changes import Upsert
    from stockflow.services.masterdata import change_master_data
    from stockflow.services.masterdata_import import _LoadedOnce

    store = MasterDataFiles(tmp_path / "masterdata.json", tmp_path / "lake")
    audit = AuditLog(tmp_path)
    change_master_data(store, None, audit, [Upsert(Supplier(supplier="SUP01", name="甲"))], "a")
    loaded = _LoadedOnce(store)
    assert set(loaded.load().suppliers) == {"SUP01"}
    change_master_data(store, None, audit, [Upsert(Supplier(supplier="SUP02", name="乙"))], "b")
    with loaded.lock():
        again = loaded.load()
    assert again == store.load() and set(again.suppliers) == {"SUP01", "SUP02"} and again.version == 2
