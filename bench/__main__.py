"""`make bench`: every benchmark, each against a baseline measured in the same run.

`BENCH_ONLY=stream`, `broker` (the embedded broker alone, run after run), `books`, `warehouse`,
`forecasting` (simulated and real demand), `reconciliation`, `recovery`, `vision`, `trust`,
`masterdata`, `edge`, `finance`, `restaurant`, `kitting`, `trace` or `policies` runs one of them."""

import os

from stockflow.identity import new_token

# the credential this run's tools present to the workers it starts (each registers it)
os.environ.setdefault("STOCKFLOW_API_TOKEN", new_token()[0])

from bench import (  # noqa: E402 — after the credential is chosen
    broker_growth,
    edge,
    finance,
    forecasting,
    forecasting_real,
    kitting,
    masterdata,
    masterdata_live,
    pipeline,
    policies,
    reconciliation,
    recovery,
    restaurant,
    trace,
    trust,
    vision,
    vouchers,
    warehouse,
)

only = os.environ.get("BENCH_ONLY", "")
if only in ("", "stream"):
    pipeline.main()
if only in ("", "broker"):
    broker_growth.main()
if only in ("", "books"):
    vouchers.main()
if only in ("", "warehouse"):
    warehouse.main()
if only in ("", "forecasting"):
    forecasting.main()
    forecasting_real.main()
if only in ("", "reconciliation"):
    reconciliation.main()
if only in ("", "recovery"):
    recovery.main()
if only in ("", "vision"):
    vision.main()
if only in ("", "trust"):
    trust.main()
if only in ("", "masterdata"):
    masterdata.main()
    masterdata_live.main()
if only in ("", "edge"):
    edge.main()
if only in ("", "finance"):
    finance.main()
if only in ("", "restaurant"):
    restaurant.main()
if only in ("", "kitting"):
    kitting.main()
if only in ("", "trace"):
    trace.main()
if only in ("", "policies"):
    policies.main()
