"""Recipes from spreadsheets and back: one row per component, the rows of one product × store ×
day one version; every problem at the file, row and column a person sees (the catalogue's
recipe rules too: an unknown component at its row's 用料编码); all or nothing; the same file
twice adds nothing; Excel with merged cells; an export read back gives the same recipes; the
in-effect rule on the company's day; and a portion's base quantities and theoretical cost.

The oracles are written out by hand: the recipes the rows must become, the rows and columns of
each problem, and the quantities and costs worked out on paper."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from openpyxl import Workbook

from stockflow.i18n import Language, translator
from stockflow.masterdata import Catalog, Recipe, RecipeComponent
from stockflow.masterdata_import import ENTITIES, export_tables, prepare_import
from stockflow.recipe_costing import portion_sheet
from stockflow.services.masterdata_import import import_master_data
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles
from stores.spreadsheets import csv_bytes, read_spreadsheet, workbook_bytes
from tests.support.restaurant import recipe, restaurant_catalog

TODAY = date(2026, 9, 1)
HEADER = "成品编码,门店,生效日期,出品数量,用料编码,用量,单位,损耗率,配方名称\n"


def kitchen(*versions: Recipe) -> Catalog:
    """The restaurant's SKUs and stores with only these recipes."""
    return restaurant_catalog().model_copy(update={"recipes": {r.key: r for r in versions}})


def component(sku: str, qty: str, unit: str | None = None, loss: str = "0") -> RecipeComponent:
    return RecipeComponent(sku=sku, qty=Decimal(qty), unit=unit, loss_rate=Decimal(loss))


def proposed(prepared) -> dict[str, Recipe]:
    return {p.recipe.key: p.recipe for p in prepared.proposals if hasattr(p, "recipe")}


def found(problems) -> set[tuple[int | None, str, str]]:
    return {(p.row, p.column, p.reason) for p in problems}


GOOD = HEADER + (
    "DUMPLINGS,,2026/9/1,1,FLOUR,120,,,猪肉水饺\n"
    "DUMPLINGS,,2026/9/1,,PORK,0.09,kg,10%,\n"
    "DUMPLINGS,,2026/9/1,,SCALLION,15,g,0.25,\n"
    "DUMPLINGS,R2,2026-09-01,1,FLOUR,130,,,\n"
    "DUMPLINGS,R2,2026-09-01,1,PORK,100,,10%,\n"
    "BROTH,,2026年9月1日,2000,BONES,1.5,kg,20%,骨汤\n"
    "BROTH,,2026年9月1日,2000,GINGER,40,,,骨汤\n"
)
GOOD_RECIPES = [
    Recipe(
        product="DUMPLINGS", effective_from=TODAY, name="猪肉水饺",
        components=[component("FLOUR", "120"), component("PORK", "0.09", "kg", "0.1"),
                    component("SCALLION", "15", "g", "0.25")],
    ),
    Recipe(
        product="DUMPLINGS", store="R2", effective_from=TODAY,
        components=[component("FLOUR", "130"), component("PORK", "100", None, "0.1")],
    ),
    Recipe(
        product="BROTH", effective_from=TODAY, yield_qty=Decimal(2000), name="骨汤",
        components=[component("BONES", "1.5", "kg", "0.2"), component("GINGER", "40")],
    ),
]  # fmt: skip


def test_a_recipes_file_in_chinese_makes_one_version_per_product_store_and_day():
    tables = read_spreadsheet(GOOD.encode("gb18030"), "配方.csv")
    prepared = prepare_import(kitchen(), tables, today=TODAY)
    assert prepared.ok, prepared.problems
    assert proposed(prepared) == {r.key: r for r in GOOD_RECIPES}
    counts = prepared.counts["recipes"]
    assert (counts.rows, counts.new, counts.changed, counts.unchanged) == (7, 3, 0, 0)
    # the same versions in the catalogue already: unchanged; one of them otherwise: changed
    same = prepare_import(kitchen(*GOOD_RECIPES), tables, today=TODAY)
    assert (same.counts["recipes"].unchanged, same.counts["recipes"].new) == (3, 0)
    other = GOOD_RECIPES[2].model_copy(update={"yield_qty": Decimal(1000)})
    changed = prepare_import(kitchen(other, *GOOD_RECIPES[:2]), tables, today=TODAY)
    assert changed.counts["recipes"].changed == 1


