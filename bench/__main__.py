"""`make bench`: every benchmark, each against a baseline measured in the same run.

`BENCH_ONLY=stream` or `BENCH_ONLY=books` runs one of them."""

import os

from bench import pipeline, vouchers

only = os.environ.get("BENCH_ONLY", "")
if only in ("", "stream"):
    pipeline.main()
if only in ("", "books"):
    vouchers.main()
