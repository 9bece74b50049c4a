"""Run the suites on DataFrames read from the warehouse (GE's SQL datasource does not work on
DuckDB), store the results in `var/quality/quality.duckdb` and build Data Docs HTML."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from expectations.suites import SUITES
from stockflow.config import Settings, get_settings
from stockflow.quality import (
    FUTURE_TOLERANCE_SECONDS,
    duplicate_rate,
    gap_rate,
    gtin_is_valid,
    recipe_variance_share,
    sku_completeness,
)

log = logging.getLogger(__name__)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass
class QualityReport:
    run_id: str
    success: bool
    critical_failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    docs_path: Path | None = None


def frames_from_warehouse(
    warehouse: Path, now: datetime | None = None, settings: Settings | None = None
) -> dict[str, pd.DataFrame]:
    """The DataFrame each suite validates, read from the warehouse (read-only)."""
    now = now or datetime.now(UTC)
    settings = settings or get_settings()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        skus = con.sql(  # the SKUs as they are now, with their kind (goods, dish, semi-finished)
            "SELECT d.*, coalesce(s.sku_kind, 'goods') AS sku_kind FROM dim_skus AS d"
            " LEFT JOIN stg_masterdata__skus AS s USING (sku_id) WHERE d.is_current"
        ).df()
        events = con.sql(
            "SELECT event_id, topic, event_type, source_id, source_seq, occurred_at,"
            " epoch(landed_at) - epoch(occurred_at) AS landed_lag_seconds,"
            " CASE WHEN topic = 'temperature_readings' THEN CAST(payload ->> '$.celsius' AS DOUBLE) END AS celsius"
            " FROM stg_lake__events"
        ).df()
        balances = con.sql(
            "SELECT location_id, sku_id, batch_id, business_date,"
            " opening_qty + qty_in - qty_out - closing_qty AS balance_error, closing_value"
            " FROM fct_daily_stock_balances"
        ).df()
        kpis = con.sql(
            "SELECT 'stockout_rate' AS kpi, location_id, business_date, stockout_rate AS ratio FROM kpi_stockout_rate"
            " UNION ALL SELECT 'fill_rate', location_id, business_date, fill_rate FROM kpi_fill_rate"
            " UNION ALL SELECT 'dead_stock_ratio', location_id, as_of_date, dead_stock_ratio FROM kpi_dead_stock"
            "  WHERE dead_stock_ratio IS NOT NULL"
        ).df()
        # each ingredient's variance and theoretical value over the window, per location
        variance = con.execute(
            "SELECT location_id, sku_id, sum(variance_value) AS variance_value,"
            " sum(theoretical_value) AS theoretical_value FROM fct_ingredient_variance"
            " WHERE counted_at > ? AND counted_at <= ? GROUP BY ALL ORDER BY ALL",
            [now - timedelta(days=settings.recipe_variance_days), now],
        ).df()
    return prepare_frames(
        skus, events, balances, kpis, now, recipe_variance_frame(variance, settings.recipe_variance_limit)
    )


def recipe_variance_frame(per_ingredient: pd.DataFrame, limit: Decimal) -> pd.DataFrame:
    """One row per location: its ingredients' variance share (`stockflow.quality`) and, in
    `over_limit`, the location itself when the share is above `limit`."""
    out = []
    for location, group in per_ingredient.groupby("location_id", sort=True):
        share = recipe_variance_share(
            zip(group["variance_value"].fillna(0), group["theoretical_value"].fillna(0), strict=True)
        )
        over = share is not None and share > limit
        out.append(
            {
                "location_id": location,
                "variance_share": share,
                "within_limit": not over,
                "over_limit": location if over else None,
            }
        )
    return pd.DataFrame(out, columns=["location_id", "variance_share", "within_limit", "over_limit"])


def prepare_frames(
    skus: pd.DataFrame,
    events: pd.DataFrame,
    balances: pd.DataFrame,
    kpis: pd.DataFrame,
    now: datetime,
    recipe_variance: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Add the checked columns the core defines (GTIN validity, completeness, gaps, future);
    `recipe_variance`: `recipe_variance_frame`'s (none: no kitchen counted)."""
    skus = skus.copy()
    skus["gtin_valid"] = skus["gtin"].map(gtin_is_valid)
    skus["completeness"] = [sku_completeness(r) for r in skus.to_dict("records")]
    events = events.copy()
    limit = pd.Timestamp(now) + pd.Timedelta(seconds=FUTURE_TOLERANCE_SECONDS)
    events["in_future"] = pd.to_datetime(events["occurred_at"], utc=True) > limit
    devices = (
        events.dropna(subset=["source_seq"])
        .groupby("source_id")["source_seq"]
        .agg(
            gap_rate=lambda s: gap_rate(int(v) for v in s),
            duplicate_rate=lambda s: duplicate_rate(int(v) for v in s),
        )
        .reset_index()
    )
    return {
        "masterdata_health": skus,
        "event_quality": events,
        "device_sequences": devices,
        "mart_invariants": balances,
        "kpi_ranges": kpis,
        "recipe_variance": recipe_variance
        if recipe_variance is not None
        else recipe_variance_frame(pd.DataFrame(columns=["location_id"]), Decimal(1)),
    }


