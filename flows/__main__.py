"""`python -m flows serve`: serve every deployment against the local Prefect server."""

from __future__ import annotations

import logging
import sys
import threading
import time

log = logging.getLogger(__name__)
FORECAST_AT_START = "forecast_demand/nightly"
REPLENISH_AFTER_FORECAST = "replenish/hourly"


def main() -> None:
    if sys.argv[1:] != ["serve"]:
        raise SystemExit("usage: python -m flows serve")
    from prefect import serve

    from flows.post_vouchers import deployments
    from stockflow.config import get_settings
    from stockflow.editions import has_stock

    if has_stock(get_settings().edition):  # the no-stock edition forecasts no stock
        threading.Thread(target=_forecast_once, name="forecast-at-start", daemon=True).start()
    serve(*deployments(), print_starting_message=False)


def _forecast_once(wait_seconds: float = 1800.0) -> None:
    """Forecast once when the app starts, as soon as there is a warehouse to read, then plan
    replenishment on that forecast."""
    from prefect.deployments import run_deployment

    from stockflow.config import get_settings
    from stores import warehouse

    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if warehouse.warehouse_path(get_settings().var_dir).exists():
            try:  # fails until serve() has registered the deployment
                run_deployment(name=FORECAST_AT_START, timeout=None)
            except Exception as e:  # noqa: BLE001
                log.debug("forecast at start: %s", e)
                time.sleep(5)
                continue
            try:
                run_deployment(name=REPLENISH_AFTER_FORECAST, timeout=0)
            except Exception as e:  # noqa: BLE001
                log.warning("replenishment after the start-up forecast: %s", e)
            return
        time.sleep(5)
    log.warning("no warehouse after %.0fs: no forecast at start", wait_seconds)


if __name__ == "__main__":
    main()
