"""`make bench`: every benchmark, each against a baseline measured in the same run.

`BENCH_ONLY=stream`, `books`, `warehouse`, `forecasting`, `reconciliation`, `recovery` or `vision` runs one of them."""

import os

from bench import forecasting, pipeline, reconciliation, recovery, vision, vouchers, warehouse

only = os.environ.get("BENCH_ONLY", "")
if only in ("", "stream"):
    pipeline.main()
if only in ("", "books"):
    vouchers.main()
if only in ("", "warehouse"):
    warehouse.main()
if only in ("", "forecasting"):
    forecasting.main()
if only in ("", "reconciliation"):
    reconciliation.main()
if only in ("", "recovery"):
    recovery.main()
if only in ("", "vision"):
    vision.main()
