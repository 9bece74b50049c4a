"""The books' use cases: post vouchers for new stock movements, close a period, reverse or correct
a posted voucher, the trial balance and its check against the stock ledger, a period's export
(CSV, JSON, or the voucher import workbook of 用友 U8 or 金蝶 K/3: `stockflow.voucher_layouts`).

They are written against the ports below; `stores.books.Books` implements them on DuckDB and the
lake. Every write goes through one `BooksSession`: the store's single writer, one transaction,
rolled back unless the use case commits it, so a use case that fails halfway leaves nothing
behind. An audit entry is appended before the change it records is committed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from stockflow.config import Edition
from stockflow.editions import has_stock
from stockflow.ledger import Movement
from stockflow.service_orders import voucher_from_lines
from stockflow.services.ports import AuditTrail
from stockflow.valuation import Valuation, ValuedMovement
from stockflow.voucher_layouts import LAYOUTS, LayoutLine, Parties, VoucherWorkbook, voucher_workbook
from stockflow.vouchers import (
    AccountingPolicy,
    AccountTotal,
    LocationBalance,
    NumberedVoucher,
    PostingRejected,
    StockCheck,
    TrialBalanceRow,
    Voucher,
    VoucherLine,
    VoucherRules,
    book_into_open_period,
    checked_period,
    correct_voucher,
    ensure_reversible,
    inventory_by_location_of,
    number_vouchers,
    reversal_date,
    reverse_voucher,
    trial_balance_of,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: A movement's key in the stock ledger: (event id, location, SKU, batch).
MovementKey = tuple[str, str, str, str]
#: Text formats, then the accounting software whose voucher import workbook a period can be laid out in.
EXPORT_FORMATS = ("csv", "json", *LAYOUTS)
#: The columns of a CSV export, in order (what accounting software imports).
EXPORT_CSV_FIELDS = (
    "date", "voucher_no", "accounting_unit", "line_no", "summary", "account_code", "account_name",
    "debit", "credit", "location", "sku", "batch", "supplier", "customer", "counterpart_unit", "kind",
    "reverses", "note", "voucher_id",
)  # fmt: skip
EXPORT_AUXILIARY = ("location", "sku", "batch", "supplier", "customer", "counterpart_unit")


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class LandedMovement:
    """A stock movement as it landed in the lake: its order of application and when it landed."""

    movement: Movement
    apply_seq: int
    landed_at: datetime

    @property
    def key(self) -> MovementKey:
        m = self.movement
        return (m.event_id, m.location, m.sku, m.batch)


@dataclass(frozen=True, slots=True)
class MovementBatch:
    """The movements of the lake files not consumed yet, in order of application.

    `files` name what the batch consumes and `listed_at` when they were listed; both are the
    source's own business, handed back to it when the batch is committed."""

    files: tuple[str, ...]
    movements: tuple[LandedMovement, ...]
    listed_at: float


