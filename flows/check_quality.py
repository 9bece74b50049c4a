"""`check_quality`: run the expectation suites on the warehouse; critical failures alert and fail.

The alert goes through the workers' ``POST /alerts`` (`infra.worker_client`), so it lands in
the lake and reaches the ``alerts`` topic and its webhook subscribers like every other alert."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from infra.worker_client import WorkerClient
from stockflow.alerts import Alert, AlertType, Severity, alert
from stockflow.config import get_settings
from stockflow.i18n import Message


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


def quality_alert(report: dict[str, Any], raised_at: datetime) -> Alert:
    """The critical data-quality alert of a run whose critical expectations failed (its id
    derives from the run: a retried task raises the same alert)."""
    return alert(
        AlertType.DATA_QUALITY,
        Severity.CRITICAL,
        raised_at,
        "",
        Message(
            "alert.data_quality",
            count=len(report["critical_failures"]),
            failures="; ".join(report["critical_failures"])[:900],
        ),
        id_parts=(report["run_id"],),
        run_id=report["run_id"],
        failures=report["critical_failures"],
    )


@task(retries=3, retry_delay_seconds=5, cache_policy=NO_CACHE)
def raise_quality_alert(web_url: str, report: dict[str, Any]) -> str:
    """A critical data-quality alert through the workers' alerts."""
    found = quality_alert(report, datetime.now(UTC))
    WorkerClient(web_url).publish_alert(found)
    return found.alert_id


@flow(name="check_quality")
def check_quality(var_dir: str | None = None, web_url: str | None = None) -> dict[str, Any]:
    """Run the expectation suites on the warehouse; critical failures alert and fail."""
    logger = get_run_logger()
    settings = get_settings()
    root = str(Path(var_dir) if var_dir else settings.var_dir)
    report = run_suites(root)
    for warning in report["warnings"]:
        logger.warning("expectation not met: %s", warning)
    if not report["success"]:
        raise_quality_alert(web_url or settings.web_url, report)
        raise RuntimeError("critical expectations failed:\n" + "\n".join(report["critical_failures"]))
    return report
