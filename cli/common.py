"""What the command groups share: the console, the interface's language, tables in three formats,
who is running them, logging, a Prefect server."""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from functools import lru_cache
from typing import Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stockflow.config import get_settings
from stockflow.i18n import Translator, translator

#: People's messages, never hard-wrapped (a terminal wraps them, a log keeps each on one line);
#: stdout carries what a command prints as its result.
console = Console(stderr=True, soft_wrap=True)

#: How a table shows one column's value to a person (`table` format only; csv and json keep the value).
Shown = Callable[[Any], str]

COLUMN_GAP = "  "  # between the columns of the plain table


@lru_cache(maxsize=1)
def tr() -> Translator:
    """The company's interface language (`STOCKFLOW_LANGUAGE`, else from `STOCKFLOW_LOCALE`)."""
    return translator(get_settings().interface_language)


def t(key: str, /, **values: Any) -> str:
    """A message of the CLI in the company's language (see `stockflow.i18n`)."""
    return tr()(key, **values)


def explained(error: BaseException) -> str:
    """An error in the interface's language where it carries a message key (the core's refusals),
    its own text otherwise."""
    from stockflow.i18n import explain

    return explain(error, tr())


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def format_option() -> Any:
    """`--format table|csv|json` for every command that prints a table."""
    return typer.Option(Format.TABLE, "--format", case_sensitive=False, help=t("cli.option.format"))


def column_title(name: str) -> str:
    """A column's header in the interface's language (`column.<name>`; every column a command
    prints has one, see tests/unit/test_cli_tables.py)."""
    return tr().get(f"column.{name}", name)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    output: Format,
    title: str | None = None,
    *,
    shown: Mapping[str, Shown] | None = None,
    note: str | None = None,
) -> None:
    """Rows to stdout. `table`: headers in the interface's language (`column.<name>`), values as
    `shown` says (else a plain rendering); a boxed table on a terminal wide enough for it, else a
    plain aligned one with one line per row that never wraps and no title. `note` (what the
    table leaves out) goes under a boxed table, else to stderr. `csv` and `json`: the
    columns' stable names as headers and keys and the values themselves (ISO times, amounts as
    exact decimal strings), the same in every language, for scripts."""
    if output is Format.JSON:
        doc = [{c: machine_value(r.get(c)) for c in columns} for r in rows]
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    elif output is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([csv_value(r.get(c)) for c in columns] for r in rows)
    if output is not Format.TABLE:
        if note:
            console.print(Text(note))
        return
    if not rows:
        console.print(t("cli.table.empty"), markup=False)
    shown = shown or {}
    headers = [column_title(c) for c in columns]
    cells = [
        [one_line(shown[c](r.get(c)) if c in shown else human_value(r.get(c))) for c in columns] for r in rows
    ]
    right = [_numeric(r.get(c) for r in rows) for c in columns]
    widths = [max([cell_len(h)] + [cell_len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    out = Console(highlight=False)
    boxed_width = sum(widths) + 3 * len(widths) + 1
    if sys.stdout.isatty() and boxed_width <= out.width:
        table = Table(title=title, caption=note, box=box.ROUNDED, header_style="bold")
        for header, align in zip(headers, right, strict=True):
            table.add_column(Text(header), justify="right" if align else "left", no_wrap=True)
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))
        out.print(table)
        return
    sys.stdout.write(plain_table(headers, cells, right))
    if note:
        console.print(Text(note))


def plain_table(headers: Sequence[str], cells: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """Columns aligned by their display width (a Chinese character takes two), one line per row."""
    widths = [max([cell_len(h)] + [cell_len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = []
        for value, width, align in zip(values, widths, right, strict=True):
            pad = " " * (width - cell_len(value))
            parts.append(pad + value if align else value + pad)
        return COLUMN_GAP.join(parts).rstrip() + "\n"

    return line(headers) + "".join(line(row) for row in cells)


def one_line(text: str) -> str:
    return " ".join(text.split("\n")).replace("\r", " ").replace("\t", " ")


def _numeric(values: Iterable[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
    )


def machine_value(value: Any) -> Any:
    """A value as JSON gives it: times in ISO 8601, amounts as exact decimal strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return [machine_value(v) for v in (sorted(value) if isinstance(value, set | frozenset) else value)]
    return value


def csv_value(value: Any) -> str:
    """A value as a CSV cell: empty for none, true/false, lists joined with ';'."""
    value = machine_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(csv_value(v) for v in value)
    return str(value)


def human_value(value: Any) -> str:
    """A value as a person reads it in the interface's language (times in the company's zone)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return tr().yes_no(value)
    if isinstance(value, datetime):
        return tr().timestamp(value, get_settings().tz)
    if isinstance(value, date):
        return tr().day(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(human_value(v) for v in value)
    return str(value)


def role_name(role: str) -> str:
    """A dashboard role in the interface's language."""
    names = {
        "manager": t("role.manager"),
        "warehouse": t("role.warehouse"),
        "finance": t("role.finance"),
        "auditor": t("role.auditor"),
    }
    return names.get(str(role), str(role))


def _whoami() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        return "unknown"


def _audit():  # noqa: ANN202
    from stores.audit_log import AuditLog

    return AuditLog(get_settings().var_dir)


def _prefect_server(settings):  # noqa: ANN001, ANN202
    """The local Prefect server's environment; a server of our own when none answers (stop it)."""
    import os
    import urllib.request

    from flows.server import PrefectServer, prefect_env

    os.environ.update(prefect_env(settings))
    try:
        with urllib.request.urlopen(settings.prefect_api_url + "/health", timeout=2):
            return None
    except OSError:
        server = PrefectServer(settings, settings.var_dir / "logs" / "prefect-server.log")
        server.log_path.parent.mkdir(parents=True, exist_ok=True)
        console.print(t("cli.prefect.starting_server"))
        server.start()
        return server


def _show_new_passwords(chosen: dict[str, str]) -> None:
    """The first accounts' passwords (account name → password), shown this once."""
    if chosen:
        console.print(t("cli.users.first_accounts"), highlight=False)
        for name, password in chosen.items():
            console.print(
                t("cli.users.first_account", name=name, password=password), markup=False, highlight=False
            )


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
