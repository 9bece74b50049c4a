"""`build_warehouse`: build the warehouse marts with dbt and swap them in atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.check_quality import check_quality
from stockflow.config import get_settings
from stores import warehouse
from stores.masterdata import read_catalog


@task(cache_policy=NO_CACHE)
def dbt_build(var_dir: str, full: bool) -> dict[str, Any]:
    """`dbt build` (models and data tests) into a new file; swapped in only if all passed."""
    root = Path(var_dir)
    result = warehouse.build(root, read_catalog(root / "masterdata.json"), full=full)
    return warehouse.summary(result)


@flow(name="build_warehouse")
def build_warehouse(var_dir: str | None = None, full: bool = False, check: bool = True) -> dict[str, Any]:
    """Build the warehouse marts with dbt, swap them in atomically, then check their quality."""
    logger = get_run_logger()
    root = str(Path(var_dir) if var_dir else get_settings().var_dir)
    built = dbt_build(root, full)
    logger.info(
        "dbt build (%s) in %.1fs: %s",
        "full" if built["full"] else "incremental",
        built["seconds"],
        built["statuses"],
    )
    if not built["success"]:
        raise RuntimeError(
            "dbt build failed; the last good warehouse stays in place:\n" + "\n".join(built["failures"])
        )
    if check:
        built["quality"] = check_quality(root)
    return built
