"""BOMs from spreadsheets and back: one row per line, per substitute and per routing step, the
rows of one product × day one version (Chinese headers and English ones); every problem at
the file, row and column a person sees (the catalogue's BOM rules too: an unknown material at
its row's 物料编码, a cycle at the line that closes it, with its path); the same file twice adds
nothing; an export read back gives the same BOMs; and `stockflow masterdata bom show` in
both languages.

The oracles are written out by hand: the BOMs the rows must become, the rows and columns of
each problem, and the explosion of one lamp worked out on paper."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from stockflow.config import get_settings
from stockflow.i18n import Language, translator
from stockflow.masterdata import Bom, BomLine, BomOperation, BomSubstitute, Catalog
from stockflow.masterdata_import import ENTITIES, export_tables, prepare_import
from stockflow.services.masterdata_import import import_master_data
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles
from stores.spreadsheets import csv_bytes, read_spreadsheet, workbook_bytes
from tests.support.factory import factory_catalog

TODAY = date(2026, 5, 10)
JUNE = date(2026, 6, 1)
ZH = "产品编码,生效日期,基准数量,物料编码,用量,单位,损耗率,替代料编码,替代优先级,替代比例,替代生效,替代失效,工序,工序名称,单位工时,人工费率,制造费率,BOM名称"  # noqa: E501
EN = (
    "product,effective_from,base_qty,material,qty,unit,scrap_rate,substitute,priority,ratio,valid_from,"
    "valid_to,operation,operation_name,hours_per_unit,labour_rate,overhead_rate,name"
)
COLUMNS = EN.split(",")


def row(product: str, day: str, **cells: str) -> str:
    """One row of a boms table with these cells (by field), the rest empty."""
    unknown = set(cells) - set(COLUMNS)
    assert not unknown, unknown
    return ",".join([product, day, *(cells.get(c, "") for c in COLUMNS[2:])]) + "\n"


def plant(*boms: Bom) -> Catalog:
    """The small factory's SKUs and locations with only these BOMs."""
    return factory_catalog().model_copy(update={"boms": {b.key: b for b in boms}})


def proposed(prepared) -> dict[str, Bom]:
    return {p.bom.key: p.bom for p in prepared.proposals if hasattr(p, "bom")}


def found(problems) -> set[tuple[int | None, str, str]]:
    return {(p.row, p.column, p.reason) for p in problems}


