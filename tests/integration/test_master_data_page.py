"""The Master data page under Streamlit's AppTest, over a small company whose master data was
written through the core's use case: what each role sees (masked), search and filters, the
completeness metrics, recipes with their versions and components, BOMs with their versions, lines,
substitutes and routing, and every change the page makes checked on disk (catalogue, change log,
audit log) against what was asked."""

from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from stockflow.config import Settings
from stockflow.i18n import Language, catalogue
from stockflow.masking import Area, Role, can_decide, can_view
from stockflow.masterdata import (
    Alias,
    Customer,
    ExchangeRate,
    Location,
    LocationKind,
    Sku,
    SkuStatus,
    Supplier,
)
from stockflow.masterdata_changes import SetAlias, SetRate, Upsert, completeness
from stockflow.services.accounts import add_account
from stockflow.services.masterdata import change_master_data
from stores.accounts import AccountFile
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles, read_change_log

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
PAGE = "pages/master_data.py"
NAMES = {
    Role.MANAGER: "zhou.min",
    Role.WAREHOUSE: "王仓管",
    Role.FINANCE: "li.kuaiji",
    Role.AUDITOR: "sun.shen",
}
PASSWORDS = {role: f"pw-{role.value}-2026" for role in Role}
PHONE, ID_NUMBER = "13812345678", "31011519870412123X"


def gtin(base: str) -> str:
    """A valid GTIN-13: `base` (12 digits) and its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(base))
    return base + str((10 - total % 10) % 10)


MILK = Sku(
    sku="MILK-1L", gtin=gtin("690000000001"), name="鲜牛奶 1L", category="chilled_food",
    status=SkuStatus.ACTIVE, packs={"case": 12}, shelf_life_days=10, batch_managed=True,
    cold_chain_min_c=2, cold_chain_max_c=6, reorder_point=24, supplier="SUP1", moq=12,
    standard_cost=Decimal("6.50"), wholesale_price=Decimal("8.00"), vat_rate=Decimal("0.09"),
)  # fmt: skip
RICE = Sku(
    sku="RICE-5KG", gtin=gtin("690000000002"), name="东北大米 5kg", category="dry_goods",
    status=SkuStatus.DRAFT, supplier="SUP1",
)  # fmt: skip
PHONE_X = Sku(
    sku="PHONE-X", gtin=gtin("690000000003"), name="Phone X", category="electronics",
    status=SkuStatus.ACTIVE, serial_managed=True,
)  # fmt: skip


def write_company(var: Path) -> None:
    """Master data through the core's one use case, and one account per role."""
    settings = Settings(var_dir=var)
    proposals = [
        Upsert(Supplier(supplier="SUP1", name="光明乳业", lead_time_days=2, phone=PHONE)),
        Upsert(
            Location(
                location="WH1", name="上海仓", kind=LocationKind.WAREHOUSE, latitude=31.2, longitude=121.4
            )
        ),
        Upsert(
            Location(location="S1", name="徐汇店", kind=LocationKind.STORE, latitude=31.19, longitude=121.43)
        ),
        Upsert(Customer(customer="CUS1", name="张三餐饮", phone=PHONE, id_number=ID_NUMBER)),
        Upsert(MILK),
        Upsert(RICE),
        Upsert(PHONE_X),
        SetAlias(Alias(system="legacy_erp", code="A-778", kind="sku", target="RICE-5KG")),
        SetRate(ExchangeRate(currency="USD", valid_from="2026-01-01", rate=Decimal("7.1"))),
    ]
    result = change_master_data(
        MasterDataFiles(settings.masterdata_path, settings.lake_dir), None, AuditLog(var), proposals, "setup"
    )
    assert result.ok, result.problems
    book = AccountFile(var / "accounts.json")
    for role, name in NAMES.items():
        add_account(book, AuditLog(var), name, role, PASSWORDS[role], "test-admin")


@pytest.fixture
def company(tmp_path, monkeypatch):
    var = tmp_path / "var"
    write_company(var)
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")  # no stream workers: changes are recorded only
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    return var