def _context(root: Path):  # noqa: ANN202
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def validate(frames: dict[str, pd.DataFrame], gx_root: Path) -> QualityReport:
    """Run every suite on its frame; Data Docs are rebuilt under `gx_root`."""
    import great_expectations as gx

    started = time.perf_counter()
    run_id = f"quality-{time.time_ns()}"
    context = _context(gx_root)
    source = context.data_sources.add_or_update_pandas("warehouse")
    definitions = []
    for name, build_suite in SUITES.items():
        asset = (
            source.get_asset(name) if name in source.get_asset_names() else source.add_dataframe_asset(name)
        )
        batch = (
            asset.get_batch_definition("whole")
            if "whole" in [b.name for b in asset.batch_definitions]
            else asset.add_batch_definition_whole_dataframe("whole")
        )
        suite = context.suites.add_or_update(build_suite())
        definitions.append(
            (
                name,
                context.validation_definitions.add_or_update(
                    gx.ValidationDefinition(name=name, data=batch, suite=suite)
                ),
            )
        )
    report = QualityReport(run_id, True)
    for name, definition in definitions:
        result = definition.run(batch_parameters={"dataframe": frames[name]})
        for r in result.results:
            cfg = r.expectation_config
            critical = bool((cfg.meta or {}).get("critical"))
            row = {
                "run_id": run_id,
                "suite": name,
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column", ""),
                "success": bool(r.success),
                "critical": critical,
                "element_count": r.result.get("element_count"),
                "unexpected_count": r.result.get("unexpected_count"),
                "unexpected_examples": str(r.result.get("partial_unexpected_list", [])[:5]),
            }
            report.results.append(row)
            if not r.success:
                label = f"{name}: {cfg.type}({row['column']}) {row['unexpected_count']} unexpected, e.g. {row['unexpected_examples']}"
                (report.critical_failures if critical else report.warnings).append(label)
    context.build_data_docs()
    report.success = not report.critical_failures
    report.seconds = time.perf_counter() - started
    report.docs_path = gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return report


def store(report: QualityReport, path: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Append the results (and the SKU completeness scores) to the quality database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checked_at = datetime.now(UTC)
    results = pd.DataFrame(report.results).assign(checked_at=checked_at)
    scores = frames["masterdata_health"][["sku_id", "completeness", "gtin_valid"]].assign(
        run_id=report.run_id, checked_at=checked_at
    )
    with duckdb.connect(str(path)) as con:
        con.register("results", results)
        con.register("scores", scores)
        con.execute("CREATE TABLE IF NOT EXISTS expectation_results AS SELECT * FROM results LIMIT 0")
        con.execute("INSERT INTO expectation_results BY NAME SELECT * FROM results")
        con.execute("CREATE TABLE IF NOT EXISTS sku_completeness AS SELECT * FROM scores LIMIT 0")
        con.execute("INSERT INTO sku_completeness BY NAME SELECT * FROM scores")
        con.execute(
            "CREATE TABLE IF NOT EXISTS quality_runs (run_id VARCHAR, checked_at TIMESTAMPTZ, success BOOLEAN,"
            " critical_failures INTEGER, warnings INTEGER, seconds DOUBLE)"
        )
        con.execute(
            "INSERT INTO quality_runs VALUES (?, ?, ?, ?, ?, ?)",
            [
                report.run_id,
                checked_at,
                report.success,
                len(report.critical_failures),
                len(report.warnings),
                report.seconds,
            ],
        )


def check(var_dir: Path) -> QualityReport:
    """Validate the current warehouse and store the results under var/quality/."""
    from stores.warehouse import warehouse_path

    frames = frames_from_warehouse(warehouse_path(var_dir))
    report = validate(frames, var_dir / "quality")
    store(report, var_dir / "quality" / "quality.duckdb", frames)
    return report
