"""The warehouse: dbt builds over the lake into a DuckDB file that readers never see half-built.

Every build writes a *new* file (`var/warehouse/building.duckdb`: a fresh one for a full build,
a copy of the current warehouse for an incremental one), runs `dbt build` on it (models and data
tests), and only if everything passed renames it over `var/warehouse/warehouse.duckdb`.
A rename is atomic: a reader that opened the old file keeps reading it, the next reader opens
the new one, and no reader ever waits for a build or sees one half done. A failed build leaves
the last good warehouse in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lake.rows import masterdata_rows
from lake.tables import BOOK_RUNS, BOOKS_TABLES, MASTERDATA_CHANGES, STREAM_TABLES, TABLES
from stockflow.config import Settings, get_settings
from stockflow.kpis import DEAD_STOCK_DAYS, NEAR_EXPIRY_VALUE_DAYS, STOCKOUT_ACTIVE_DAYS
from stockflow.masterdata import Catalog
from stockflow.vouchers import AccountingPolicy
from stores.crypto import FieldCipher
from stores.dbt_process import DbtProcess
from stores.masterdata import configured_cipher

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
WAREHOUSE_FILE = "warehouse.duckdb"
BUILD_FILE = "building.duckdb"
#: Rows that landed this long before the last build began are read again (late files).
LOOKBACK_MINUTES = 10


def build_vars(settings: Settings | None = None) -> dict[str, Any]:
    """What the dbt project is given with every build: the business day's time zone, the KPI
    horizons (`stockflow.kpis`), the accounts whose balance is stock value (the accounting
    policy), and the lookback. The project repeats none of them."""
    settings = settings or get_settings()
    policy = AccountingPolicy.load(settings.accounting_policy_file)
    return {
        "timezone": settings.timezone,
        "dead_stock_days": DEAD_STOCK_DAYS,
        "near_expiry_value_days": NEAR_EXPIRY_VALUE_DAYS,
        "stockout_active_days": STOCKOUT_ACTIVE_DAYS,
        "inventory_account_codes": sorted(c for c in policy.accounts if policy.is_inventory_account(c)),
        "lookback_minutes": LOOKBACK_MINUTES,
    }


def books_through(lake_dir: Path) -> str | None:
    """The newest posting run whose exports are complete: what every books model of a build
    reads up to ("" when the list is empty: no run is read, the first may be half exported;
    None when the lake has no list at all: books exported without one, every run is read)."""
    folder = lake_dir / BOOK_RUNS
    if not folder.is_dir():
        return None
    names = [p.name for p in folder.glob("part-*.parquet")]
    return max(names).removeprefix("part-").removesuffix(".parquet") if names else ""


def warehouse_dir(var_dir: Path) -> Path:
    return var_dir / "warehouse"


def warehouse_path(var_dir: Path) -> Path:
    """The current warehouse (open it read-only)."""
    return warehouse_dir(var_dir) / WAREHOUSE_FILE


def export_masterdata(catalog: Catalog, lake_dir: Path, cipher: FieldCipher | None = None) -> None:
    """Master data as Parquet for the dbt sources (written atomically, replaced each build);
    with a `cipher`, the customers' personal fields are written SM4-encrypted, as in the
    catalogue (readers that show them decrypt them, then mask them)."""
    folder = lake_dir / "masterdata"
    folder.mkdir(parents=True, exist_ok=True)
    rows_of = masterdata_rows(catalog)
    if cipher is not None:
        rows_of["customers"] = [cipher.encrypt_record("customer", row) for row in rows_of["customers"]]
    tables = {name: pa.Table.from_pylist(rows, schema=TABLES[name].schema) for name, rows in rows_of.items()}
    for name, table in tables.items():
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / f"{name}.parquet")


#: The empty file of a table without any: ``part-<first>-<last>`` for the master-data change
#: log, whose readers take the versions a file holds from its name (none here: versions start
#: at 1); the others' writers name files by apply sequence and writer.
_EMPTY_PART = {MASTERDATA_CHANGES.name: "part-00000000000000000000-00000000000000000000.parquet"}


def ensure_sources(lake_dir: Path) -> None:
    """Give every table dbt reads at least one (empty) file with its schema, so a build on a
    young lake (no transfers or vouchers yet, no master-data change log) works instead of
    failing on an empty glob."""
    wanted = {
        **{(t, "date=1970-01-01"): TABLES[t].schema for t in STREAM_TABLES},
        **{(t, ""): TABLES[t].schema for t in (*BOOKS_TABLES, MASTERDATA_CHANGES.name)},
    }
    for (table, sub), schema in wanted.items():
        root = lake_dir / table
        pattern = "date=*/part-*.parquet" if sub else "part-*.parquet"
        if root.is_dir() and any(root.glob(pattern)):
            continue
        folder = root / sub if sub else root
        folder.mkdir(parents=True, exist_ok=True)
        name = _EMPTY_PART.get(table, "part-00000000000000000000-empty.parquet")
        tmp = folder / f".{name}.tmp"
        pq.write_table(schema.empty_table(), tmp)
        os.replace(tmp, folder / name)


@dataclass
class BuildResult:
    success: bool
    full: bool
    seconds: float
    path: Path
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def build(
    var_dir: Path,
    catalog: Catalog,
    full: bool = False,
    select: list[str] | None = None,
    dbt_vars: dict[str, Any] | None = None,
    project_dir: Path = PROJECT_DIR,
) -> BuildResult:
    """`dbt build` into a new file and swap it in if every model and test passed.

    `dbt_vars` override the settings' (see `build_vars`). `project_dir`: another dbt project
    (benchmarks compare variants)."""
    started = time.perf_counter()
    var_dir = var_dir.resolve()
    folder = warehouse_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    variables = {**build_vars(), **(dbt_vars or {})}
    with _build_lock(folder):
        return _build_locked(var_dir, folder, catalog, full, select, variables, started, project_dir)


@contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """One build at a time per warehouse (a scheduled one and one started by hand wait in turn)."""
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_locked(
    var_dir: Path,
    folder: Path,
    catalog: Catalog,
    full: bool,
    select: list[str] | None,
    variables: dict[str, Any],
    started: float,
    project_dir: Path,
) -> BuildResult:
    current = folder / WAREHOUSE_FILE
    # The file being built has one fixed name: dbt's profile (its path) stays the same from build
    # to build, so dbt re-parses only what changed instead of the whole project every time.
    target = folder / BUILD_FILE
    _remove_build_files(folder)
    project = project_fingerprint(project_dir, variables)
    # a changed project (new model SQL) rebuilds everything once: incremental models keep what
    # the old SQL wrote
    full = full or not current.exists() or _last_build(folder).get("project") != project
    started_at = datetime.now(UTC)
    common = [
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(folder / "dbt-target"),
        "--log-path", str(var_dir / "logs"),
        "--quiet",
        "--no-write-json",  # the outcome comes back from dbtRunner; no artifacts to write
        "--vars", json.dumps(variables),
    ]  # fmt: skip
    args = ["build", *common]
    if full:
        args.append("--full-refresh")
    else:
        # The project is the one the current warehouse was built with (else the build is full):
        # its staging views are already there, and the SQL the unit tests check is unchanged.
        # Staging views and views tagged `reads_whole_lake` are already there, and their tests
        # re-read the whole lake; they run in full (nightly) builds, as do unit tests.
        # Incremental builds test the marts they change.
        args += ["--exclude", "path:models/staging", "tag:reads_whole_lake", "resource_type:unit_test"]
    if select:
        args += ["--select", *select]
    env = {
        "STOCKFLOW_LAKE_DIR": str(var_dir / "lake"),
        "STOCKFLOW_WAREHOUSE_PATH": str(target),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    # dbt gets its own process (see stores.dbt_process), which loads dbt and parses the project
    # while the file it builds is prepared here
    dbt = DbtProcess(["parse", *common], args, folder / f"{BUILD_FILE}.result.json", env)
    try:
        lake_dir = var_dir / "lake"
        cipher, encrypt = configured_cipher()
        export_masterdata(catalog, lake_dir, cipher if encrypt else None)
        ensure_sources(lake_dir)
        if not full:
            shutil.copyfile(current, target)
        since = None if full else _check_since(folder, float(variables["lookback_minutes"]))
        _write_build_info(target, started_at, full, since, books_through(lake_dir))
    except BaseException:
        dbt.cancel()
        _remove_build_files(folder)
        raise
    success, statuses, failures = dbt.go()
    if success:
        os.replace(target, current)
        (folder / "last_build.json").write_text(
            json.dumps({"started_at": started_at.isoformat(), "full": full, "project": project})
        )
    _remove_build_files(folder)
    seconds = time.perf_counter() - started
    return BuildResult(success, full, seconds, current if success else target, statuses, failures)


def _write_build_info(
    path: Path, started_at: datetime, full: bool, check_since: datetime | None, books_run: str | None
) -> None:
    """The build's own facts, as a table in the warehouse: when it started, whether it was full,
    from when on incremental tests look at the largest facts (everything in a full build), and
    the newest posting run of the books it reads (`books_through`; NULL reads them all)."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE OR REPLACE TABLE build_info AS SELECT ?::TIMESTAMPTZ AS started_at,"
            " ?::BOOLEAN AS full_refresh, ?::TIMESTAMPTZ AS check_since, ?::VARCHAR AS books_through",
            [started_at, full, check_since or datetime(1970, 1, 1, tzinfo=UTC), books_run],
        )