def open_page(role: Role) -> AppTest:
    """The Master data page, signed in through the form as `role`'s person."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sign_in_name").input(NAMES[role])
    at.text_input(key="sign_in_password").input(PASSWORDS[role])
    at.button[0].click().run()
    assert at.session_state["account"] == NAMES[role], [e.value for e in at.error]
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def en(key: str, **fields) -> str:
    message = catalogue(Language.EN)[key]
    return message.format(**fields) if fields else message


def table(at: AppTest, first_header: str):
    """The table whose first column has this English header."""
    found = [d.value for d in at.dataframe if d.value.columns[0] == en(f"column.{first_header}")]
    assert found, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def stored(var: Path):
    return MasterDataFiles(var / "masterdata.json", var / "lake").load()


def test_who_sees_and_who_changes_master_data():
    for role in Role:
        assert can_view(role, Area.MASTER_DATA)
    assert can_decide(Role.MANAGER, Area.MASTER_DATA) and can_decide(Role.WAREHOUSE, Area.MASTER_DATA)
    assert not can_decide(Role.FINANCE, Area.MASTER_DATA) and not can_decide(Role.AUDITOR, Area.MASTER_DATA)
    # the rules of the other areas stay as they were
    assert not can_view(Role.FINANCE, Area.STOCK) and not can_view(Role.WAREHOUSE, Area.FINANCE)
    assert not can_decide(Role.FINANCE, Area.PLANNING)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.AUDITOR])
def test_finance_and_the_auditor_see_master_data_masked_and_change_nothing(company, role):
    at = open_page(role)
    assert at.title[0].value == "Master data"
    assert en("master_data.cannot_change") in [c.value for c in at.caption]
    assert not [b for b in at.button if b.key and b.key.startswith("md_")]  # no action at all
    assert not [w for w in at.text_input if (w.key or "").startswith("md_sku_")]  # no form either
    assert not at.file_uploader
    skus = table(at, "sku")
    assert list(skus[en("column.sku")]) == ["MILK-1L", "PHONE-X", "RICE-5KG"]
    customers = table(at, "customer")
    assert customers[en("column.phone")].tolist() == ["138****5678"]  # nobody sees it whole
    id_shown = customers[en("column.id_number")].tolist()
    assert id_shown == ([ID_NUMBER] if role is Role.AUDITOR else ["3****************X"])
    assert table(at, "supplier")[en("column.phone")].tolist() == ["138****5678"]
    assert PHONE not in str([d.value.to_csv() for d in at.dataframe])


def test_each_sku_shows_its_completeness_and_the_company_its_average_and_states(company):
    at = open_page(Role.MANAGER)
    scores = {s.sku: completeness(s) for s in (MILK, RICE, PHONE_X)}
    assert scores["MILK-1L"] == (100, [])
    skus = table(at, "sku").set_index(en("column.sku"))
    for code, (score, missing) in scores.items():
        assert skus.loc[code, en("column.completeness")] == score
        shown_missing = skus.loc[code, en("column.missing")]
        assert shown_missing == ", ".join(en(f"column.{name}") for name in missing)
    assert skus.loc["RICE-5KG", en("column.status")] == "draft"
    assert skus.loc["MILK-1L", en("column.gtin")] == "0" + MILK.gtin[-13:]
    assert skus.loc["MILK-1L", en("column.packs")] == "case=12"
    average = sum(score for score, _ in scores.values()) / len(scores)
    assert metric(at, en("master_data.skus")) == "3"
    assert metric(at, en("master_data.average_completeness")) == f"{average:.1f}%"
    assert [metric(at, w) for w in ("Draft", "Active", "Frozen", "Archived")] == ["1", "2", "0", "0"]
    assert table(at, "location")[en("column.kind")].tolist() == [
        "store",
        "warehouse",
    ]  # words, sorted by code
    assert table(at, "system").values.tolist() == [["legacy_erp", "A-778", "SKU", "RICE-5KG"]]
    assert table(at, "currency")[en("column.rate")].tolist() == ["7.1"]


def test_search_finds_a_sku_by_code_name_gtin_or_alias_and_filters_by_status(company):
    at = open_page(Role.WAREHOUSE)

    def codes() -> list[str]:
        return table(at, "sku")[en("column.sku")].tolist()

    for query, expected in [
        ("milk", ["MILK-1L"]),  # code, any case
        ("大米", ["RICE-5KG"]),  # name
        (RICE.gtin[-5:], ["RICE-5KG"]),  # part of its GTIN
        ("a-778", ["RICE-5KG"]),  # another system's code
        ("nothing-like-this", []),
    ]:
        at.text_input(key="md_search").input(query).run()
        assert codes() == expected, query
    at.text_input(key="md_search").input("").run()
    at.multiselect(key="md_status").select("active").run()
    assert codes() == ["MILK-1L", "PHONE-X"]
    assert en("master_data.shown", shown="2", total="3") in [c.value for c in at.caption]


def test_a_new_sku_starts_as_a_draft_recorded_under_the_signed_in_person(company):
    var = company
    at = open_page(Role.WAREHOUSE)
    before = stored(var).version
    at.text_input(key="md_sku_code").input("TEA-250G")
    at.text_input(key="md_sku_gtin").input(gtin("690000000004"))
    at.text_input(key="md_sku_name").input("龙井茶 250g")
    at.text_input(key="md_sku_category").input("tea")  # a category of the company's own
    at.text_input(key="md_sku_packs").input("case=20")
    at.selectbox(key="md_sku_supplier").set_value("SUP1")
    at.text_input(key="md_sku_standard_cost").input("35.80")
    at.button(key="md_sku_save").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        en("master_data.sku_created", sku="TEA-250G", version=before + 1)
    ]
    tea = stored(var).skus["TEA-250G"]
    assert (
        tea.status is SkuStatus.DRAFT and tea.packs == {"case": 20} and tea.standard_cost == Decimal("35.80")
    )
    assert tea.category == "tea" and tea.supplier == "SUP1" and tea.base_unit == "each"
    change = read_change_log(var / "lake")[-1]
    assert (change["event_type"], change["code"], change["actor"]) == (
        "sku_upserted",
        "TEA-250G",
        NAMES[Role.WAREHOUSE],
    )
    entry = AuditLog(var).records()[-1]
    assert (entry["actor"], entry["role"], entry["action"]) == (
        NAMES[Role.WAREHOUSE],
        "warehouse",
        "masterdata.changed",
    )
    # the page shows it at once, and the form now edits it
    assert "TEA-250G" in table(at, "sku")[en("column.sku")].tolist()
    assert at.selectbox(key="md_edit_choice").value == "TEA-250G"
    assert at.text_input(key="md_sku_code").disabled


def test_an_existing_sku_changes_what_may_change_and_the_core_refuses_the_rest(company):
    var = company
    at = open_page(Role.MANAGER)
    at.selectbox(key="md_edit_choice").set_value("MILK-1L").run()
    assert at.text_input(key="md_sku_name").value == MILK.name
    assert at.text_input(key="md_sku_base_unit").disabled and at.checkbox(key="md_sku_batch_managed").disabled
    version = stored(var).version
    # the import's rules hold for the form too: a MOQ of whole cases
    at.text_input(key="md_sku_packs").input("case=24")  # a form's fields go with its button
    at.button(key="md_sku_save").click().run()
    assert stored(var).version == version
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(en("master_data.refused"))
    moq = en("masterdata.import.moq_not_whole_packs", moq=12, base_unit="each", unit="case", factor=24)
    assert f"{en('column.moq')}: {moq}" in errors[0]
    # a pack's size once defined never changes: the core's refusal, nothing written
    at.text_input(key="md_sku_packs").input("case=24")
    at.number_input(key="md_sku_moq").set_value(48)
    at.button(key="md_sku_save").click().run()
    assert stored(var).version == version
    assert (
        en("masterdata.problem.pack_changed", code="MILK-1L", unit="case", old=12, new=24)
        in at.error[0].value
    )
    # a GTIN that is not a GS1 number
    at.text_input(key="md_sku_packs").input("case=12;pallet=480")
    at.number_input(key="md_sku_moq").set_value(12)
    at.text_input(key="md_sku_gtin").input("6900000000015")
    at.button(key="md_sku_save").click().run()
    assert "GTIN “6900000000015” is not valid" in at.error[0].value  # its label is in the message
    assert stored(var).version == version
    # a new pack and a new name are fine
    at.text_input(key="md_sku_gtin").input(MILK.gtin)
    at.text_input(key="md_sku_name").input("鲜牛奶 1升")
    at.button(key="md_sku_save").click().run()
    assert [s.value for s in at.success] == [en("master_data.sku_saved", sku="MILK-1L", version=version + 1)]
    milk = stored(var).skus["MILK-1L"]
    assert milk.name == "鲜牛奶 1升" and milk.packs == {"case": 12, "pallet": 480}
    assert milk.status is SkuStatus.ACTIVE and milk.cold_chain_min_c == 2  # untouched fields kept
    # saving it again changes nothing
    at.button(key="md_sku_save").click().run()
    assert [i.value for i in at.info if i.value == en("master_data.unchanged")]
    assert stored(var).version == version + 1


def test_a_form_that_is_not_a_record_says_which_fields(company):
    at = open_page(Role.MANAGER)
    at.text_input(key="md_sku_code").input("bad code!")
    at.text_input(key="md_sku_gtin").input(gtin("690000000005"))
    at.text_input(key="md_sku_packs").input("case")
    at.text_input(key="md_sku_category").input("chilled_food")  # perishable: needs a shelf life
    at.button(key="md_sku_save").click().run()
    error = at.error[0].value
    assert f"{en('column.sku')}: {en('masterdata.import.bad_code', value='bad code!')}" in error
    assert f"{en('column.packs')}: {en('masterdata.import.bad_pack', value='case')}" in error
    assert en("masterdata.import.required", column=en("column.name")) in error  # said once, by its label
    assert f"{en('column.name')}: {en('column.name')}" not in error
    assert en("column.shelf_life_days") + ": " in error
    assert "bad code!" not in stored(company).skus and len(stored(company).skus) == 3


def test_the_lifecycle_offers_only_the_allowed_moves_and_needs_a_reason(company):
    var = company
    at = open_page(Role.WAREHOUSE)
    at.selectbox(key="md_life_sku").set_value("RICE-5KG").run()
    assert at.radio(key="md_life_to").options == ["active", "archived"]
    at.radio(key="md_life_to").set_value("active")
    at.button(key="md_life_apply").click().run()
    assert [w.value for w in at.warning] == [en("master_data.reason_needed")]
    assert stored(var).skus["RICE-5KG"].status is SkuStatus.DRAFT
    at.text_input(key="md_life_reason").input("供应商资料已核对")
    at.button(key="md_life_apply").click().run()
    assert not at.exception, at.exception
    version = stored(var).version
    assert [s.value for s in at.success] == [
        en("master_data.status_changed", sku="RICE-5KG", status="active", version=version)
    ]
    assert stored(var).skus["RICE-5KG"].status is SkuStatus.ACTIVE
    entry = AuditLog(var).records()[-1]
    assert (entry["actor"], entry["reason"]) == (NAMES[Role.WAREHOUSE], "供应商资料已核对")
    # the page moved on: the SKU is active and may only be frozen now
    assert at.radio(key="md_life_to").options == ["frozen"]
    assert at.text_input(key="md_life_reason").value == ""
    assert metric(at, "Draft") == "0" and metric(at, "Active") == "3"


def test_aliases_are_set_and_removed_and_an_unknown_target_is_refused(company):
    var = company
    at = open_page(Role.MANAGER)
    at.text_input(key="md_alias_system").input("meituan")
    at.text_input(key="md_alias_code").input("MT-1")
    at.text_input(key="md_alias_target").input("NO-SUCH-SKU")
    at.button(key="md_alias_add").click().run()
    assert en("masterdata.problem.unknown_sku_alias", code="MT-1", target="NO-SUCH-SKU") in at.error[0].value
    at.text_input(key="md_alias_target").input("MILK-1L")
    at.button(key="md_alias_add").click().run()
    assert stored(var).resolve("sku", "MT-1") == "MILK-1L"
    assert ["meituan", "MT-1", "SKU", "MILK-1L"] in table(at, "system").values.tolist()
    at.selectbox(key="md_alias_remove").set_value("sku|legacy_erp|A-778")
    at.button(key="md_alias_remove_button").click().run()
    version = stored(var).version
    assert [s.value for s in at.success] == [en("master_data.alias_removed", code="A-778", version=version)]
    assert "sku|legacy_erp|A-778" not in stored(var).aliases
    assert table(at, "system")[en("column.code")].tolist() == ["MT-1"]


# ----------------------------------------------------------------------------- import
TEA, GREEN = gtin("690000000011"), gtin("690000000012")
#: a file with a good row and three that are not: a GTIN, a supplier that does not exist, no code
FAULTY_SKUS = (
    "sku,gtin,name,category,supplier,packs\n"
    f"TEA-1,{TEA},龙井茶 250g,tea,SUP1,case=20\n"
    "BAD-GTIN,6900000000015,坏条码,tea,,\n"
    f"NO-SUP,{GREEN},碧螺春 250g,tea,SUP9,\n"
    f",{gtin('690000000013')},无编码,tea,,\n"
).encode()
CLEAN_SKUS = (
    "sku,gtin,name,category,supplier,packs\n"
    f"TEA-1,{TEA},龙井茶 250g,tea,SUP2,case=20\n"
    f"TEA-2,{GREEN},碧螺春 250g,tea,SUP2,\n"
).encode()
CLEAN_SUPPLIERS = "supplier,name,lead_time_days,phone\nSUP2,杭州茶叶公司,3,0571-88880000\n".encode()


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    """Files chosen in the uploader (a browser runs the page again then)."""
    at.file_uploader(key="md_import_files").set_value([(name, data, "text/csv") for name, data in files])
    return at.run()


def imports(var: Path) -> list[dict]:
    return [r for r in AuditLog(var).records() if r and r["action"] == "masterdata.imported"]


def test_a_dry_run_shows_every_problem_of_the_files_and_writes_nothing(company):
    var = company
    at = open_page(Role.MANAGER)
    assert at.button(key="md_import_check").disabled and at.button(key="md_import_run").disabled
    before, entries = stored(var), len(AuditLog(var).records())
    upload(at, ("skus.csv", FAULTY_SKUS))
    at.button(key="md_import_check").click().run()
    assert not at.exception, at.exception
    assert en("master_data.import_problems", count="3") in [e.value for e in at.error]
    problems = table(at, "file")
    assert list(problems.columns) == [
        en(f"column.{c}") for c in ("file", "row", "column", "reason", "message")
    ]
    rows = problems.values.tolist()
    assert [row[:4] for row in rows] == [
        ["skus.csv", 3, "gtin", "bad_gtin"],
        ["skus.csv", 4, "supplier", "unknown_supplier"],
        ["skus.csv", 5, "sku", "required"],
    ]
    assert rows[1][4] == en("masterdata.problem.unknown_supplier", code="NO-SUP", supplier="SUP9")
    assert rows[0][4].startswith("GTIN “6900000000015” is not valid")
    # nothing written, and nothing to import until a dry run of the files is clean
    assert at.button(key="md_import_run").disabled
    assert stored(var) == before and len(AuditLog(var).records()) == entries
    assert "TEA-1" not in stored(var).skus


def test_a_clean_dry_run_lets_the_files_be_imported_all_at_once(company):
    var = company
    at = open_page(Role.WAREHOUSE)
    version = stored(var).version
    upload(at, ("skus.csv", CLEAN_SKUS), ("suppliers.csv", CLEAN_SUPPLIERS))
    at.button(key="md_import_check").click().run()
    assert [s.value for s in at.success] == [en("master_data.import_clean", changes="3")]
    counts = table(at, "entity").set_index(en("column.entity"))
    assert counts.loc[en("value.entity.skus"), en("column.new")] == 2
    assert counts.loc[en("value.entity.suppliers"), en("column.rows")] == 1
    assert stored(var).version == version and not imports(var)  # checked, not written
    assert not at.button(key="md_import_run").disabled
    at.button(key="md_import_run").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        en("master_data.imported", changes=3, first=version + 1, last=version + 3)
    ]
    catalog = stored(var)
    assert catalog.skus["TEA-1"].supplier == "SUP2" and catalog.skus["TEA-2"].status is SkuStatus.ACTIVE
    assert catalog.suppliers["SUP2"].lead_time_days == 3
    [entry] = imports(var)
    assert (entry["actor"], entry["role"]) == (NAMES[Role.WAREHOUSE], "warehouse")
    assert "TEA-2" in table(at, "sku")[en("column.sku")].tolist()  # shown at once
    assert at.button(key="md_import_run").disabled  # imported: once is enough
    # other files: a dry run of them first
    upload(at, ("skus.csv", CLEAN_SKUS.replace(b"case=20", b"case=20;pallet=400")))
    assert at.button(key="md_import_run").disabled
    assert en("master_data.import_check_first") in [c.value for c in at.caption]
    at.button(key="md_import_check").click().run()
    assert [s.value for s in at.success] == [en("master_data.import_clean", changes="1")]


def test_a_workbook_with_chinese_sheets_and_headers_is_imported(company):
    from stores.spreadsheets import workbook_bytes

    var = company
    catalog = stored(var)
    extra = Sku(sku="TEA-9", gtin=TEA, name="白茶", category="tea", supplier="SUP1", status=SkuStatus.DRAFT)
    book = workbook_bytes(catalog.model_copy(update={"skus": {**catalog.skus, "TEA-9": extra}}), chinese=True)
    at = open_page(Role.MANAGER)
    at.file_uploader(key="md_import_files").set_value(("主数据.xlsx", book, "application/vnd.ms-excel"))
    at.run()
    at.button(key="md_import_check").click().run()
    assert [s.value for s in at.success] == [
        en("master_data.import_clean", changes="1")
    ]  # the rest is as it is
    at.button(key="md_import_run").click().run()
    assert stored(var).skus["TEA-9"] == extra


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_page_speaks_one_language(company, monkeypatch, language):
    """As every page: no key and no label of the other language (the checks of test_dashboards)."""
    from tests.integration.test_dashboards import HAN, KEY_LIKE, english_words, labels_on

    monkeypatch.setenv("STOCKFLOW_LANGUAGE", language)
    add_recipes(company)  # the recipes' tables and captions too
    add_boms(company)  # and the BOMs'
    at = open_page(Role.MANAGER)
    at.selectbox(key="md_edit_choice").set_value("MILK-1L").run()
    upload(at, ("skus.csv", FAULTY_SKUS))
    at.button(key="md_import_check").click().run()  # the problems' table and notice too
    assert at.error and any(d.value.shape[0] == 3 for d in at.dataframe)
    problems = []
    for kind, texts in labels_on(at).items():
        for text in texts:
            if KEY_LIKE.fullmatch(text.strip()):
                problems.append((kind, "key", text))
            elif (
                language == "zh_CN"
                and english_words(text)
                and (not HAN.search(text) or kind in ("headers", "metrics", "tabs"))
            ):
                problems.append((kind, "english", text))
            elif language == "en" and HAN.search(text) and kind not in ("notices", "values"):
                problems.append((kind, "chinese", text))
    assert not problems, problems
    if language == "zh_CN":
        statuses = table_zh(at)
        assert set(statuses) <= {"新建", "启用", "冻结", "归档"}


def table_zh(at: AppTest) -> list[str]:
    header = catalogue(Language.ZH_CN)["column.status"]
    return [v for d in at.dataframe if header in d.value.columns for v in d.value[header]]


def test_every_word_the_page_shows_of_a_vocabulary_is_in_both_catalogues():
    from stockflow.masterdata import NegativeStockPolicy, ValuationMethod

    for language in Language:
        known = catalogue(language)
        assert all(f"value.status.{s.value}" in known for s in SkuStatus)
        assert all(f"value.kind.{k.value}" in known for k in LocationKind)
        assert all(f"value.kind.{k}" in known for k in ("sku", "location"))
        assert all(f"value.negative_stock.{p.value}" in known for p in NegativeStockPolicy)
        assert all(f"value.valuation_method.{m.value}" in known for m in ValuationMethod)
        fields = [*Sku.model_fields, "cold_chain", "missing", "completeness"]
        assert [f for f in fields if f"column.{f}" not in known] == []


# ----------------------------------------------------------------------------- recipes
def add_recipes(var: Path) -> None:
    """Two ingredients, a dish, and two versions of its recipe (the second from October),
    through the core's one use case."""
    from datetime import date

    from stockflow.masterdata import Recipe, RecipeComponent, SkuKind
    from stockflow.masterdata_changes import SetRecipe

    flour = Sku(sku="FLOUR", gtin=gtin("690000000021"), name="面粉", category="ingredients", base_unit="g",
                packs={"kg": 1000}, standard_cost=Decimal("0.006"))  # fmt: skip
    pork = Sku(sku="PORK", gtin=gtin("690000000022"), name="猪肉", category="ingredients", base_unit="g",
               standard_cost=Decimal("0.032"))  # fmt: skip
    dumpling = Sku(sku="DUMPLING", gtin=gtin("690000000023"), name="水饺", category="dishes",
                   kind=SkuKind.DISH, base_unit="portion", vat_rate=Decimal("0.06"))  # fmt: skip

    def version(day: date, pork_g: str, name: str = "") -> Recipe:
        return Recipe(
            product="DUMPLING", effective_from=day, name=name,
            components=[RecipeComponent(sku="FLOUR", qty=Decimal("0.12"), unit="kg"),
                        RecipeComponent(sku="PORK", qty=Decimal(pork_g), loss_rate=Decimal("0.1"))],
        )  # fmt: skip

    today = date(2026, 1, 1)
    proposals = [Upsert(flour), Upsert(pork), Upsert(dumpling)]
    proposals += [SetRecipe(version(date(2026, 3, 1), "90", "猪肉水饺"), today)]
    proposals += [SetRecipe(version(date(2026, 10, 1), "100"), today)]
    settings = Settings(var_dir=var)
    store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
    result = change_master_data(store, None, AuditLog(var), proposals, "setup")
    assert result.ok, result.problems


