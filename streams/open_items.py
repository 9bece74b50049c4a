"""Customers' open receivables for the stream's credit check, as the books last published them.

The books replace their open items (`lake.tables.OPEN_ITEMS`) whole after each change, as one
Parquet file in ``<lake>/open_items`` (beside it there may be an empty file that gives a young
lake the table's schema). `OpenReceivablesFile` is the ledger's `OpenReceivables` port: it sums
the open amounts of the customer rows of every ``part-*.parquet`` there, and reads them again
only when a file changed, looking at most once per refresh interval."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lake.tables import OPEN_ITEMS
from stockflow.finance import PartyKind
from stockflow.money import ZERO

log = logging.getLogger(__name__)

#: What tells one published file from another: name, inode, modification time and size.
_Signature = tuple[tuple[str, int, int, int], ...]


class OpenReceivablesFile:
    """Customer code → the sum of its open items in ``folder`` (0 for one without any, and for
    every customer while the books have published nothing)."""

    def __init__(
        self,
        folder: Path,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.reads = 0
        self._looked_at: float | None = None
        self._signature: _Signature = ()
        self._by_customer: dict[str, Decimal] = {}

    def __call__(self, customer: str) -> Decimal:
        self._refresh()
        return self._by_customer.get(customer, ZERO)

    def _refresh(self) -> None:
        now = self.clock()
        if self._looked_at is not None and now - self._looked_at < self.refresh_seconds:
            return
        self._looked_at = now
        signature = self._files()
        if signature == self._signature:
            return
        try:
            totals = _customer_totals([self.folder / name for name, *_ in signature])
        except (OSError, pa.ArrowException) as exc:  # replaced meanwhile, or half written: next look
            log.warning("open items in %s not read (%s); the last ones read stay", self.folder, exc)
            return
        self._by_customer, self._signature = totals, signature
        self.reads += 1

    def _files(self) -> _Signature:
        found = []
        for path in sorted(self.folder.glob("part-*.parquet")):
            try:
                stat = path.stat()
            except FileNotFoundError:  # replaced between the listing and now
                continue
            found.append((path.name, stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(found)


def _customer_totals(paths: list[Path]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    schema = OPEN_ITEMS.schema
    columns = ["party_kind", "party", "open_amount"]
    for path in paths:
        table = pq.read_table(path, columns=columns, schema=schema)
        customers = table.filter(pc.equal(table["party_kind"], PartyKind.CUSTOMER.value))
        if not customers.num_rows:
            continue
        summed = customers.group_by("party").aggregate([("open_amount", "sum")])
        for party, amount in zip(
            summed["party"].to_pylist(), summed["open_amount_sum"].to_pylist(), strict=True
        ):
            totals[party] = totals.get(party, ZERO) + (amount or ZERO)
    return totals