ROWS = (
    row("LAMP", "2026-06-01", base_qty="1", material="BASE", qty="1", name="台灯")
    + row("LAMP", "2026-06-01", material="SHADE", qty="1")
    + row("LAMP", "2026-06-01", material="BULB", qty="1", scrap_rate="2%")
    + row("LAMP", "2026-06-01", operation="ASSY", operation_name="装配", hours_per_unit="0.5",
          labour_rate="40", overhead_rate="20")
    + row("LAMP", "2026-06-01", operation="TEST", operation_name="检测", hours_per_unit="0.1",
          labour_rate="30", overhead_rate="10")
    + row("BASE", "2026/6/1", base_qty="10", material="STEEL", qty="2.5", unit="m2", scrap_rate="10%", name="底座")
    + row("BASE", "2026/6/1", base_qty="10", material="SCREW", qty="40", scrap_rate="0.05")
    + row("BASE", "2026/6/1", base_qty="10", material="CABLE", qty="10")
    # the substitutes of CABLE, the second by priority written first
    + row("BASE", "2026/6/1", material="CABLE", substitute="WIRE", priority="2", ratio="2",
          valid_from="2026-06-01", valid_to="2026年12月31日")
    + row("BASE", "2026/6/1", material="CABLE", substitute="CABLE-B", priority="1", ratio="1")
    + row("BASE", "2026/6/1", operation="PRESS", operation_name="冲压", hours_per_unit="0.2",
          labour_rate="35", overhead_rate="25")
)  # fmt: skip
GOOD_BOMS = [
    Bom(
        product="LAMP", effective_from=JUNE, name="台灯",
        lines=[BomLine(sku="BASE", qty=Decimal(1)), BomLine(sku="SHADE", qty=Decimal(1)),
               BomLine(sku="BULB", qty=Decimal(1), scrap_rate=Decimal("0.02"))],
        operations=[
            BomOperation(operation="ASSY", name="装配", hours_per_unit=Decimal("0.5"), labour_rate=Decimal(40),
                         overhead_rate=Decimal(20)),
            BomOperation(operation="TEST", name="检测", hours_per_unit=Decimal("0.1"), labour_rate=Decimal(30),
                         overhead_rate=Decimal(10)),
        ],
    ),
    Bom(
        product="BASE", effective_from=JUNE, base_qty=Decimal(10), name="底座",
        lines=[
            BomLine(sku="STEEL", qty=Decimal("2.5"), unit="m2", scrap_rate=Decimal("0.1")),
            BomLine(sku="SCREW", qty=Decimal(40), scrap_rate=Decimal("0.05")),
            BomLine(sku="CABLE", qty=Decimal(10), substitutes=[
                BomSubstitute(sku="CABLE-B", priority=1, ratio=Decimal(1)),
                BomSubstitute(sku="WIRE", priority=2, ratio=Decimal(2), valid_from=JUNE,
                              valid_to=date(2026, 12, 31)),
            ]),
        ],
        operations=[BomOperation(operation="PRESS", name="冲压", hours_per_unit=Decimal("0.2"),
                                 labour_rate=Decimal(35), overhead_rate=Decimal(25))],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "name", "encoding"), [(ZH, "物料清单.csv", "gb18030"), (EN, "boms.csv", "utf-8")]
)
def test_lines_substitutes_and_operations_make_one_bom_per_product_and_day(header, name, encoding):
    tables = read_spreadsheet((header + "\n" + ROWS).encode(encoding), name)
    prepared = prepare_import(plant(), tables, today=TODAY)
    assert prepared.ok, prepared.problems
    assert proposed(prepared) == {b.key: b for b in GOOD_BOMS}
    # substitutes in priority order, whatever the rows' order
    assert [s.sku for s in proposed(prepared)["BASE|2026-06-01"].line("CABLE").substitutes] == [
        "CABLE-B",
        "WIRE",
    ]
    counts = prepared.counts["boms"]
    assert (counts.rows, counts.new, counts.changed, counts.unchanged) == (11, 2, 0, 0)
    same = prepare_import(plant(*GOOD_BOMS), tables, today=TODAY)
    assert (same.counts["boms"].unchanged, same.counts["boms"].new) == (2, 0)
    other = GOOD_BOMS[1].model_copy(update={"base_qty": Decimal(20)})
    changed = prepare_import(plant(GOOD_BOMS[0], other), tables, today=TODAY)
    assert changed.counts["boms"].changed == 1


def test_a_table_without_substitute_or_operation_columns_keeps_the_versions_own():
    """A price-list-like file of lines only corrects quantities and keeps each line's substitutes
    and the routing of the same version."""
    lines = "产品编码,生效日期,物料编码,用量,单位\n" + "".join(
        f"BASE,2026-06-01,{m},{q},{u}\n"
        for m, q, u in (("STEEL", "3", "m2"), ("SCREW", "40", ""), ("CABLE", "10", ""))
    )
    prepared = prepare_import(plant(*GOOD_BOMS), read_spreadsheet(lines.encode(), "bom.csv"), today=TODAY)
    assert prepared.ok, prepared.problems
    [made] = proposed(prepared).values()
    expected = GOOD_BOMS[1]
    assert made == expected.model_copy(
        update={"lines": [expected.lines[0].model_copy(update={"qty": Decimal(3)}), *expected.lines[1:]]}
    )