def _last_build(folder: Path) -> dict[str, Any]:
    path = folder / "last_build.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _check_since(folder: Path, lookback_minutes: float) -> datetime | None:
    """When the last successful build began, minus the lookback: rows from then on are new."""
    started = _last_build(folder).get("started_at")
    if started is None:
        return None
    return datetime.fromisoformat(started) - timedelta(minutes=lookback_minutes)


def project_fingerprint(project_dir: Path = PROJECT_DIR, variables: dict[str, Any] | None = None) -> str:
    """A hash of the dbt project's sources (models, macros, tests, settings) and its vars but
    the lookback (a changed time zone or horizon rewrites history)."""
    digest = hashlib.sha256()
    kept = {k: v for k, v in (variables or {}).items() if k != "lookback_minutes"}
    digest.update(json.dumps(kept, sort_keys=True).encode() + b"\0")
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if path.suffix in (".sql", ".yml") and relative.parts[0] not in ("target", "logs"):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _remove_build_files(folder: Path) -> None:
    for leftover in folder.glob(f"{BUILD_FILE}*"):
        leftover.unlink(missing_ok=True)
    for stale in folder.glob("build-*.duckdb*"):  # named per build by earlier versions
        stale.unlink(missing_ok=True)


def summary(result: BuildResult) -> dict[str, Any]:
    return {
        "success": result.success,
        "full": result.full,
        "seconds": round(result.seconds, 2),
        "statuses": result.statuses,
        "failures": result.failures[:20],
    }