#: One problem per row (or two), the comment is the oracle. The catalogue has TEA's version of
#: 2026-08-01 (TEA-LEAF 3) and SET-A (DUMPLINGS and TEA); today is 2026-09-01.
BROKEN = HEADER + (
    "DUMPLINGS,,2026-09-05,1,FLOUR,120,,,\n"  # 2
    "DUMPLINGS,,2026-09-05,1,PORKY,90,,10%,\n"  # 3 no such SKU
    "DUMPLINGS,,2026-09-05,1,SCALLION,15,box,,\n"  # 4 a unit SCALLION does not have
    "FLOUR,,2026-09-05,1,PORK,1,,,\n"  # 5 goods have no recipe
    "NOODLES,R9,2026-09-05,1,FLOUR,150,,,\n"  # 6 no such store
    "BROTH,,2026-09-05,2000,BONES,1500,,,\n"  # 7
    "BROTH,,2026-09-05,2000,TEA,10,,,\n"  # 8 a dish in a semi-finished item
    "TEA,,2026-08-01,1,TEA-LEAF,4,,,\n"  # 9 a version in effect since August changed
    "NOODLES,,2026-09-05,1,FLOUR,0,,,\n"  # 10 no quantity
    "NOODLES,,2026-09-05,1,BROTH,400,,95%,\n"  # 11 all of it lost
    "NOODLES,,2026-09-05,2,GINGER,5,,,\n"  # 12 another yield than row 10's
    "NOODLES,,2026-09-05,1,FLOUR,10,,,\n"  # 13 FLOUR again (row 10)
    "SET-A,,someday,1,TEA,1,,,\n"  # 14 not a date
    "SET-A,,2026-09-05,1,,1,,,\n"  # 15 no component
    "TEA,,2026-09-05,1,SET-A,1,,,\n"  # 16 SET-A holds TEA: TEA → SET-A → TEA
)
BROKEN_EXPECTED = {
    (3, "用料编码", "recipe_unknown_component"),
    (4, "单位", "recipe_component_unit"),
    (5, "成品编码", "recipe_product_kind"),
    (6, "门店", "recipe_unknown_store"),
    (8, "用料编码", "recipe_dish_in_prep"),
    (9, "生效日期", "recipe_in_effect"),
    (10, "用量", "out_of_range"),
    (11, "损耗率", "out_of_range"),
    (12, "出品数量", "recipe_differs"),
    (13, "用料编码", "duplicate_code"),
    (14, "生效日期", "bad_date"),
    (15, "用料编码", "required"),
    (16, "用料编码", "recipe_cycle"),
}


def broken_catalog() -> Catalog:
    return kitchen(
        recipe("TEA", ("TEA-LEAF", "3"), effective_from=date(2026, 8, 1)),
        recipe("SET-A", ("DUMPLINGS", "1"), ("TEA", "1")),
    )


def test_every_problem_of_a_recipes_file_at_its_row_and_column(tmp_path):
    store = MasterDataFiles(tmp_path / "masterdata.json", tmp_path / "lake")
    store.record([], broken_catalog())
    at_noon = datetime(2026, 9, 1, 4, 0, tzinfo=UTC)
    result = import_master_data(
        store, None, AuditLog(tmp_path), read_spreadsheet(BROKEN.encode(), "recipes.csv"), "chef.wang",
        dry_run=True, now=lambda: at_noon, timezone=timezone(timedelta(hours=8)),
    )  # fmt: skip
    assert found(result.problems) == BROKEN_EXPECTED
    assert {p.file for p in result.problems} == {"recipes.csv"}
    by_row = {p.row: p for p in result.problems}
    assert (by_row[3].cell, by_row[4].cell, by_row[6].cell, by_row[9].cell) == ("E3", "G4", "B6", "C9")
    assert by_row[3].message.fields == {"code": "DUMPLINGS", "component": "PORKY"}
    assert by_row[16].message.fields["path"] == "TEA → SET-A → TEA"
    assert by_row[13].message.fields == {"code": "FLOUR", "first": "recipes.csv:10"}
    assert by_row[12].message.fields["first"] == "recipes.csv:10"
    assert by_row[3].code == "DUMPLINGS|*|2026-09-05" and by_row[3].entity == "recipes"
    assert [p.row for p in result.problems] == sorted(p.row for p in result.problems)
    for language in Language:  # every message reads whole in both languages
        for problem in result.problems:
            text = problem.message.text(translator(language))
            assert "{" not in text and not text.startswith("masterdata."), text
    assert not result.written and store.load() == broken_catalog()