#: The catalogue has the factory's versions of 1 May (LAMP = BASE + SHADE + BULB); today is
#: 10 May. One problem per row (or two); the comment is the oracle.
BROKEN = (
    ZH + "\n"
    + row("SHADE", "2026-06-01", material="STEEL", qty="0.5", unit="m2")  # 2
    + row("SHADE", "2026-06-01", material="PAINT", qty="0.1")  # 3 no such SKU
    + row("SHADE", "2026-06-01", material="STEEL", substitute="GLASS")  # 4 no such SKU
    + row("SHADE", "2026-06-01", material="STEEL", substitute="STEEL")  # 5 a substitute of itself
    + row("SHADE", "2026-06-01", material="STEEL", substitute="SCREW",
          valid_from="2026-07-01", valid_to="2026-06-01")  # 6 valid to before valid from
    + row("BULB", "2026-06-01", material="LAMP", qty="1")  # 7 LAMP holds BULB: BULB → LAMP → BULB
    + row("BULB", "2026-06-01", material="SCREW", qty="2", unit="box")  # 8 a unit SCREW does not have
    + row("LAMP", "2026-05-01", material="BASE", qty="2")  # 9 the version in effect since 1 May changed
    + row("CABLE-B", "2026-06-01", base_qty="1", material="WIRE", qty="0")  # 10 no quantity
    + row("CABLE-B", "2026-06-01", base_qty="2", material="SCREW", qty="1")  # 11 another base than row 10's
    + row("CABLE-B", "2026-06-01", material="SCREW", qty="1")  # 12 SCREW again (row 11)
    + row("CABLE-B", "2026-06-01", qty="5", operation="WELD")  # 13 a quantity on an operation's row
    + row("WIRE", "2026-06-01", material="STEEL", qty="1")  # 14
    + row("WIRE", "2026-06-01", material="SCREW", substitute="CABLE")  # 15 SCREW is no line of WIRE's
    + row("WIRE", "someday", material="STEEL", qty="1")  # 16 not a date
    + row("SCREW", "2026-06-01", material="STEEL")  # 17 a line without its quantity
)  # fmt: skip
BROKEN_EXPECTED = {
    (3, "物料编码", "bom_unknown_material"),
    (4, "替代料编码", "bom_unknown_material"),
    (5, "替代料编码", "bom_substitute_of_itself"),
    (6, "替代失效", "bom_substitute_dates"),
    (7, "物料编码", "bom_cycle"),
    (8, "单位", "bom_material_unit"),
    (9, "生效日期", "bom_in_effect"),
    (10, "用量", "out_of_range"),
    (11, "基准数量", "bom_differs"),
    (12, "物料编码", "duplicate_code"),
    (13, "用量", "bom_mixed_row"),
    (15, "物料编码", "bom_substitute_no_line"),
    (16, "生效日期", "bad_date"),
    (17, "用量", "required"),
}


def test_every_problem_of_a_boms_file_at_its_row_and_column(tmp_path):
    store = MasterDataFiles(tmp_path / "masterdata.json", tmp_path / "lake")
    store.record([], factory_catalog())
    morning = datetime(2026, 5, 10, 1, 0, tzinfo=UTC)
    result = import_master_data(
        store, None, AuditLog(tmp_path), read_spreadsheet(BROKEN.encode(), "boms.csv"), "planner.liu",
        dry_run=True, now=lambda: morning, timezone=timezone(timedelta(hours=8)),
    )  # fmt: skip
    assert found(result.problems) == BROKEN_EXPECTED
    assert {p.file for p in result.problems} == {"boms.csv"}
    by_row = {p.row: p for p in result.problems}
    assert [by_row[r].cell for r in (3, 4, 6, 7, 8, 9, 13)] == ["D3", "H4", "L6", "D7", "F8", "B9", "E13"]
    assert by_row[3].message.fields == {"code": "SHADE", "material": "PAINT"}
    assert by_row[7].message.key == "masterdata.problem.bom_cycle"
    assert by_row[7].message.fields["path"] == "BULB → LAMP → BULB"
    assert by_row[12].message.fields == {"code": "SCREW", "first": "boms.csv:11"}
    assert by_row[11].message.fields["first"] == "boms.csv:10"
    assert by_row[3].code == "SHADE|2026-06-01" and by_row[3].entity == "boms"
    assert [p.row for p in result.problems] == sorted(p.row for p in result.problems)
    for language in Language:  # every message reads whole in both languages
        for problem in result.problems:
            text = problem.message.text(translator(language))
            assert "{" not in text and not text.startswith("masterdata."), text
    assert not result.written and store.load() == factory_catalog()