def test_recipes_show_every_version_and_the_components_of_the_one_chosen(company):
    at = open_page(Role.AUDITOR)  # anyone who sees master data sees recipes
    assert en("master_data.no_recipes") in [i.value for i in at.info]
    add_recipes(company)
    at = open_page(Role.AUDITOR)
    assert en("master_data.recipes_caption") in [c.value for c in at.caption]
    versions = table(at, "product")
    assert list(versions.columns) == [
        en(f"column.{c}") for c in ("product", "name", "store", "effective_from", "yield_qty", "components")
    ]
    assert versions.values.tolist() == [
        ["DUMPLING", "猪肉水饺", "all stores", "2026-03-01", "1", 2],
        ["DUMPLING", "水饺", "all stores", "2026-10-01", "1", 2],  # no name of its own: the dish's
    ]
    choice = at.selectbox(key="md_recipe_choice")
    assert choice.value == "DUMPLING|*|2026-03-01"
    assert choice.options == [
        en("master_data.recipe_named", product="DUMPLING", name="猪肉水饺", store="all stores",
           effective_from="2026-03-01"),
        en("master_data.recipe_named", product="DUMPLING", name="水饺", store="all stores",
           effective_from="2026-10-01"),
    ]  # fmt: skip
    assert table(at, "component").values.tolist() == [
        ["FLOUR", "面粉", "0.12", "kg", "0.0%"],
        ["PORK", "猪肉", "90", "g", "10.0%"],
    ]
    assert en("master_data.recipe_yield", yield_qty="1", unit="portion") in [c.value for c in at.caption]
    choice.set_value("DUMPLING|*|2026-10-01").run()
    assert table(at, "component")[en("column.recipe_qty")].tolist() == ["0.12", "100"]