def test_a_recipe_of_skus_whose_rows_fail_says_nothing_more_of_them():
    """An ingredient whose own row fails is its row's problem, not also an unknown component."""
    skus = "sku,gtin,name,category,base_unit\nSALT,6901234009996,,ingredients,g\n"
    recipes = "product,effective_from,component,qty\nTEA,2026-09-05,SALT,1\n"
    tables = read_spreadsheet(skus.encode(), "skus.csv") + read_spreadsheet(recipes.encode(), "recipes.csv")
    from stockflow.masterdata_changes import check_changes
    from stockflow.masterdata_import import all_problems

    prepared = prepare_import(kitchen(), tables, today=TODAY)
    plan = check_changes(kitchen(), prepared.proposals)
    assert {(p.file, p.row, p.reason) for p in all_problems(prepared, plan.by_proposal)} == {
        ("skus.csv", 2, "required"),
    }


SKUS = (
    "sku,gtin,name,category,kind,base_unit,packs,shelf_life_days,batch_managed,vat_rate\n"
    "SHRIMP,6901234009989,虾仁,ingredients,商品,g,kg=1000,2,yes,0.09\n"
    "WONTON,6901234009972,鲜虾馄饨,dishes,菜品,portion,,,no,0.06\n"
)
RECIPES = (
    "product,store,effective_from,yield_qty,component,qty,unit,loss_rate,name\n"
    "WONTON,,2026-09-01,1,FLOUR,60,,,鲜虾馄饨\n"
    "WONTON,,2026-09-01,1,SHRIMP,50,,0.1,\n"
    "WONTON,,2026-09-01,1,PORK,30,,10%,\n"
)


def test_recipes_of_skus_in_the_same_import_all_or_nothing_and_only_once(tmp_path):
    store = MasterDataFiles(tmp_path / "masterdata.json", tmp_path / "lake")
    audit = AuditLog(tmp_path)
    store.record([], kitchen())

    def run(recipes: str):
        tables = read_spreadsheet(SKUS.encode(), "skus.csv") + read_spreadsheet(
            recipes.encode(), "recipes.csv"
        )
        return import_master_data(
            store, None, audit, tables, "chef.wang", now=lambda: datetime(2026, 9, 1, 4, tzinfo=UTC)
        )

    broken = run(RECIPES + "TEA,,2026-09-01,1,GREEN-LEAF,3,,,\n")
    assert found(broken.problems) == {(5, "component", "recipe_unknown_component")}
    assert not broken.written and store.load() == kitchen() and audit.records() == []

    done = run(RECIPES)
    assert done.ok and done.written and done.versions == (1, 3)  # two SKUs, one recipe
    wonton = Recipe(
        product="WONTON", effective_from=TODAY, name="鲜虾馄饨",
        components=[component("FLOUR", "60"), component("SHRIMP", "50", None, "0.1"),
                    component("PORK", "30", None, "0.1")],
    )  # fmt: skip
    assert store.load().recipes == {wonton.key: wonton}
    again = run(RECIPES)
    assert again.ok and not again.written and again.counts["recipes"].unchanged == 1
    assert store.load().version == 3 and len(audit.records()) == 1
    # a version in effect today may still be corrected; tomorrow it may not
    corrected = RECIPES.replace("SHRIMP,50", "SHRIMP,55")
    assert run(corrected).written
    tomorrow = import_master_data(
        store, None, audit,
        read_spreadsheet(corrected.replace("55", "60").encode(), "recipes.csv"), "chef.wang",
        now=lambda: datetime(2026, 9, 2, 1, tzinfo=UTC),
    )  # fmt: skip
    assert found(tomorrow.problems) == {(2, "effective_from", "recipe_in_effect")}


