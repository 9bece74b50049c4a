"""A whole simulated company's data on disk, as the running system leaves it: the lake (with
alerts), the posted books, known open payables and receivables (`tests.support.open_items`), a
dbt-built warehouse, a forecast run with its review queue, and the data-quality results. Built
with the real components; used by the dashboard tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stockflow.config import Settings
from stockflow.masterdata import Catalog

if TYPE_CHECKING:
    from tests.integration.test_books import Lake


def write_company(var: Path, days: int = 30) -> Lake:
    """The company's data under `var`; the lake writer it used, whose ledger holds the stock the
    lake records."""
    from expectations.checks import check
    from flows.forecast_demand import forecast_and_store
    from stores import warehouse
    from stores.books import Books
    from tests.integration.test_books import Lake
    from tests.support.open_items import sample_open_items, write_open_items

    var.mkdir(parents=True, exist_ok=True)
    lake = Lake(var, days=days)
    lake.write()
    Books(var, lake.catalog).post_new_movements()
    # payables and receivables open in every ageing bucket, aged from today back
    write_open_items(var / "lake", sample_open_items(lake.catalog, datetime.now(Settings().tz).date()))
    result = warehouse.build(var, lake.catalog, full=True)
    assert result.success, result.failures
    forecast_and_store.fn(str(var), 30)
    check(var)
    return lake


def build_company(var: Path, days: int = 30) -> Catalog:
    """The company's data under `var`; its master data."""
    return write_company(var, days).catalog


if __name__ == "__main__":  # python -m tests.support.company VAR_DIR
    import sys

    build_company(Path(sys.argv[1]))