# ----------------------------------------------------------------------------- BOMs
def add_boms(var: Path) -> None:
    """A lamp of a base and a bulb, the base of steel and a cable (with a substitute), in two
    versions of the lamp's BOM (the second from October, without a routing), through the core's
    one use case."""
    from datetime import date

    from stockflow.masterdata import Bom, BomLine, BomOperation, BomSubstitute
    from stockflow.masterdata_changes import SetBom

    def part(code: str, name: str, base: str, unit: str = "each", **kw) -> Sku:
        return Sku(sku=code, gtin=gtin(base), name=name, category="materials", base_unit=unit, **kw)

    skus = [
        part("STEEL", "钢板", "690000000031", "dm2", packs={"m2": 100}),
        part("CABLE", "电源线", "690000000032"),
        part("CABLE-B", "电源线B", "690000000033"),
        part("BULB", "灯泡", "690000000034"),
        part("BASE", "灯座", "690000000035"),
        part("LAMP", "台灯", "690000000036"),
    ]
    cable = BomLine(
        sku="CABLE", qty=Decimal(1),
        substitutes=[BomSubstitute(sku="CABLE-B", ratio=Decimal("1.5"), valid_to=date(2026, 12, 31))],
    )  # fmt: skip
    base = Bom(
        product="BASE", effective_from=date(2026, 3, 1), base_qty=Decimal(10), name="冲压底座",
        lines=[BomLine(sku="STEEL", qty=Decimal("2.5"), unit="m2", scrap_rate=Decimal("0.1")), cable],
        operations=[BomOperation(operation="PRESS", name="冲压", hours_per_unit=Decimal("0.2"),
                                 labour_rate=Decimal(35), overhead_rate=Decimal(25))],
    )  # fmt: skip
    lamp = [
        Bom(product="LAMP", effective_from=day, lines=[BomLine(sku="BASE", qty=Decimal(1)),
                                                      BomLine(sku="BULB", qty=Decimal(bulbs))])
        for day, bulbs in ((date(2026, 3, 1), "1"), (date(2026, 10, 1), "2"))
    ]  # fmt: skip
    today = date(2026, 1, 1)
    proposals = [*map(Upsert, skus), SetBom(base, today), *(SetBom(b, today) for b in lamp)]
    settings = Settings(var_dir=var)
    store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
    result = change_master_data(store, None, AuditLog(var), proposals, "setup")
    assert result.ok, result.problems