def test_the_in_effect_rule_takes_the_company_day(tmp_path):
    """17:00 UTC on 1 September is 2 September already in a company eight hours ahead: TEA's
    version of 1 September is in effect on a past day there, and not yet on a UTC clock."""
    file = read_spreadsheet(
        b"product,effective_from,component,qty\nTEA,2026-09-01,TEA-LEAF,4\n", "recipes.csv"
    )
    evening = datetime(2026, 9, 1, 17, 0, tzinfo=UTC)
    results = {}
    for name, zone in (("ahead", timezone(timedelta(hours=8))), ("utc", UTC)):
        store = MasterDataFiles(tmp_path / name / "masterdata.json", tmp_path / name / "lake")
        store.record([], kitchen(recipe("TEA", ("TEA-LEAF", "3"), effective_from=TODAY)))
        results[name] = import_master_data(
            store, None, AuditLog(tmp_path / name), file, "chef.wang",
            dry_run=True, now=lambda: evening, timezone=zone,
        )  # fmt: skip
    assert found(results["ahead"].problems) == {(2, "effective_from", "recipe_in_effect")}
    assert results["utc"].ok and results["utc"].counts["recipes"].changed == 1


def test_a_workbook_with_merged_product_cells_and_percent_numbers():
    book = Workbook()
    skus = book.active
    skus.title = "商品"
    for row in SKUS.strip().splitlines():
        skus.append(row.split(","))
    recipes = book.create_sheet("配方")
    recipes.append(HEADER.strip().split(","))
    recipes.append(["WONTON", None, date(2026, 9, 1), 1, "FLOUR", 60, None, None, "鲜虾馄饨"])
    recipes.append([None, None, date(2026, 9, 1), 1, "SHRIMP", 50, "g", 0.1, None])
    recipes.append([None, None, date(2026, 9, 1), 1, "PORK", 0.03, "kg", "10%", None])
    recipes.merge_cells("A2:A4")  # the product written once for its rows
    out = io.BytesIO()
    book.save(out)
    prepared = prepare_import(kitchen(), read_spreadsheet(out.getvalue(), "菜单.xlsx"), today=TODAY)
    assert prepared.ok, prepared.problems
    [made] = [p.recipe for p in prepared.proposals if hasattr(p, "recipe")]
    assert made == Recipe(
        product="WONTON", effective_from=TODAY, name="鲜虾馄饨",
        components=[component("FLOUR", "60"), component("SHRIMP", "50", "g", "0.1"),
                    component("PORK", "0.03", "kg", "0.1")],
    )  # fmt: skip


@pytest.mark.parametrize("chinese", [False, True])
@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_an_export_of_recipes_reads_back_as_the_same_recipes(form, chinese):
    catalog = restaurant_catalog()
    variant = recipe("DUMPLINGS", ("FLOUR", "130"), ("PORK", "0.1", "0.1"), store="R2", name="二店水饺")
    later = Recipe(
        product="TEA", effective_from=date(2026, 10, 1), yield_qty=Decimal("2"),
        components=[component("TEA-LEAF", "0.005", "kg", "0.05")],
    )  # fmt: skip
    catalog.recipes.update({variant.key: variant, later.key: later})
    if form == "xlsx":
        tables = read_spreadsheet(workbook_bytes(catalog, chinese), "masterdata.xlsx")
    else:
        tables = [
            t
            for table in export_tables(catalog, chinese)
            for t in read_spreadsheet(csv_bytes(table.rows, table.columns), f"{table.entity}.csv")
        ]
    rows = sum(len(r.components) for r in catalog.recipes.values())
    again = prepare_import(catalog, tables, today=TODAY)
    assert again.ok, again.problems[:5]
    counts = again.counts["recipes"]
    assert (counts.rows, counts.new, counts.changed, counts.unchanged) == (rows, 0, 0, 7)
    fresh = prepare_import(kitchen(), tables, today=TODAY)
    assert fresh.ok and proposed(fresh) == catalog.recipes


