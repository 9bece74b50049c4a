"""What the command groups share: the console, who is running them, logging, a Prefect server."""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from stockflow.config import get_settings
from stockflow.i18n import Translator, translator

console = Console(stderr=True)


@lru_cache(maxsize=1)
def tr() -> Translator:
    """The company's interface language (`STOCKFLOW_LANGUAGE`, else from `STOCKFLOW_LOCALE`)."""
    return translator(get_settings().interface_language)


def t(key: str, /, **values: Any) -> str:
    """A message of the CLI in the company's language (see `stockflow.i18n`)."""
    return tr()(key, **values)


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def format_option() -> Any:
    """`--format table|csv|json` for every command that prints a table."""
    return typer.Option(Format.TABLE, "--format", help=t("cli.option.format"))


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], output: Format, title: str | None = None
) -> None:
    """Rows to stdout. `table`: headers in the interface's language (`column.<name>`), a boxed
    table on a terminal and a plain aligned one, never wrapped, when piped. `csv` and `json`: the
    columns' stable names as headers and keys, for scripts (the same in every language)."""
    if output is Format.JSON:
        sys.stdout.write(json.dumps([{c: _plain(r.get(c)) for c in columns} for r in rows], ensure_ascii=False, indent=1))
        sys.stdout.write("\n")
        return
    if output is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else _plain(r.get(c)) for c in columns])
        return
    terminal = sys.stdout.isatty()
    table = Table(
        title=title if terminal else None,
        box=box.SIMPLE_HEAD if terminal else None,
        show_edge=terminal,
        pad_edge=False,
    )
    for c in columns:
        table.add_column(tr().get(f"column.{c}", c), no_wrap=not terminal, overflow="fold" if terminal else "ignore")
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(_plain(r.get(c))) for c in columns))
    out = Console(soft_wrap=not terminal, width=None if terminal else 100_000, no_color=not terminal, highlight=False)
    if title and not terminal:
        out.print(title, markup=False)
    out.print(table)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, StrEnum):
        return str(value)
    return value


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
        console.print("starting a Prefect server for this run")
        server.start()
        return server


def _show_new_passwords(chosen: dict[str, str]) -> None:
    """The first accounts' passwords (account name → password), shown this once."""
    if chosen:
        console.print(
            "dashboard accounts made for you, one per role (passwords shown once; change one with "
            "`stockflow users passwd NAME`, add people with `stockflow users add NAME --role ROLE`): "
            + ", ".join(f"{name} [bold]{password}[/]" for name, password in chosen.items())
        )


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
