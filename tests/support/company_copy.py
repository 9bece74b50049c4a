"""Copies of a built company (`tests.support.company.write_company`): it takes minutes to
build, so the session builds it once (the `company_copy` fixture) and each test or module that
reads it gets a copy of its own, to change as it likes."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from stockflow.ledger import Ledger
    from stockflow.masterdata import Catalog


@dataclass(frozen=True)
class CompanyCopy:
    """A copy of a built company's data: where it is, its master data, and the ledger that holds
    the stock its lake records (shared by every copy: read it, do not apply events to it)."""

    var: Path
    catalog: Catalog
    ledger: Ledger


def copy_company(source: Path, var: Path) -> None:
    """A copy at `var` of the company's data that `write_company` left at `source`, reading its
    own lake: the warehouse's staging views name the lake by its path, so the copy's are made
    again over the copy's lake (dbt's parse files, which name it too, are left behind: the
    copy's next build parses afresh)."""
    shutil.copytree(source, var, ignore=shutil.ignore_patterns("dbt-target"))
    old, new = f"{source / 'lake'}/", f"{var / 'lake'}/"
    with duckdb.connect(str(var / "warehouse" / "warehouse.duckdb")) as con:
        views = con.execute(
            "SELECT sql FROM duckdb_views() WHERE NOT internal AND contains(sql, ?)", [old]
        ).fetchall()
        for (sql,) in views:
            assert sql.startswith("CREATE VIEW "), sql[:80]
            con.execute(sql.replace("CREATE VIEW ", "CREATE OR REPLACE VIEW ", 1).replace(old, new))
        (left,) = con.execute("SELECT count(*) FROM duckdb_views() WHERE contains(sql, ?)", [old]).fetchone()
    assert views and left == 0, f"{left} views of the copy still read {old}"
