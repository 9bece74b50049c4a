"""A whole simulated company's data on disk, as the running system leaves it: the lake (with
alerts), the posted books, a dbt-built warehouse, a forecast run with its review queue, and the
data-quality results. Built with the real components; used by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

from stockflow.masterdata import Catalog


def build_company(var: Path, days: int = 30) -> Catalog:
    from expectations.checks import check
    from flows.forecast_demand import forecast_and_store
    from stores import warehouse
    from stores.books import Books
    from tests.integration.test_books import Lake

    var.mkdir(parents=True, exist_ok=True)
    lake = Lake(var, days=days)
    lake.write()
    Books(var, lake.catalog).post_new_movements()
    result = warehouse.build(var, lake.catalog, full=True)
    assert result.success, result.failures
    forecast_and_store.fn(str(var), 30)
    check(var)
    return lake.catalog


if __name__ == "__main__":  # python -m tests.company VAR_DIR
    import sys

    build_company(Path(sys.argv[1]))
