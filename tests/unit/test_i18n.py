"""The two catalogues: every key the code uses is in both, the two hold the same keys with the same
fields, and nothing is left untranslated. The oracle reads the .po files with polib-free plain
parsing of the code's syntax tree, not through the translator under test."""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path

import pytest

from stockflow.i18n import Language, catalogue, catalogue_path, company_language, fields, translator
from stockflow.kpis import KPIS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["stockflow", "dashboards", "cli", "streams", "flows", "stores", "simulator"]
KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def keys_used_in_code() -> dict[str, str]:
    """Every `t("literal.key", ...)` or `something.t("literal.key")` call: key → where."""
    used: dict[str, str] = {}
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                func = node.func
                name = (
                    func.id
                    if isinstance(func, ast.Name)
                    else func.attr
                    if isinstance(func, ast.Attribute)
                    else ""
                )
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                # `t("key")`; the dashboards' `Unavailable("key", ...)` reasons and the core's
                # errors a person reads (`ReviewError("refusal.…", ...)`: `stockflow.i18n.Explained`)
                explained = (name.endswith(("Error", "Unavailable")) or name == "Message") and KEY.match(
                    first.value
                )
                if name == "t" or explained:
                    used.setdefault(first.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return used


def raw_entries(language: Language) -> dict[str, str]:
    """msgid → msgstr straight from the file's text (single-line entries, as the catalogues are kept)."""
    text = catalogue_path(language).read_text(encoding="utf-8")
    entries = {}
    for block in re.split(r"\n\s*\n", text):
        match = re.search(r'^msgid "(.*)"\nmsgstr "(.*)"$', block.strip(), re.MULTILINE)
        if match and match.group(1):
            entries[match.group(1)] = match.group(2)
    return entries


def test_the_code_uses_keys_both_catalogues_have():
    used = keys_used_in_code()
    assert len(used) > 50, "the scan found too few messages: is the code still calling t(...)?"
    for language in Language:
        known = raw_entries(language)
        missing = {k: where for k, where in used.items() if k not in known}
        assert not missing, f"missing in {language}: {missing}"


def test_both_catalogues_hold_the_same_keys_with_the_same_fields_and_no_empty_message():
    zh, en = raw_entries(Language.ZH_CN), raw_entries(Language.EN)
    assert set(zh) ^ set(en) == set(), f"only in one catalogue: {sorted(set(zh) ^ set(en))}"
    for key in zh:
        assert KEY.match(key), f"{key!r} is not a key"
        assert zh[key].strip() and en[key].strip(), f"{key} is empty in a catalogue"
        assert fields(zh[key]) == fields(en[key]), f"{key}: the fields differ: {zh[key]!r} / {en[key]!r}"
    duplicated = [k for k in zh if list(raw_entries(Language.ZH_CN)).count(k) > 1]
    assert not duplicated


def test_catalogue_files_have_no_duplicate_ids():
    for language in Language:
        ids = re.findall(r'^msgid "(.+)"$', catalogue_path(language).read_text(encoding="utf-8"), re.M)
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        assert not repeated, f"{language}: {repeated}"


def test_the_chinese_catalogue_is_chinese():
    """A message copied over untranslated: Chinese text has Han characters unless it is only
    fields, numbers, units or a product name."""
    untranslated = [
        key
        for key, message in raw_entries(Language.ZH_CN).items()
        if re.search(
            r"[A-Za-z]{4,}",
            re.sub(r"\{[^}]*\}|`[^`]*`|stockflow|CSV|JSON|SKU|Kafka|Prefect|WAPE|GS1|ID", "", message),
        )
        and not re.search(r"[\u4e00-\u9fff]", message)
    ]
    assert not untranslated, untranslated


def test_every_store_the_pages_read_has_its_messages():
    from dashboards.data import _STORE_MESSAGES

    for language in Language:
        for keys in _STORE_MESSAGES.values():
            assert all(key in catalogue(language) for key in keys)


def test_every_status_word_a_table_shows_has_its_words_in_both_languages():
    """Tables show these vocabularies through `value.<column>.<value>` keys (built at run time,
    so the scan of the code cannot see them): every member needs its words."""
    from stockflow.alerts import AlertType, Severity
    from stockflow.forecasting import Decision, Pattern
    from stockflow.masking import Role
    from stockflow.reconciliation import Action, Classification
    from stockflow.replenishment import SuggestionStatus
    from stockflow.risk import RiskLevel

    vocabularies = {
        "alert_type": AlertType, "severity": Severity, "pattern": Pattern, "status": SuggestionStatus,
        "classification": Classification, "action": Action, "level": RiskLevel,
    }  # fmt: skip
    for language in Language:
        known = catalogue(language)
        for column, members in vocabularies.items():
            missing = [m.value for m in members if f"value.{column}.{m.value}" not in known]
            assert not missing, (language, column, missing)
        assert all(f"value.status.{d.value}" in known for d in Decision) and "value.status.open" in known
        assert all(f"role.{r.value}" in known for r in Role)


def test_every_column_of_a_discrepancy_report_has_a_header():
    from dashboards.data import DISCREPANCY_COLUMNS

    for language in Language:
        assert [c for c in DISCREPANCY_COLUMNS if f"column.{c}" not in catalogue(language)] == []


def test_every_kpi_has_a_title_and_definition_in_both_languages():
    for language in Language:
        for key in KPIS:
            assert f"kpi.{key}.title" in catalogue(language)
            assert f"kpi.{key}.definition" in catalogue(language)


def test_company_language_follows_the_setting_then_the_locale():
    assert company_language("zh-CN") is Language.ZH_CN
    assert company_language("zh_Hans_CN") is Language.ZH_CN
    assert company_language("en-US") is Language.EN
    assert company_language("zh-CN", "en") is Language.EN
    assert company_language("fr-FR") is Language.EN


@pytest.mark.parametrize(
    ("language", "amount", "expected"),
    [
        (Language.ZH_CN, Decimal("1234567.5"), "¥1,234,567.50"),
        (Language.EN, Decimal("1234567.5"), "¥1,234,567.50"),
        (Language.EN, Decimal("-80"), "-¥80.00"),
        (Language.ZH_CN, 0, "¥0.00"),
    ],
)
def test_amounts_are_yuan_with_thousands_separators(language, amount, expected):
    assert translator(language).money(amount) == expected


def test_durations_read_in_each_language():
    assert translator(Language.ZH_CN).duration(3 * 86400) == "3.0 天"
    assert translator(Language.EN).duration(90) == "90.0 s"


def test_an_error_a_person_reads_speaks_their_language():
    from stockflow.accounts import AccountError, check_new_password
    from stockflow.decisions import AlreadyDecided
    from stockflow.i18n import explain

    with pytest.raises(AccountError) as short:
        check_new_password("abc")
    assert str(short.value).startswith("a password needs at least ")
    assert explain(short.value, translator(Language.ZH_CN)).startswith("密码至少需要 ")
    taken = AlreadyDecided("S-1", "rejected", "李会计")
    assert str(taken) == "S-1 was already rejected by 李会计"
    assert explain(taken, translator(Language.ZH_CN)) == "S-1 已由 李会计 处理为“已驳回”"
    assert explain(ValueError("plain"), translator(Language.ZH_CN)) == "plain"


def test_a_missing_key_falls_back_rather_than_breaking_a_page():
    assert translator(Language.EN)("no.such.key") == "no.such.key"