def test_boms_show_every_version_and_the_lines_substitutes_and_routing_of_the_one_chosen(company):
    at = open_page(Role.AUDITOR)  # anyone who sees master data sees BOMs
    assert en("master_data.no_boms") in [i.value for i in at.info]
    add_boms(company)
    at = open_page(Role.AUDITOR)
    assert en("master_data.boms_caption") in [c.value for c in at.caption]
    versions = table(at, "product")  # no recipes: the first table of a product is the BOMs'
    assert list(versions.columns) == [
        en(f"column.{c}")
        for c in ("product", "name", "effective_from", "bom_base_qty", "lines", "operations")
    ]
    assert versions.values.tolist() == [
        ["BASE", "冲压底座", "2026-03-01", "10", 2, 1],
        ["LAMP", "台灯", "2026-03-01", "1", 2, 0],  # no name of its own: the product's
        ["LAMP", "台灯", "2026-10-01", "1", 2, 0],
    ]
    choice = at.selectbox(key="md_bom_choice")
    assert choice.value == "BASE|2026-03-01"
    assert choice.options[0] == en(
        "master_data.bom_named", product="BASE", name="冲压底座", effective_from="2026-03-01"
    )
    assert en("master_data.bom_base", base_qty="10", unit="each") in [c.value for c in at.caption]
    assert table(at, "material").values.tolist() == [
        ["STEEL", "钢板", "2.5", "m2", "10.0%", "", "", "", "", ""],
        ["CABLE", "电源线", "1", "each", "0.0%", "", "", "", "", ""],
        ["CABLE", "电源线B", "", "", "", "CABLE-B", "1", "1.5", "", "2026-12-31"],
    ]
    assert table(at, "operation").values.tolist() == [["PRESS", "冲压", "0.2", "35", "25"]]
    choice.set_value("LAMP|2026-10-01").run()
    assert table(at, "material")[en("column.bom_qty")].tolist() == ["1", "2"]
    assert en("master_data.no_routing") in [i.value for i in at.info]


def test_the_page_needs_a_signed_in_role_that_may_see_it(company):
    at = AppTest.from_file(str(Path(APP).parent / PAGE), default_timeout=30).run()
    assert [e.value for e in at.error] == [en("ui.signed_out")]
