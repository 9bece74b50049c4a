"""`make bench`: every benchmark, each against a baseline measured in the same run.

`BENCH_ONLY=stream`, `BENCH_ONLY=books` or `BENCH_ONLY=warehouse` runs one of them."""

import os

from bench import pipeline, vouchers, warehouse

only = os.environ.get("BENCH_ONLY", "")
if only in ("", "stream"):
    pipeline.main()
if only in ("", "books"):
    vouchers.main()
if only in ("", "warehouse"):
    warehouse.main()
