"""The warehouse: dbt builds over the lake into a DuckDB file that readers never see half-built.

Every build writes a *new* file (`var/warehouse/build-<time>.duckdb`: a fresh one for a full
build, a copy of the current warehouse for an incremental one), runs `dbt build` on it (models
and data tests), and only if everything passed renames it over `var/warehouse/warehouse.duckdb`.
A rename is atomic: a reader that opened the old file keeps reading it, the next reader opens
the new one, and no reader ever waits for a build or sees one half done. A failed build leaves
the last good warehouse in place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stockflow.masterdata import Catalog

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
WAREHOUSE_FILE = "warehouse.duckdb"
#: As `lookback_minutes` in dbt_project.yml: late files this old are looked at again.
LOOKBACK_MINUTES = 10


def warehouse_dir(var_dir: Path) -> Path:
    return var_dir / "warehouse"


def warehouse_path(var_dir: Path) -> Path:
    """The current warehouse (open it read-only)."""
    return warehouse_dir(var_dir) / WAREHOUSE_FILE


def export_masterdata(catalog: Catalog, lake_dir: Path) -> None:
    """Master data as Parquet for the dbt sources (written atomically, replaced each build)."""
    folder = lake_dir / "masterdata"
    folder.mkdir(parents=True, exist_ok=True)
    skus = [
        {
            "sku": s.sku,
            "gtin": s.gtin,
            "name": s.name,
            "category": s.category.value,
            "base_unit": s.base_unit,
            "packs": json.dumps(s.packs, sort_keys=True),
            "min_pack_units": s.min_pack_units,
            "shelf_life_days": s.shelf_life_days,
            "batch_managed": s.batch_managed,
            "cold_chain_min_c": s.cold_chain_min_c,
            "cold_chain_max_c": s.cold_chain_max_c,
            "reorder_point": s.reorder_point,
            "negative_stock": s.negative_stock.value,
            "standard_cost": s.standard_cost,
            "vat_rate": s.vat_rate,
            "wholesale_price": s.wholesale_price,
            "valuation_method": s.valuation_method.value if s.valuation_method else None,
        }
        for s in catalog.skus.values()
    ]
    tables = {
        "skus": pa.Table.from_pylist(
            skus,
            schema=pa.schema(
                [
                    ("sku", pa.string()),
                    ("gtin", pa.string()),
                    ("name", pa.string()),
                    ("category", pa.string()),
                    ("base_unit", pa.string()),
                    ("packs", pa.string()),
                    ("min_pack_units", pa.int32()),
                    ("shelf_life_days", pa.int32()),
                    ("batch_managed", pa.bool_()),
                    ("cold_chain_min_c", pa.float64()),
                    ("cold_chain_max_c", pa.float64()),
                    ("reorder_point", pa.int32()),
                    ("negative_stock", pa.string()),
                    ("standard_cost", pa.decimal128(18, 6)),
                    ("vat_rate", pa.decimal128(4, 2)),
                    ("wholesale_price", pa.decimal128(18, 6)),
                    ("valuation_method", pa.string()),
                ]
            ),
        ),
        "locations": pa.Table.from_pylist(
            [{**loc.model_dump(mode="json")} for loc in catalog.locations.values()]
        ),
        "suppliers": pa.Table.from_pylist(
            [
                s.model_dump(mode="json", include={"supplier", "name", "lead_time_days"})
                for s in catalog.suppliers.values()
            ]
        ),
    }
    for name, table in tables.items():
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / f"{name}.parquet")


def ensure_sources(lake_dir: Path) -> None:
    """Give every table dbt reads at least one (empty) file with its schema, so a build on a
    young lake (no transfers or vouchers yet) works instead of failing on an empty glob."""
    from flows.books import EXPORTED_TABLES
    from streams.lake import SCHEMAS

    wanted = {
        **{(t, "date=1970-01-01"): schema for t, schema in SCHEMAS.items()},
        **{(t, ""): schema for t, schema in EXPORTED_TABLES.items()},
    }
    for (table, sub), schema in wanted.items():
        root = lake_dir / table
        pattern = "date=*/part-*.parquet" if sub else "part-*.parquet"
        if root.is_dir() and any(root.glob(pattern)):
            continue
        folder = root / sub if sub else root
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".part-00000000000000000000-empty.parquet.tmp"
        pq.write_table(schema.empty_table(), tmp)
        os.replace(tmp, folder / "part-00000000000000000000-empty.parquet")


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
) -> BuildResult:
    """`dbt build` into a new file and swap it in if every model and test passed."""
    var_dir = var_dir.resolve()
    lake_dir = var_dir / "lake"
    export_masterdata(catalog, lake_dir)
    ensure_sources(lake_dir)
    folder = warehouse_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    current = folder / WAREHOUSE_FILE
    target = folder / f"build-{time.time_ns()}.duckdb"
    full = full or not current.exists()
    if not full:
        shutil.copyfile(current, target)
    env = {
        "STOCKFLOW_LAKE_DIR": str(lake_dir),
        "STOCKFLOW_WAREHOUSE_PATH": str(target),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    args = [
        "build",
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(folder / "dbt-target"),
        "--log-path", str(var_dir / "logs"),
        "--quiet",
    ]  # fmt: skip
    if full:
        args.append("--full-refresh")
    else:
        # staging views re-read the whole lake; their tests run in full builds (nightly), while
        # incremental builds test the marts they change, the largest facts from the last build on
        args += ["--exclude", "path:models/staging,resource_type:test"]
        since = _last_build_started(folder)
        if since is not None:
            dbt_vars = {"check_since": since, **(dbt_vars or {})}
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    if select:
        args += ["--select", *select]
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat()
    # dbt runs in a child process: the DuckDB file is closed (and checkpointed) when it ends,
    # before it is renamed, and dbt's process-wide state never leaks into a long-lived flow.
    outcome = folder / f"{target.name}.result.json"
    child = subprocess.run(
        [sys.executable, "-m", "flows.warehouse", json.dumps(args), str(outcome)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR.parent,
    )
    if outcome.exists():
        success, statuses, failures = json.loads(outcome.read_text())
        outcome.unlink()
    else:
        success, statuses, failures = (
            False,
            {},
            [f"dbt process exited with {child.returncode}: {child.stderr[-2000:]}"],
        )
    seconds = time.perf_counter() - started
    if success:
        os.replace(target, current)
        (folder / "last_build.json").write_text(json.dumps({"started_at": started_at, "full": full}))
        _remove_stale_builds(folder)
    else:
        for leftover in folder.glob(f"{target.name}*"):
            leftover.unlink(missing_ok=True)
    return BuildResult(success, full, seconds, current if success else target, statuses, failures)


def _last_build_started(folder: Path) -> str | None:
    """When the last successful build began, minus the lookback: rows from then on are new."""
    path = folder / "last_build.json"
    if not path.exists():
        return None
    started = datetime.fromisoformat(json.loads(path.read_text())["started_at"])
    return (started - timedelta(minutes=LOOKBACK_MINUTES)).isoformat()


def _invoke_dbt(args: list[str]) -> tuple[bool, dict[str, int], list[str]]:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(args)
    statuses: dict[str, int] = {}
    failures: list[str] = []
    for r in getattr(result.result, "results", None) or []:
        status = str(r.status)
        statuses[status] = statuses.get(status, 0) + 1
        if status not in ("success", "pass"):
            failures.append(f"{r.node.unique_id}: {status} {r.message or ''}".strip())
    if result.exception is not None:
        failures.append(f"dbt: {result.exception}")
    return bool(result.success) and not failures, statuses, failures


def _remove_stale_builds(folder: Path) -> None:
    for stale in folder.glob("build-*.duckdb*"):
        stale.unlink(missing_ok=True)


def summary(result: BuildResult) -> dict[str, Any]:
    return {
        "success": result.success,
        "full": result.full,
        "seconds": round(result.seconds, 2),
        "statuses": result.statuses,
        "failures": result.failures[:20],
    }


if __name__ == "__main__":  # the dbt child process of `build`
    outcome_path = Path(sys.argv[2])
    outcome_path.write_text(json.dumps(_invoke_dbt(json.loads(sys.argv[1]))))
