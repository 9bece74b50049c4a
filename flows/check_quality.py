"""`check_quality`: run the expectation suites on the warehouse; critical failures alert and fail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lake import LakeWriter, alert_row
from stockflow.alerts import AlertType, Severity, alert
from stockflow.config import get_settings


@task(cache_policy=NO_CACHE)
def run_suites(var_dir: str) -> dict[str, Any]:
    from expectations.checks import check

    report = check(Path(var_dir))
    return {
        "run_id": report.run_id,
        "success": report.success,
        "critical_failures": report.critical_failures,
        "warnings": report.warnings,
        "seconds": round(report.seconds, 2),
        "docs": str(report.docs_path),
    }


@task(cache_policy=NO_CACHE)
def raise_quality_alert(var_dir: str, report: dict[str, Any]) -> None:
    """A critical data-quality alert in the lake's alerts table (what the dashboards show)."""
    now = datetime.now(UTC)
    found = alert(
        AlertType.DATA_QUALITY,
        Severity.CRITICAL,
        now,
        "",
        f"{len(report['critical_failures'])} critical expectation(s) failed: "
        + "; ".join(report["critical_failures"])[:900],
        id_parts=(report["run_id"],),
        run_id=report["run_id"],
        failures=report["critical_failures"],
    )
    writer = LakeWriter(Path(var_dir) / "lake", "quality")
    writer.append("alerts", alert_row(found, now))
    writer.flush()


@flow(name="check_quality")
def check_quality(var_dir: str | None = None) -> dict[str, Any]:
    """Run the expectation suites on the warehouse; critical failures alert and fail."""
    logger = get_run_logger()
    root = str(Path(var_dir) if var_dir else get_settings().var_dir)
    report = run_suites(root)
    for warning in report["warnings"]:
        logger.warning("expectation not met: %s", warning)
    if not report["success"]:
        raise_quality_alert(root, report)
        raise RuntimeError("critical expectations failed:\n" + "\n".join(report["critical_failures"]))
    return report