def test_a_cycle_through_two_boms_of_the_same_file_is_refused_at_the_second():
    """BASE (1 June) takes LAMP, which the catalogue makes of BASE: the path names both."""
    file = EN + "\n" + row("BASE", "2026-06-01", material="LAMP", qty="1")
    prepared = prepare_import(
        plant(*factory_catalog().boms.values()), read_spreadsheet(file.encode(), "boms.csv")
    )
    from stockflow.masterdata_changes import check_changes
    from stockflow.masterdata_import import all_problems

    plan = check_changes(factory_catalog(), prepared.proposals)
    [problem] = all_problems(prepared, plan.by_proposal)
    assert (problem.row, problem.column, problem.reason) == (2, "material", "bom_cycle")
    assert problem.message.fields["path"] == "BASE → LAMP → BASE"


def test_boms_of_skus_in_the_same_import_all_or_nothing_and_only_once(tmp_path):
    store = MasterDataFiles(tmp_path / "masterdata.json", tmp_path / "lake")
    audit = AuditLog(tmp_path)
    store.record([], plant())
    skus = "sku,gtin,name,category,base_unit\nKNOB,6907777099999,旋钮,materials,each\n"
    boms = EN + "\n" + ROWS + row("BULB", "2026-06-01", material="KNOB", qty="1")

    def run(boms: str):
        tables = read_spreadsheet(skus.encode(), "skus.csv") + read_spreadsheet(boms.encode(), "boms.csv")
        return import_master_data(
            store, None, audit, tables, "planner.liu", now=lambda: datetime(2026, 5, 10, 1, tzinfo=UTC)
        )

    broken = run(boms + row("SHADE", "2026-06-01", material="KNOB-9", qty="1"))
    assert found(broken.problems) == {(14, "material", "bom_unknown_material")}
    assert not broken.written and store.load() == plant() and audit.records() == []

    done = run(boms)
    assert done.ok and done.written and done.versions == (1, 4)  # a SKU, three BOMs
    bulb = Bom(product="BULB", effective_from=JUNE, lines=[BomLine(sku="KNOB", qty=Decimal(1))])
    assert store.load().boms == {b.key: b for b in (*GOOD_BOMS, bulb)}
    again = run(boms)
    assert again.ok and not again.written and again.counts["boms"].unchanged == 3
    assert store.load().version == 4 and len(audit.records()) == 1


@pytest.mark.parametrize("chinese", [False, True])
@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_an_export_of_boms_reads_back_as_the_same_boms(form, chinese):
    catalog = plant(*factory_catalog().boms.values(), *GOOD_BOMS)
    if form == "xlsx":
        tables = read_spreadsheet(workbook_bytes(catalog, chinese), "masterdata.xlsx")
    else:
        tables = [
            t
            for table in export_tables(catalog, chinese)
            for t in read_spreadsheet(csv_bytes(table.rows, table.columns), f"{table.entity}.csv")
        ]
    rows = sum(len(b.lines) + sum(len(line.substitutes) for line in b.lines) + len(b.operations)
               for b in catalog.boms.values())  # fmt: skip
    again = prepare_import(catalog, tables, today=TODAY)
    assert again.ok, again.problems[:5]
    counts = again.counts["boms"]
    assert (counts.rows, counts.new, counts.changed, counts.unchanged) == (rows, 0, 0, 4)
    fresh = prepare_import(plant(), tables, today=TODAY)
    assert fresh.ok and proposed(fresh) == catalog.boms


def test_a_bom_row_has_a_column_for_every_field_of_a_bom():
    columns = {c.name for c in ENTITIES["boms"].columns if c.stored}
    assert set(Bom.model_fields) - {"lines", "operations"} <= columns
    assert set(BomLine.model_fields) - {"sku", "substitutes"} <= columns
    assert set(BomSubstitute.model_fields) - {"sku"} <= columns
    assert {f"operation_{f}" if f == "name" else f for f in BomOperation.model_fields} <= columns