def test_a_recipe_row_has_a_column_for_every_field_of_a_recipe():
    columns = {c.name for c in ENTITIES["recipes"].columns if c.stored}
    assert set(Recipe.model_fields) - {"components"} <= columns
    assert set(RecipeComponent.model_fields) - {"sku"} <= columns


# ---------------------------------------------------------------------- a portion and its cost
COSTS = {
    "FLOUR": "0.006", "PORK": "0.032", "SCALLION": "0.012", "BONES": "0.015", "GINGER": "0.02",
    "TEA-LEAF": "0.5", "BROTH": "0.014",
}  # fmt: skip


def costed() -> Catalog:
    catalog = restaurant_catalog()
    skus = {
        code: sku.model_copy(update={"standard_cost": Decimal(COSTS[code])}) if code in COSTS else sku
        for code, sku in catalog.skus.items()
    }
    variant = recipe(
        "DUMPLINGS", ("FLOUR", "120"), ("PORK", "100", "0.1"), ("SCALLION", "15", "0.25"), store="R2"
    )
    return catalog.model_copy(update={"skus": skus, "recipes": {**catalog.recipes, variant.key: variant}})


@pytest.mark.parametrize(
    ("product", "store", "lines", "cost"),
    [
        # 120 g; 90 g ÷ 0.9 = 100 g; 15 g ÷ 0.75 = 20 g → 0.72 + 3.20 + 0.24
        (
            "DUMPLINGS",
            None,
            [("FLOUR", "120", "0.72"), ("PORK", "100", "3.20"), ("SCALLION", "20", "0.24")],
            "4.16",
        ),
        # R2's own: 100 g ÷ 0.9 = 111.1111 g × 0.032 = 3.5556 → 0.72 + 3.5556 + 0.24 = 4.5156
        (
            "DUMPLINGS",
            "R2",
            [("FLOUR", "120", "0.72"), ("PORK", "111.1111", "3.56"), ("SCALLION", "20", "0.24")],
            "4.52",
        ),
        (
            "DUMPLINGS",
            "R1",
            [("FLOUR", "120", "0.72"), ("PORK", "100", "3.20"), ("SCALLION", "20", "0.24")],
            "4.16",
        ),
        # broth at its standard cost: 400 ml × 0.014
        ("NOODLES", None, [("FLOUR", "150", "0.90"), ("BROTH", "400", "5.60")], "6.50"),
        # a set meal: each dish at what its recipe costs
        ("SET-A", None, [("DUMPLINGS", "1", "4.16"), ("TEA", "1", "1.50")], "5.66"),
        # 2,000 ml a round: 1500 g ÷ 0.8 ÷ 2000 = 0.9375 g; 40 g ÷ 2000 = 0.02 g → 0.0140625 + 0.0004
        ("BROTH", None, [("BONES", "0.9375", "0.01"), ("GINGER", "0.02", "0.00")], "0.01"),
    ],
)
def test_a_portion_in_base_units_with_its_loss_and_its_cost(product, store, lines, cost):
    sheet = portion_sheet(costed(), product, store, TODAY)
    assert sheet is not None
    assert [(line.component, line.base_qty, line.cost) for line in sheet.lines] == [
        (c, Decimal(q), Decimal(m)) for c, q, m in lines
    ]
    assert sheet.cost == Decimal(cost) and sheet.cost.as_tuple().exponent == -2


def test_no_portion_before_the_first_version():
    assert portion_sheet(costed(), "DUMPLINGS", None, date(2026, 2, 28)) is None
    assert portion_sheet(costed(), "NO-SUCH-DISH", "R1", TODAY) is None
