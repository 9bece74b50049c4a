"""The CLI's tables: every column a command prints has a `column.<name>` header in both
catalogues (the key is built at run time, so the catalogue test's scan cannot see it), and
`print_table` prints csv and json with stable names and a plain table with one line per row.

The oracles: the columns are found by reading the commands' source (every `print_table` call),
the catalogues are read as text (`tests.unit.test_i18n.raw_entries`), and widths are counted
with `unicodedata`, not with rich."""

from __future__ import annotations

import ast
import csv
import io
import json
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cli.common import Format, print_table
from stockflow.i18n import Language
from tests.unit.test_i18n import raw_entries

ROOT = Path(__file__).resolve().parents[2]


def printed_columns() -> dict[str, tuple[str, ...]]:
    """`file:line` of every `print_table(rows, columns, ...)` call in cli/ → its columns: a
    literal tuple or a module-level constant of one."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted((ROOT / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print_table"):
                continue
            where = f"{path.name}:{node.lineno}"
            columns = node.args[1] if len(node.args) > 1 else None
            if isinstance(columns, ast.Name):
                columns = constants.get(columns.id)
            assert isinstance(columns, ast.Tuple | ast.List), (
                f"{where}: columns must be a literal or a constant"
            )
            names = tuple(ast.literal_eval(columns))
            assert all(isinstance(n, str) for n in names), where
            found[where] = names
    return found


def test_every_column_a_command_prints_has_a_header_in_both_catalogues():
    tables = printed_columns()
    # users, devices, audit, webhooks, trial balance, replenish, reconcile, inspect
    assert len(tables) >= 8, tables
    for language in Language:
        known = raw_entries(language)
        missing = {where: [c for c in cols if f"column.{c}" not in known] for where, cols in tables.items()}
        assert not any(missing.values()), f"{language}: {missing}"


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


ROWS = [
    {
        "name": "王" * 40 + " warehouse account with a name far longer than any terminal is wide " * 3,
        "role": "finance",
        "failed_sign_ins": 3,
        "last_sign_in": datetime(2026, 9, 1, 6, 5, tzinfo=UTC),
    },
    {"name": "two\nlines", "role": "auditor", "failed_sign_ins": 12, "last_sign_in": None},
    {"name": "li", "role": "manager", "failed_sign_ins": 0, "last_sign_in": None},
]
COLUMNS = ("name", "role", "failed_sign_ins", "last_sign_in")


def test_a_piped_table_has_one_aligned_line_per_row_however_long_the_values(capsys):
    print_table(ROWS, COLUMNS, Format.TABLE, "title")
    out = capsys.readouterr().out  # not a terminal
    lines = out.splitlines()
    assert len(lines) == 1 + len(ROWS), out
    headers = [raw_entries(Language.EN)[f"column.{c}"] for c in COLUMNS]
    assert lines[0].startswith(headers[0]) and all(h in lines[0] for h in headers)
    assert "title" not in out  # stdout holds the table alone
    # every row's second column starts at the same display column as its header
    starts = {
        display_width(line[: line.index(role)])
        for line, role in zip(lines[1:], ("finance", "auditor", "manager"), strict=True)
    }
    assert starts == {display_width(lines[0][: lines[0].index(headers[1])])}
    assert lines[2].startswith("two lines")
    # numbers are right-aligned: their last digits line up
    ends = {
        display_width(line[: line.index(n) + len(n)])
        for line, n in zip(lines[1:], ("3", "12", "0"), strict=True)
    }
    assert len(ends) == 1


MACHINE_ROWS = [
    {
        "a": Decimal("1234.50"),
        "b": datetime(2026, 9, 1, 6, 5, tzinfo=UTC),
        "c": True,
        "d": ["WH1", "ST01"],
        "e": "甲",
    },
    {"a": None, "b": None, "c": False, "d": [], "e": 'with "quotes", commas'},
]


def test_csv_and_json_carry_the_values_under_their_stable_names(capsys):
    print_table(MACHINE_ROWS, ("a", "b", "c", "d", "e"), Format.CSV)
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows == [
        {"a": "1234.50", "b": "2026-09-01T06:05:00+00:00", "c": "true", "d": "WH1;ST01", "e": "甲"},
        {"a": "", "b": "", "c": "false", "d": "", "e": 'with "quotes", commas'},
    ]
    print_table(MACHINE_ROWS, ("a", "b", "c", "d", "e"), Format.JSON, "title")
    assert json.loads(capsys.readouterr().out) == [
        {"a": "1234.50", "b": "2026-09-01T06:05:00+00:00", "c": True, "d": ["WH1", "ST01"], "e": "甲"},
        {"a": None, "b": None, "c": False, "d": [], "e": 'with "quotes", commas'},
    ]


@pytest.mark.parametrize("output", list(Format))
def test_an_empty_table_is_still_well_formed(capsys, output):
    print_table([], ("name", "role"), output)
    out = capsys.readouterr().out
    if output is Format.JSON:
        assert json.loads(out) == []
    elif output is Format.CSV:
        assert out == "name,role\n"
    else:
        assert out.split() == [
            raw_entries(Language.EN)["column.name"],
            raw_entries(Language.EN)["column.role"],
        ]


def vocabularies():
    """Every fixed-vocabulary column the CLI shows in words: the function that names its values,
    the key prefix, and every value it can hold (from the core's own enums where there is one)."""
    from cli.common import role_name
    from cli.devices import kind_name
    from cli.planning import suggestion_kind, suggestion_status
    from cli.reconcile import action_name, classification_name
    from cli.users import state_name
    from cli.vision import verdict_name
    from stockflow.events import InspectionVerdict
    from stockflow.identity import Kind
    from stockflow.masking import Role
    from stockflow.reconciliation import Action, Classification
    from stockflow.replenishment import SuggestionStatus

    return [
        (role_name, "role.", [r.value for r in Role]),
        (verdict_name, "value.verdict.", [v.value for v in InspectionVerdict]),
        (suggestion_status, "value.status.", [s.value for s in SuggestionStatus]),
        (suggestion_kind, "value.kind.", ["transfer", "purchase"]),  # as stores.planning writes them
        (kind_name, "value.kind.", [k.value for k in Kind]),
        (classification_name, "value.classification.", [c.value for c in Classification]),
        (action_name, "value.action.", [a.value for a in Action]),
        (state_name, "value.state.", ["active", "locked", "disabled"]),  # as `users list` sets them
    ]


def test_every_value_a_table_names_in_words_has_its_words_in_both_catalogues():
    en, zh = raw_entries(Language.EN), raw_entries(Language.ZH_CN)
    for name, prefix, values in vocabularies():
        for value in values:
            key = prefix + value
            assert key in en and key in zh, f"{name.__name__}: {key}"
            assert name(value) == en[key], f"{name.__name__}({value!r}) does not use {key}"