# ---------------------------------------------------------------------- bom show
@pytest.fixture
def var(tmp_path, monkeypatch):
    from cli.common import tr

    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    get_settings.cache_clear()
    tr.cache_clear()
    settings = get_settings()
    MasterDataFiles(settings.masterdata_path, settings.lake_dir).record([], factory_catalog())
    yield tmp_path / "var"
    get_settings.cache_clear()
    tr.cache_clear()


def bom(*args: str):
    from cli.main import app

    return CliRunner().invoke(app, ["masterdata", "bom", *args])


def test_bom_show_prints_the_lines_the_routing_and_one_unit_exploded(var, monkeypatch):
    """One lamp: a base, a shade and 1.02 bulbs (2 % break); the base takes 0.25 m² = 25 dm² of
    steel + 10 % = 27.5 dm², 4 screws + 5 % = 4.2 and a cable."""
    exploded = bom("show", "LAMP", "--day", "2026-05-04", "--part", "explosion", "--format", "json")
    assert exploded.exit_code == 0, exploded.output
    assert [(r["bom_level"], r["material"], r["need"], r["base_unit"], r["purchased"])
            for r in json.loads(exploded.stdout)] == [
        (1, "BASE", "1", "each", False), (1, "SHADE", "1", "each", True), (1, "BULB", "1.02", "each", True),
        (2, "STEEL", "27.5", "dm2", True), (2, "SCREW", "4.2", "each", True), (2, "CABLE", "1", "each", True),
    ]  # fmt: skip
    lines = json.loads(bom("show", "BASE", "--day", "2026-05-04", "--format", "json").stdout)
    assert [(r["material"], r["bom_qty"], r["unit"], r["scrap_rate"], r["substitute"], r["priority"], r["ratio"])
            for r in lines] == [
        ("STEEL", "0.25", "m2", "0.10", None, None, None), ("SCREW", "4", "each", "0.05", None, None, None),
        ("CABLE", "1", "each", "0", None, None, None), ("CABLE", None, None, None, "CABLE-B", 1, "1"),
        ("CABLE", None, None, None, "WIRE", 2, "2"),
    ]  # fmt: skip
    routing = json.loads(
        bom("show", "LAMP", "--part", "routing", "--on", "2026-05-04", "--format", "json").stdout
    )
    assert [(r["operation"], r["hours_per_unit"], r["labour_rate"], r["overhead_rate"]) for r in routing] == [
        ("ASSY", "0.5", "40", "20"), ("TEST", "0.1", "30", "10"),
    ]  # fmt: skip

    english = bom("show", "LAMP", "--day", "2026-05-04")
    assert english.exit_code == 0, english.output
    assert "BOM of LAMP Lamp, in effect from 2026-05-01, for 1 each" in english.output
    assert (
        "Scrap rate" in english.output
        and "2.0%" in english.output
        and "Explosion of one each" in english.output
    )
    before = bom("show", "LAMP", "--day", "2026-04-30")
    assert before.exit_code == 1 and "LAMP has no BOM in effect on 2026-04-30" in before.output
    assert bom("show", "LAMP", "--day", "someday").exit_code == 2

    from cli.common import tr

    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "zh_CN")
    get_settings.cache_clear()
    tr.cache_clear()
    chinese = bom("show", "LAMP", "--day", "2026-05-04")
    assert chinese.exit_code == 0, chinese.output
    assert "LAMP Lamp 的物料清单，自 2026-05-01 起生效，基准数量 1 each" in chinese.output
    for header in ("物料编码", "损耗率", "替代料", "工序", "单位工时", "人工费率", "层级", "外购"):
        assert header in chinese.output, header
    assert "Scrap rate" not in chinese.output
    missing = bom("show", "SHADE", "--day", "2026-05-04")
    assert missing.exit_code == 1 and "SHADE 在 2026-05-04 没有生效的物料清单" in missing.output
