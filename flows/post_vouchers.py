"""`post_vouchers`: value new stock movements from the lake and post their vouchers."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stockflow.config import get_settings
from stockflow.editions import has_stock
from stockflow.masterdata import Catalog
from stockflow.services.books import BooksService, PassResult, percentile
from stockflow.services.finance import FinanceService
from stockflow.vouchers import AccountingPolicy
from stores.audit_log import AuditLog
from stores.books import Books
from stores.finance import FinanceBooks


def open_books(var_dir: str | None = None) -> BooksService:
    """The books' use cases on the DuckDB books and the audit log under `var_dir` (default: the
    settings'), with the company's accounting policy."""
    settings = get_settings()
    root = Path(var_dir) if var_dir else settings.var_dir
    policy = AccountingPolicy.load(settings.accounting_policy_file)
    books = Books(root, Catalog.load(root / "masterdata.json"), policy)
    return BooksService(books, AuditLog(root), books.rules)


def open_finance(var_dir: str | None = None) -> FinanceService:
    """The finance documents' use cases on the same books (the same file, lock and chart)."""
    settings = get_settings()
    root = Path(var_dir) if var_dir else settings.var_dir
    policy = AccountingPolicy.load(settings.accounting_policy_file)
    store = FinanceBooks(root, Catalog.load(root / "masterdata.json"), policy)
    return FinanceService(store, AuditLog(root), store.rules)


@task(retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def post_pass(var_dir: str | None) -> PassResult:
    """One posting pass: read lake files past the watermark, value, post (one transaction);
    then the receivables and payables those vouchers raised become open items (a second one).
    The no-stock edition has no movements: its pass posts the service worker's revenue vouchers."""
    result = open_books(var_dir).post_pass(get_settings().edition)
    if result.vouchers:
        open_finance(var_dir).sync()
    return result


@flow(name="post_vouchers")
def post_vouchers(
    var_dir: str | None = None, run_seconds: float = 0.0, poll_seconds: float = 5.0
) -> dict[str, Any]:
    """Value new stock movements from the lake and post their vouchers."""
    logger = get_run_logger()
    deadline = time.monotonic() + run_seconds
    totals = {
        "passes": 0,
        "files": 0,
        "movements": 0,
        "duplicates": 0,
        "vouchers": 0,
        "lag_p99_seconds": None,
    }
    lags: list[float] = []
    while True:
        result = post_pass(var_dir)
        totals["passes"] += 1
        for name in ("files", "movements", "duplicates", "vouchers"):
            totals[name] += getattr(result, name)
        lags += result.lags
        if result.vouchers:
            logger.info(
                "posted %d vouchers for %d movements from %d files; lag p99 %.1fs",
                result.vouchers,
                result.movements,
                result.files,
                result.lag_p99_seconds or 0.0,
            )
        if time.monotonic() + poll_seconds >= deadline:
            break
        time.sleep(poll_seconds)
    totals["lag_p99_seconds"] = percentile(sorted(lags), 0.99)
    return totals


def deployments() -> list:
    """The deployments `stockflow up` serves (code-reviewed configuration)."""
    from prefect.schedules import Cron

    from flows.apply_retention import apply_retention
    from flows.build_warehouse import build_warehouse
    from flows.check_quality import check_quality
    from flows.forecast_demand import forecast_demand
    from flows.reconcile_stock import reconcile_stock
    from flows.replenish import replenish

    settings = get_settings()
    retention = apply_retention.to_deployment(
        name="daily",
        schedules=[Cron(f"15 {settings.retention_hour} * * *", timezone=settings.timezone)],
        concurrency_limit=1,
        description="Pseudonymise personal data past its retention period; the books are kept; each class audited.",
    )
    interval = settings.voucher_interval_seconds
    posting = post_vouchers.to_deployment(
        name="every-minute",
        interval=timedelta(seconds=interval),
        # each run keeps posting every few seconds until the next one is due
        parameters={
            "run_seconds": max(0.0, interval - 5.0),
            "poll_seconds": settings.voucher_poll_seconds,
        },
        concurrency_limit=1,
        description="Post new vouchers (stock movements valued, or service revenue); lag is seconds, not minutes.",
    )
    if not has_stock(settings.edition):  # the no-stock edition: none of the stock flows
        return [posting, retention]
    return [
        posting,
        build_warehouse.to_deployment(
            name="incremental",
            interval=timedelta(seconds=settings.warehouse_interval_seconds),
            parameters={"full": False},
            concurrency_limit=1,
            description="Incremental dbt build of the marts, swapped in atomically, then the quality checks.",
        ),
        build_warehouse.to_deployment(
            name="nightly-full",
            schedules=[Cron("0 2 * * *", timezone=settings.timezone)],
            parameters={"full": True},
            concurrency_limit=1,
            description="Full rebuild of the warehouse every night at 02:00.",
        ),
        forecast_demand.to_deployment(
            name="nightly",
            schedules=[Cron("0 3 * * *", timezone=settings.timezone)],  # after the full build at 02:00
            concurrency_limit=1,
            description="Forecast daily demand 30 days ahead; low-confidence forecasts go to review.",
        ),
        replenish.to_deployment(
            name="hourly",
            schedules=[Cron("30 * * * *", timezone=settings.timezone)],
            concurrency_limit=1,
            description="Propose transfers and purchase orders from live stock and the latest forecast.",
        ),
        check_quality.to_deployment(
            name="hourly",
            interval=timedelta(hours=1),
            concurrency_limit=1,
            description="The expectation suites on the current warehouse.",
        ),
        reconcile_stock.to_deployment(
            name="every-15-minutes",
            interval=timedelta(seconds=settings.reconcile_interval_seconds),
            concurrency_limit=1,
            description="Live state vs ledger vs counts: drift corrected through the stream, count variances booked.",
        ),
        retention,
    ]