@dataclass(frozen=True, slots=True)
class LandedVoucherLines:
    """Lines of vouchers made upstream (the service worker's revenue vouchers) in lake files not
    consumed yet, each a mapping with the landed row's columns and `landed_at`."""

    files: tuple[str, ...]
    lines: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One valued movement for the stock ledger, with where it came from in the lake."""

    valued: ValuedMovement
    apply_seq: int
    landed_at: datetime


@dataclass(frozen=True)
class PassResult:
    """What one posting pass did (a run of the books: also what a hand-made posting records)."""

    run_id: str
    files: int
    movements: int
    duplicates: int
    vouchers: int
    lag_p50_seconds: float | None
    lag_p99_seconds: float | None
    lag_max_seconds: float | None
    lags: tuple[float, ...] = ()


# ---------------------------------------------------------------------------- ports
class MovementSource(Protocol):
    """New stock movements, consumed once: a batch is consumed when the session that took it
    commits (`consume`), never before."""

    def new_movements(self) -> MovementBatch: ...

    def consume(self, batch: MovementBatch, run_id: str) -> None: ...

    def new_service_voucher_lines(self) -> LandedVoucherLines:
        """The service worker's voucher lines in files not consumed yet (none in the standard
        edition)."""
        ...

    def consume_files(self, files: Sequence[str], run_id: str) -> None:
        """Mark files consumed (in the pass's transaction)."""
        ...


class BooksSession(MovementSource, Protocol):
    """One writer's transaction on the books (rolled back unless `commit` is called)."""

    # reading
    def valued_keys(self, event_ids: Collection[str]) -> set[MovementKey]:
        """Keys of the movements of these events the stock ledger already holds."""
        ...

    def sold(self, location: str, ticket: str, sku: str) -> tuple[int, Decimal] | None:
        """Units of a SKU a till ticket sold and the value they left with (for returns)."""
        ...

    def valuation_state(self) -> Mapping[str, Any] | None: ...

    def closed_periods(self) -> frozenset[str]: ...

    def last_voucher_numbers(self) -> Mapping[tuple[str, str], str]:
        """The last voucher number issued per (accounting unit, period)."""
        ...

    def posted_voucher_ids(self, voucher_ids: Collection[str]) -> set[str]: ...

    def voucher(self, voucher_id: str) -> Voucher | None: ...

    def is_reversed(self, voucher_id: str) -> bool: ...

    # writing
    def add_ledger_entries(
        self, entries: Sequence[LedgerEntry], valued_at: datetime, run_id: str
    ) -> None: ...

    def add_vouchers(self, vouchers: Sequence[NumberedVoucher], posted_at: datetime, run_id: str) -> None: ...

    def save_valuation_state(self, state: Mapping[str, Any], at: datetime) -> None: ...

    def add_run(self, run: PassResult, started_at: datetime, finished_at: datetime) -> None: ...

    def close_period(self, period: str, closed_at: datetime, closed_by: str) -> None: ...

    def commit(self) -> None: ...


class BooksStore(Protocol):
    """The books: a writer's session, and the sums the reports read."""

    def session(self) -> AbstractContextManager[BooksSession]: ...

    def closed_periods(self) -> list[str]: ...

    def account_totals(
        self, up_to_period: str | None = None, accounting_unit: str | None = None
    ) -> Iterable[AccountTotal]:
        """Debit and credit totals per account (any grouping finer than set of books × account)
        of the vouchers in periods up to `up_to_period` (None: all)."""
        ...

    def location_balances(self) -> Iterable[LocationBalance]:
        """Debit balances per account and location dimension (any finer grouping will do)."""
        ...

    def stock_value_by_location(self) -> dict[str, Decimal]:
        """Stock value per location from the stock ledger (on hand plus in transit to it)."""
        ...

    def export_rows(self, period: str, accounting_unit: str | None = None) -> list[dict[str, Any]]:
        """One row per voucher line of the period (fields: `EXPORT_CSV_FIELDS`, `source_event_id`),
        by set of books, voucher number and line."""
        ...


class AccountTotals(Protocol):
    """Anything that can sum voucher lines per account: the books, or the warehouse's marts."""

    def account_totals(
        self, up_to_period: str | None = None, accounting_unit: str | None = None
    ) -> Iterable[AccountTotal]: ...


# ---------------------------------------------------------------------------- use cases
class BooksService:
    """The books' use cases over a store, the audit trail, the voucher rules (catalog and policy)
    and a clock."""

    def __init__(
        self, store: BooksStore, audit: AuditTrail, rules: VoucherRules, clock: Clock = now_utc
    ) -> None:
        self.store = store
        self.audit = audit
        self.rules = rules
        self.clock = clock

    @property
    def policy(self) -> AccountingPolicy:
        return self.rules.policy

    # ------------------------------------------------------------------ posting
    def post_vouchers(self, run_id: str | None = None) -> PassResult:
        """Value every movement not consumed yet and post its event's vouchers: one transaction
        (stock ledger, vouchers, valuation state, consumed files and the run together)."""
        run_id = run_id or f"run-{time.time_ns()}"
        started = self.clock()
        with self.store.session() as books:
            batch = books.new_movements()
            if not batch.files:
                return PassResult(run_id, 0, 0, 0, 0, None, None, None)
            known = books.valued_keys({m.movement.event_id for m in batch.movements})
            fresh = [m for m in batch.movements if m.key not in known]
            valuation = restored_valuation(self.rules, books)
            valued_at = self.clock()
            entries: list[LedgerEntry] = []
            drafts: list[tuple[Voucher, datetime | None]] = []
            for event in movements_by_event(fresh):
                valued = []
                for landed in event:
                    vm = valuation.value(landed.movement)
                    if vm is not None:
                        valued.append(vm)
                        entries.append(LedgerEntry(vm, landed.apply_seq, landed.landed_at))
                landed_at = max(m.landed_at for m in event)
                drafts += [(v, landed_at) for v in self.rules.vouchers_for(valued)]
            posted_at = self.clock()
            numbered = self._booked_and_numbered(books, drafts)
            result = pass_result(
                run_id, len(batch.files), len(entries), len(batch.movements) - len(fresh), numbered, posted_at
            )
            books.add_ledger_entries(entries, valued_at, run_id)
            books.add_vouchers(numbered, posted_at, run_id)
            books.save_valuation_state(valuation.state(), posted_at)
            books.consume(batch, run_id)
            books.add_run(result, started, self.clock())
            books.commit()
        return result

    def post_pass(self, edition: Edition, run_id: str | None = None) -> PassResult:
        """One posting pass of what the edition books: valued stock movements, or in the
        no-stock edition the service worker's revenue vouchers."""
        if has_stock(edition):
            return self.post_vouchers(run_id)
        return self.post_service_vouchers(run_id)

    def post_service_vouchers(self, run_id: str | None = None) -> PassResult:
        """Post the revenue vouchers the service worker made (进销存(无库存版)): each landed
        voucher's lines make it again, it is booked into an open period and numbered, and its
        files are consumed, in one transaction; a voucher posted already is left out."""
        run_id = run_id or f"run-{time.time_ns()}"
        started = self.clock()
        with self.store.session() as books:
            batch = books.new_service_voucher_lines()
            if not batch.files:
                return PassResult(run_id, 0, 0, 0, 0, None, None, None)
            by_voucher: dict[str, list[Mapping[str, Any]]] = {}
            for line in batch.lines:
                by_voucher.setdefault(str(line["voucher_id"]), []).append(line)
            drafts: list[tuple[Voucher, datetime | None]] = []
            for lines in by_voucher.values():
                # the same voucher landed twice (a redelivered event): its lines once
                once = {int(r["line_no"]): r for r in lines}
                landed = [r["landed_at"] for r in lines if r.get("landed_at") is not None]
                drafts.append((voucher_from_lines(once.values()), max(landed, default=None)))
            drafts.sort(key=lambda d: (d[0].occurred_at, d[0].voucher_id))
            posted_at = self.clock()
            numbered = self._booked_and_numbered(books, drafts)
            result = pass_result(
                run_id, len(batch.files), 0, len(drafts) - len(numbered), numbered, posted_at
            )
            books.add_vouchers(numbered, posted_at, run_id)
            books.consume_files(batch.files, run_id)
            books.add_run(result, started, self.clock())
            books.commit()
        return result

    @staticmethod
    def _booked_and_numbered(
        books: BooksSession, drafts: Sequence[tuple[Voucher, datetime | None]]
    ) -> list[NumberedVoucher]:
        closed = books.closed_periods()
        booked = [(book_into_open_period(v, closed), landed) for v, landed in drafts]
        posted = books.posted_voucher_ids({v.voucher_id for v, _ in booked})
        return number_vouchers(booked, books.last_voucher_numbers(), posted)

    # ------------------------------------------------------------------ periods
    def close_period(self, period: str, closed_by: str = "") -> None:
        """Close a period: later postings dated in it go to the first open period."""
        checked_period(period)
        with self.store.session() as books:
            if period in books.closed_periods():
                raise PostingRejected("period_closed", f"period {period} is already closed")
            books.close_period(period, self.clock(), closed_by)
            self.audit.append(closed_by or "unknown", "period.closed", f"period {period}")
            books.commit()

    def closed_periods(self) -> list[str]:
        return sorted(self.store.closed_periods())

    # ------------------------------------------------------------------ corrections
    def reverse(self, voucher_id: str, reason: str, on: date | None = None, by: str = "unknown") -> Voucher:
        """Post the red-letter reversal of a posted voucher (never edit it)."""
        with self.store.session() as books:
            original = ensure_reversible(voucher_id, books.voucher(voucher_id), books.is_reversed(voucher_id))
            when = reversal_date(on, self.clock(), self.policy)
            (reversal,) = self._post_by_hand(
                books, [reverse_voucher(original, when, reason)], by, "voucher.reversed", voucher_id, reason
            )
        return reversal

    def correct(
        self,
        voucher_id: str,
        lines: Sequence[VoucherLine],
        reason: str,
        on: date | None = None,
        by: str = "unknown",
    ) -> tuple[Voucher, Voucher]:
        """Correct a posted voucher: its red-letter reversal plus a new voucher, posted together."""
        with self.store.session() as books:
            original = ensure_reversible(voucher_id, books.voucher(voucher_id), books.is_reversed(voucher_id))
            when = reversal_date(on, self.clock(), self.policy)
            reversal, corrected = self._post_by_hand(
                books,
                list(correct_voucher(original, lines, when, reason)),
                by,
                "voucher.corrected",
                voucher_id,
                reason,
            )
        return reversal, corrected

    def _post_by_hand(
        self, books: BooksSession, vouchers: list[Voucher], by: str, action: str, voucher_id: str, reason: str
    ) -> list[Voucher]:
        """Post hand-made vouchers with their audit entry (appended before the commit)."""
        numbered = self._booked_and_numbered(books, [(v, None) for v in vouchers])
        run_id = f"manual-{time.time_ns()}"
        posted_at = self.clock()
        books.add_vouchers(numbered, posted_at, run_id)
        books.add_run(PassResult(run_id, 0, 0, 0, len(numbered), None, None, None), posted_at, posted_at)
        booked = [n.voucher for n in numbered]
        self.audit.append(
            by,
            action,
            f"voucher {voucher_id}",
            reason=reason,
            details={"vouchers": [v.voucher_id for v in booked], "run_id": run_id},
        )
        books.commit()
        return booked

    # ------------------------------------------------------------------ reports
    def trial_balance(
        self, period: str | None = None, accounting_unit: str | None = None
    ) -> list[TrialBalanceRow]:
        """Debit and credit totals per set of books and account (to the end of `period`)."""
        return trial_balance(self.store, period, accounting_unit)

    def inventory_by_location(self) -> dict[str, Decimal]:
        """The inventory accounts' balance per location."""
        return inventory_by_location_of(self.store.location_balances(), self.policy)

    def check_stock(self) -> StockCheck:
        """The inventory accounts against the stock ledger's value, per location."""
        return StockCheck(self.inventory_by_location(), self.store.stock_value_by_location())

    def export_period(
        self, period: str, fmt: str, accounting_unit: str | None = None, preparer: str = ""
    ) -> str | VoucherWorkbook:
        """A period's vouchers as CSV (one row per line) or JSON (vouchers with their lines), or
        the workbook an accounting software imports (`yonyou`, `kingdee`: one set of books, with
        `preparer` as 制单人; see `stockflow.voucher_layouts`)."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}: csv or json, or {' or '.join(LAYOUTS)}")
        rows = self.store.export_rows(checked_period(period), accounting_unit)
        if fmt in LAYOUTS:
            lines = [LayoutLine.from_row(r) for r in rows]
            return voucher_workbook(fmt, lines, preparer, Parties.of(self.rules.catalog))
        return export_json(period, rows) if fmt == "json" else export_csv(rows)


def trial_balance(
    source: AccountTotals, period: str | None = None, accounting_unit: str | None = None
) -> list[TrialBalanceRow]:
    """The trial balance of the lines `source` holds, to the end of `period` (None: all)."""
    if period is not None:
        checked_period(period)
    return trial_balance_of(source.account_totals(period, accounting_unit))


# ---------------------------------------------------------------------------- helpers
def pass_result(
    run_id: str,
    files: int,
    movements: int,
    duplicates: int,
    numbered: Sequence[NumberedVoucher],
    posted_at: datetime,
) -> PassResult:
    """What a posting pass did, with the lags (event time → posted) of the vouchers it posted."""
    lags = sorted(v.lag_seconds(posted_at) for v in numbered)
    return PassResult(
        run_id,
        files,
        movements,
        duplicates,
        len(numbered),
        percentile(lags, 0.5),
        percentile(lags, 0.99),
        lags[-1] if lags else None,
        tuple(lags),
    )


def restored_valuation(rules: VoucherRules, books: BooksSession) -> Valuation:
    """The valuation as the books' last posting left it (a new one for new books)."""
    valuation = Valuation(rules.catalog, rules.policy.valuation_methods, books.sold)
    state = books.valuation_state()
    if state is not None:
        valuation.restore(state)
    return valuation


def movements_by_event(movements: Iterable[LandedMovement]) -> list[list[LandedMovement]]:
    """Movements per event, events in the order of their first movement (several workers'
    movements may interleave in apply order)."""
    groups: dict[str, list[LandedMovement]] = {}
    for m in movements:
        groups.setdefault(m.movement.event_id, []).append(m)
    return list(groups.values())


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` quantile of values sorted ascending (None: no values)."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def export_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "date": r["date"].isoformat()})
    return out.getvalue()


def export_json(period: str, rows: Iterable[Mapping[str, Any]]) -> str:
    vouchers: dict[str, dict[str, Any]] = {}
    for r in rows:
        v = vouchers.setdefault(
            r["voucher_id"],
            {
                "date": r["date"].isoformat(),
                "voucher_no": r["voucher_no"],
                "accounting_unit": r["accounting_unit"],
                "kind": r["kind"],
                "reverses": r["reverses"],
                "note": r["note"],
                "voucher_id": r["voucher_id"],
                "source_event_id": r["source_event_id"],
                "lines": [],
            },
        )
        v["lines"].append(
            {
                "summary": r["summary"],
                "account_code": r["account_code"],
                "account_name": r["account_name"],
                "debit": str(r["debit"]),
                "credit": str(r["credit"]),
                "auxiliary": {k: r[k] for k in EXPORT_AUXILIARY if r[k]},
            }
        )
    return json.dumps({"period": period, "vouchers": list(vouchers.values())}, ensure_ascii=False, indent=1)
