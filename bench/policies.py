"""Policy evaluation overhead on the stream: the core's processing step (`StockProcessor.process`,
what a worker calls per event) over the same simulated days with no rules, and with 20 rules of
the company's (`stockflow.compliance`), in the same run.

The 20 rules concern the busiest event types (POS sales, receipts, purchase orders, sales issues,
reservations, write-offs) but none of them matches (categories and channels the simulated company
does not sell, limits above any document): every event of those types is evaluated in full and
then applied, so the two runs apply the same events and the difference is the evaluation alone.
Figures (best of three, the two taken in turn after a warm-up of each): events/s without rules (the baseline) and with them, and the ratio.

`BENCH_POLICY_DAYS` (default 3) sizes it; `BENCH_ONLY=policies` runs it alone. Target: with
rules at least 90 % of the baseline's rate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, date

from bench.pipeline import Figure, report_and_save
from simulator.company import Simulation, build_catalog
from stockflow.compliance import PolicyBook, parse_policies
from stockflow.ledger import StockRejected
from stockflow.processing import PolicyHeld, StockProcessor

SEED = 7
START = date(2026, 3, 1)
REPEATS = 3
TARGET_SHARE = 0.9


def twenty_rules() -> PolicyBook:
    """Rules that are evaluated on most events and match none of the simulated company's."""
    rules = []
    for n in range(12):
        rules.append(
            {
                "id": f"no-sale-{n}",
                "description": "benchmark",
                "kind": "sale_restriction",
                "categories": [f"unsold-{n}", f"unsold-{n + 100}"],
                "skus": [f"NO-SUCH-{n}"],
                "channels": ["delivery", "group_meal", "sales_order"],
                "effect": "block" if n % 2 else "approval",
            }
        )
    for n in range(8):
        rules.append(
            {
                "id": f"limit-{n}",
                "description": "benchmark",
                "kind": "amount_limit",
                "above": str(10**12 + n),
                "effect": "approval",
            }
        )
    return PolicyBook(parse_policies({"rules": rules}), UTC)


def timed_pair(
    first: Callable[[], int], second: Callable[[], int]
) -> tuple[tuple[float, int], tuple[float, int]]:
    """Best time of each, the two run in turn (after one warm-up of each), so neither gains
    from warm caches the other paid for."""
    first(), second()
    best = [float("inf"), float("inf")]
    counts = [0, 0]
    for _ in range(REPEATS):
        for i, fn in enumerate((first, second)):
            started = time.perf_counter()
            counts[i] = fn()
            best[i] = min(best[i], time.perf_counter() - started)
    return (best[0], counts[0]), (best[1], counts[1])


def run(days: int) -> list[Figure]:
    catalog = build_catalog(SEED)
    events = list(Simulation(catalog, seed=SEED).history(START, days))
    book = twenty_rules()

    def through(policies: PolicyBook | None) -> Callable[[], int]:
        def go() -> int:
            proc = StockProcessor(catalog, policies=policies)
            applied = 0
            for event in events:
                try:
                    proc.process(event)
                except StockRejected:
                    continue
                except PolicyHeld:  # none is: the rules match nothing
                    raise
                applied += 1
            return applied

        return go

    (base_s, base_n), (rules_s, rules_n) = timed_pair(through(None), through(book))
    assert base_n == rules_n, (base_n, rules_n)
    base_rate, rules_rate = len(events) / base_s, len(events) / rules_s
    concerned = sum(1 for e in events if book.concerns(e.event_type))
    return [
        Figure("events", len(events), "events"),
        Figure("events a rule concerns", concerned, "events"),
        Figure("processing without rules", base_rate, "events/s"),
        Figure(
            "processing with 20 rules",
            rules_rate,
            "events/s",
            baseline=base_rate,
            target=f">= {TARGET_SHARE:.0%} of the baseline",
            ok=rules_rate >= TARGET_SHARE * base_rate,
        ),
    ]


def main() -> None:
    figures = run(int(os.environ.get("BENCH_POLICY_DAYS", 3)))
    report_and_save(figures, "Policy evaluation on the stream (core processing step)", "policies")


if __name__ == "__main__":
    main()
