"""The books: valued stock ledger, vouchers and posting state in DuckDB (``var/books.duckdb``),
with each posting run also exported as Parquet into the lake for the warehouse.

One posting pass is one DuckDB transaction: the stock ledger rows, the vouchers, the new
valuation state and the list of lake files consumed are committed together or not at all,
so a pass that dies halfway leaves nothing behind and the next one does the same work again.
Vouchers have ids derived from their source events and a primary key, and movements already
in the stock ledger are skipped, so nothing is ever posted twice.

DuckDB lets one process write a database file at a time; a pass holds the file only while it
posts (an exclusive lock file serialises passes of concurrent flow runs).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lake import SCHEMAS
from stockflow.ledger import Movement, Position
from stockflow.masterdata import Catalog
from stockflow.valuation import Valuation, ValuedMovement
from stockflow.vouchers import (
    AccountingPolicy,
    PostingRejected,
    TrialBalanceRow,
    Voucher,
    VoucherKind,
    VoucherLine,
    VoucherRules,
    book_into_open_period,
    correct_voucher,
    reverse_voucher,
)
from stores import duck
from stores.audit_log import AuditLog

log = logging.getLogger(__name__)

MOVEMENTS_TABLE = "inventory_changed"
#: A folder whose modification time is this much older than the last listing is not re-read.
LISTING_MARGIN_SECONDS = 60.0
MONEY = pa.decimal128(18, 2)
RATE = pa.decimal128(18, 6)
TS = pa.timestamp("us", tz="UTC")

STOCK_LEDGER_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("apply_seq", pa.int64()),
        ("event_type", pa.string()),
        ("occurred_at", TS),
        ("location", pa.string()),
        ("sku", pa.string()),
        ("batch", pa.string()),
        ("reference", pa.string()),
        ("counterparty", pa.string()),
        ("method", pa.string()),
        ("qty_change", pa.int64()),
        ("in_transit_change", pa.int64()),
        ("unit_cost", RATE),
        ("value_change", MONEY),
        ("transit_value_change", MONEY),
        ("transit_location", pa.string()),
        ("cost_variance", MONEY),
        ("provisional", pa.bool_()),
        ("qty_after", pa.int64()),
        ("stock_value_after", MONEY),
        ("valuation_rate", RATE),
        ("unit_price", RATE),
        ("landed_at", TS),
        ("valued_at", TS),
        ("run_id", pa.string()),
    ]
)
VOUCHER_SCHEMA = pa.schema(
    [
        ("voucher_id", pa.string()),
        ("voucher_no", pa.string()),
        ("accounting_unit", pa.string()),
        ("period", pa.string()),
        ("voucher_date", pa.date32()),
        ("summary", pa.string()),
        ("kind", pa.string()),
        ("reverses", pa.string()),
        ("note", pa.string()),
        ("source_event_id", pa.string()),
        ("source_event_type", pa.string()),
        ("occurred_at", TS),
        ("landed_at", TS),
        ("posted_at", TS),
        ("lag_seconds", pa.float64()),
        ("total", MONEY),
        ("run_id", pa.string()),
    ]
)
VOUCHER_LINE_SCHEMA = pa.schema(
    [
        ("voucher_id", pa.string()),
        ("line_no", pa.int32()),
        ("account_code", pa.string()),
        ("account_name", pa.string()),
        ("debit", MONEY),
        ("credit", MONEY),
        ("summary", pa.string()),
        ("location", pa.string()),
        ("sku", pa.string()),
        ("batch", pa.string()),
        ("supplier", pa.string()),
        ("customer", pa.string()),
        ("counterpart_unit", pa.string()),
        ("run_id", pa.string()),
    ]
)
EXPORTED_TABLES = {
    "stock_ledger": STOCK_LEDGER_SCHEMA,
    "vouchers": VOUCHER_SCHEMA,
    "voucher_lines": VOUCHER_LINE_SCHEMA,
}

_DDL = """
CREATE TABLE IF NOT EXISTS stock_ledger (
    event_id VARCHAR NOT NULL, apply_seq BIGINT, event_type VARCHAR, occurred_at TIMESTAMPTZ,
    location VARCHAR NOT NULL, sku VARCHAR NOT NULL, batch VARCHAR NOT NULL, reference VARCHAR,
    counterparty VARCHAR, method VARCHAR, qty_change BIGINT, in_transit_change BIGINT,
    unit_cost DECIMAL(18,6), value_change DECIMAL(18,2), transit_value_change DECIMAL(18,2),
    transit_location VARCHAR, cost_variance DECIMAL(18,2), provisional BOOLEAN, qty_after BIGINT,
    stock_value_after DECIMAL(18,2), valuation_rate DECIMAL(18,6), unit_price DECIMAL(18,6),
    landed_at TIMESTAMPTZ, valued_at TIMESTAMPTZ, run_id VARCHAR,
    PRIMARY KEY (event_id, location, sku, batch)
);
CREATE TABLE IF NOT EXISTS vouchers (
    voucher_id VARCHAR PRIMARY KEY, voucher_no VARCHAR NOT NULL, accounting_unit VARCHAR NOT NULL,
    period VARCHAR NOT NULL, voucher_date DATE NOT NULL, summary VARCHAR, kind VARCHAR NOT NULL,
    reverses VARCHAR, note VARCHAR, source_event_id VARCHAR, source_event_type VARCHAR,
    occurred_at TIMESTAMPTZ, landed_at TIMESTAMPTZ, posted_at TIMESTAMPTZ NOT NULL,
    lag_seconds DOUBLE, total DECIMAL(18,2), run_id VARCHAR,
    UNIQUE (accounting_unit, period, voucher_no)
);
CREATE TABLE IF NOT EXISTS voucher_lines (
    voucher_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, account_code VARCHAR NOT NULL,
    account_name VARCHAR, debit DECIMAL(18,2) NOT NULL, credit DECIMAL(18,2) NOT NULL, summary VARCHAR,
    location VARCHAR, sku VARCHAR, batch VARCHAR, supplier VARCHAR, customer VARCHAR,
    counterpart_unit VARCHAR, run_id VARCHAR,
    PRIMARY KEY (voucher_id, line_no)
);
CREATE TABLE IF NOT EXISTS posting_state (
    id INTEGER PRIMARY KEY, valuation JSON NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
    listed_at DOUBLE
);
CREATE TABLE IF NOT EXISTS processed_files (path VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS periods (
    period VARCHAR PRIMARY KEY, closed_at TIMESTAMPTZ NOT NULL, closed_by VARCHAR
);
CREATE TABLE IF NOT EXISTS posting_runs (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, files INTEGER,
    movements INTEGER, duplicates INTEGER, vouchers INTEGER, lag_p50_seconds DOUBLE,
    lag_p99_seconds DOUBLE, lag_max_seconds DOUBLE, exported BOOLEAN NOT NULL DEFAULT false
);
"""


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PassResult:
    """What one posting pass did."""

    run_id: str
    files: int
    movements: int
    duplicates: int
    vouchers: int
    lag_p50_seconds: float | None
    lag_p99_seconds: float | None
    lag_max_seconds: float | None
    lags: tuple[float, ...] = ()


class Books:
    """Posting, reading and exporting the books under one var/ folder."""

    def __init__(self, var_dir: Path, catalog: Catalog, policy: AccountingPolicy | None = None) -> None:
        self.var_dir = var_dir
        self.lake_dir = var_dir / "lake"
        self.path = var_dir / "books.duckdb"
        self.catalog = catalog
        self.policy = policy or AccountingPolicy.cn_small_enterprise()
        self.rules = VoucherRules(catalog, self.policy)
        self.audit = AuditLog(var_dir)

    # ------------------------------------------------------------------ connections
    def connect(self, read_only: bool = False, timeout: float = 60.0):  # noqa: ANN201
        """A connection; writers hold the lock file so that only one posts at a time."""
        return duck.connect(self.path, _DDL, read_only, timeout)

    # ------------------------------------------------------------------ posting
    def post_new_movements(self, run_id: str | None = None) -> PassResult:
        """Value and post every movement in lake files not consumed yet (one transaction)."""
        run_id = run_id or f"run-{time.time_ns()}"
        started = now_utc()
        with self.connect() as con:
            files, listed_at = self._new_files(con)
            if not files:
                return PassResult(run_id, 0, 0, 0, 0, None, None, None)
            rows = _read_movement_rows(files)
            known = self._already_valued(con, rows)
            fresh = [r for r in rows if (r["event_id"], r["location"], r["sku"], r["batch"]) not in known]
            valuation = Valuation(self.catalog, self.policy.valuation_methods, lambda *k: self._sold(con, *k))
            state = first_row(con.execute("SELECT valuation FROM posting_state WHERE id = 1"))
            if state is not None:
                valuation.restore(json.loads(state[0]))
            valued_at = now_utc()
            ledger_rows: list[dict[str, Any]] = []
            vouchers: list[tuple[Voucher, datetime]] = []
            for event_rows in _group_by_event(fresh):
                valued = []
                for row in event_rows:
                    vm = valuation.value(_movement(row))
                    if vm is not None:
                        valued.append(vm)
                        ledger_rows.append(_ledger_record(vm, row, valued_at, run_id))
                landed = max(r["landed_at"] for r in event_rows)
                vouchers += [(v, landed) for v in self.rules.vouchers_for(valued)]
            posted_at = now_utc()
            closed = self._closed_periods(con)
            numbered = self._number(
                con, [(book_into_open_period(v, closed), landed) for v, landed in vouchers]
            )
            lags = sorted((posted_at - v.occurred_at).total_seconds() for v, _, _ in numbered)
            con.execute("BEGIN TRANSACTION")
            try:
                _insert(con, "stock_ledger", STOCK_LEDGER_SCHEMA, ledger_rows)
                self._insert_vouchers(con, numbered, posted_at, run_id)
                con.execute(
                    "INSERT OR REPLACE INTO posting_state VALUES (1, ?, ?, ?)",
                    [json.dumps(valuation.state()), posted_at, listed_at],
                )
                _insert(
                    con,
                    "processed_files",
                    pa.schema([("path", pa.string()), ("run_id", pa.string())]),
                    [{"path": self._rel(f), "run_id": run_id} for f in files],
                )
                result = PassResult(
                    run_id,
                    len(files),
                    len(ledger_rows),
                    len(rows) - len(fresh),
                    len(numbered),
                    percentile(lags, 0.5),
                    percentile(lags, 0.99),
                    lags[-1] if lags else None,
                    tuple(lags),
                )
                con.execute(
                    "INSERT INTO posting_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
                    [
                        run_id,
                        started,
                        now_utc(),
                        result.files,
                        result.movements,
                        result.duplicates,
                        result.vouchers,
                        result.lag_p50_seconds,
                        result.lag_p99_seconds,
                        result.lag_max_seconds,
                    ],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self._export_runs(con)
        return result

    def _new_files(self, con: duckdb.DuckDBPyConnection) -> tuple[list[Path], float]:
        """Lake files of movements not consumed yet, in write order, and when they were listed.

        Only date folders changed since the last listing are read (landing a file changes its
        folder's modification time), and the check against the files already consumed is an
        anti-join in DuckDB, so a pass costs what is new, not what the lake has gathered."""
        listed_at = time.time()
        row = first_row(con.execute("SELECT listed_at FROM posting_state WHERE id = 1"))
        since = None if row is None or row[0] is None else row[0] - LISTING_MARGIN_SECONDS
        root = self.lake_dir / MOVEMENTS_TABLE
        candidates: list[str] = []
        if root.is_dir():
            for folder in os.scandir(root):
                if not folder.name.startswith("date=") or (
                    since is not None and folder.stat().st_mtime < since
                ):
                    continue
                candidates += [
                    f"{MOVEMENTS_TABLE}/{folder.name}/{entry.name}"
                    for entry in os.scandir(folder.path)
                    if entry.name.startswith("part-") and entry.name.endswith(".parquet")
                ]
        if not candidates:
            return [], listed_at
        con.register("candidates", pa.table({"path": candidates}))
        try:
            new = [
                r[0]
                for r in con.execute(
                    "SELECT path FROM candidates ANTI JOIN processed_files USING (path)"
                ).fetchall()
            ]
        finally:
            con.unregister("candidates")
        return sorted((self.lake_dir / p for p in new), key=lambda p: p.name), listed_at

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.lake_dir))

    @staticmethod
    def _already_valued(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> set[tuple[str, ...]]:
        ids = pa.table({"event_id": sorted({r["event_id"] for r in rows})})
        con.register("new_ids", ids)
        try:
            found = con.execute(
                "SELECT event_id, location, sku, batch FROM stock_ledger WHERE event_id IN (SELECT event_id FROM new_ids)"
            ).fetchall()
        finally:
            con.unregister("new_ids")
        return {tuple(r) for r in found}

    @staticmethod
    def _sold(
        con: duckdb.DuckDBPyConnection, location: str, ticket: str, sku: str
    ) -> tuple[int, Decimal] | None:
        """Units of a SKU a till ticket sold and the value they left with (stock ledger)."""
        row = first_row(
            con.execute(
                "SELECT -sum(qty_change), -sum(value_change) FROM stock_ledger"
                " WHERE location = ? AND reference = ? AND sku = ? AND event_type = 'pos_sale'",
                [location, ticket, sku],
            )
        )
        return None if row is None or row[0] is None else (int(row[0]), Decimal(row[1]))

    @staticmethod
    def _closed_periods(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
        return frozenset(r[0] for r in con.execute("SELECT period FROM periods").fetchall())

    @staticmethod
    def _number(
        con: duckdb.DuckDBPyConnection, vouchers: Sequence[tuple[Voucher, datetime | None]]
    ) -> list[tuple[Voucher, datetime | None, str]]:
        """Voucher numbers run per set of books and period in posting order: 记-000001 …"""
        last = {
            (unit, period): n
            for unit, period, n in con.execute(
                "SELECT accounting_unit, period, max(CAST(split_part(voucher_no, '-', 2) AS INTEGER))"
                " FROM vouchers GROUP BY ALL"
            ).fetchall()
        }
        existing = {
            r[0]
            for r in con.execute(
                "SELECT voucher_id FROM vouchers WHERE voucher_id IN (SELECT unnest(?))",
                [[v.voucher_id for v, _ in vouchers]],
            ).fetchall()
        }
        out = []
        for v, landed in vouchers:
            if v.voucher_id in existing:
                continue
            existing.add(v.voucher_id)
            key = (v.accounting_unit, v.period)
            last[key] = last.get(key, 0) + 1
            out.append((v, landed, f"记-{last[key]:06d}"))
        return out

    @staticmethod
    def _insert_vouchers(
        con: duckdb.DuckDBPyConnection,
        numbered: Sequence[tuple[Voucher, datetime | None, str]],
        posted_at: datetime,
        run_id: str,
    ) -> None:
        heads, lines = [], []
        for v, landed, number in numbered:
            heads.append(
                {
                    "voucher_id": v.voucher_id,
                    "voucher_no": number,
                    "accounting_unit": v.accounting_unit,
                    "period": v.period,
                    "voucher_date": v.voucher_date,
                    "summary": v.summary,
                    "kind": v.kind.value,
                    "reverses": v.reverses,
                    "note": v.note,
                    "source_event_id": v.source_event_id,
                    "source_event_type": v.source_event_type,
                    "occurred_at": v.occurred_at,
                    "landed_at": landed,
                    "posted_at": posted_at,
                    "lag_seconds": (posted_at - v.occurred_at).total_seconds(),
                    "total": v.total_debit,
                    "run_id": run_id,
                }
            )
            for i, line in enumerate(v.lines, start=1):
                lines.append(
                    {"voucher_id": v.voucher_id, "line_no": i, **_line_record(line), "run_id": run_id}
                )
        _insert(con, "vouchers", VOUCHER_SCHEMA, heads)
        _insert(con, "voucher_lines", VOUCHER_LINE_SCHEMA, lines)

    # ------------------------------------------------------------------ lake export
    def _export_runs(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write every committed run not yet exported as Parquet files (idempotent by name)."""
        for (run_id,) in con.execute(
            "SELECT run_id FROM posting_runs WHERE NOT exported ORDER BY run_id"
        ).fetchall():
            for table, schema in EXPORTED_TABLES.items():
                data = con.sql(
                    f"SELECT * FROM {table} WHERE run_id = $run", params={"run": run_id}
                ).to_arrow_table()  # noqa: S608
                if data.num_rows == 0:
                    continue
                folder = self.lake_dir / table
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / f"part-{run_id}.parquet"
                tmp = folder / f".{target.name}.tmp"
                pq.write_table(data.cast(schema), tmp, compression="zstd")
                os.replace(tmp, target)
            con.execute("UPDATE posting_runs SET exported = true WHERE run_id = ?", [run_id])

    # ------------------------------------------------------------------ periods and corrections
    def close_period(self, period: str, closed_by: str = "") -> None:
        """Close a period: later postings dated in it go to the first open period."""
        if len(period) != 7 or period[4] != "-":
            raise PostingRejected("bad_period", f"period {period!r} is not YYYY-MM")
        with self.connect() as con:
            if first_row(con.execute("SELECT 1 FROM periods WHERE period = ?", [period])):
                raise PostingRejected("period_closed", f"period {period} is already closed")
            con.begin()
            con.execute("INSERT INTO periods VALUES (?, ?, ?)", [period, now_utc(), closed_by])
            self.audit.append(closed_by or "unknown", "period.closed", f"period {period}")
            con.commit()

    def closed_periods(self) -> list[str]:
        with self.connect(read_only=True) as con:
            return sorted(self._closed_periods(con))

    def reverse(self, voucher_id: str, reason: str, on: date | None = None, by: str = "unknown") -> Voucher:
        """Post the red-letter reversal of a posted voucher (never edit it)."""
        with self.connect() as con:
            original = self._reversible(con, voucher_id)
            when = on or self.policy.local_date(now_utc())
            (reversal,) = self._post_manual(
                con,
                [reverse_voucher(original, when, reason)],
                {
                    "actor": by,
                    "action": "voucher.reversed",
                    "target": f"voucher {voucher_id}",
                    "reason": reason,
                },
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
        with self.connect() as con:
            original = self._reversible(con, voucher_id)
            when = on or self.policy.local_date(now_utc())
            reversal, corrected = self._post_manual(
                con,
                list(correct_voucher(original, lines, when, reason)),
                {
                    "actor": by,
                    "action": "voucher.corrected",
                    "target": f"voucher {voucher_id}",
                    "reason": reason,
                },
            )
        return reversal, corrected

    def _reversible(self, con: duckdb.DuckDBPyConnection, voucher_id: str) -> Voucher:
        original = self._load_voucher(con, voucher_id)
        if original is None:
            raise PostingRejected("unknown_voucher", f"no voucher {voucher_id!r}")
        if first_row(
            con.execute("SELECT 1 FROM vouchers WHERE reverses = ? AND kind = 'reversal'", [voucher_id])
        ):
            raise PostingRejected("already_reversed", f"voucher {voucher_id} is already reversed")
        return original

    def _post_manual(
        self, con: duckdb.DuckDBPyConnection, vouchers: list[Voucher], audit: dict[str, Any]
    ) -> list[Voucher]:
        """Post hand-made vouchers with their audit entry, in one transaction."""
        closed = self._closed_periods(con)
        booked = [book_into_open_period(v, closed) for v in vouchers]
        run_id = f"manual-{time.time_ns()}"
        posted_at = now_utc()
        con.execute("BEGIN TRANSACTION")
        try:
            self._insert_vouchers(con, self._number(con, [(v, None) for v in booked]), posted_at, run_id)
            con.execute(
                "INSERT INTO posting_runs VALUES (?, ?, ?, 0, 0, 0, ?, NULL, NULL, NULL, false)",
                [run_id, posted_at, posted_at, len(booked)],
            )
            self.audit.append(**audit, details={"vouchers": [v.voucher_id for v in booked], "run_id": run_id})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._export_runs(con)
        return booked

    def _load_voucher(self, con: duckdb.DuckDBPyConnection, voucher_id: str) -> Voucher | None:
        head = first_row(
            con.execute(
                "SELECT voucher_id, accounting_unit, voucher_date, summary, source_event_id, source_event_type,"
                " occurred_at, kind, reverses, note FROM vouchers WHERE voucher_id = ?",
                [voucher_id],
            )
        )
        if head is None:
            return None
        lines = con.execute(
            "SELECT account_code, account_name, debit, credit, summary, location, sku, batch, supplier,"
            " customer, counterpart_unit FROM voucher_lines WHERE voucher_id = ? ORDER BY line_no",
            [voucher_id],
        ).fetchall()
        return Voucher(
            voucher_id=head[0],
            accounting_unit=head[1],
            voucher_date=head[2],
            summary=head[3],
            source_event_id=head[4],
            source_event_type=head[5],
            occurred_at=head[6],
            lines=tuple(VoucherLine(*line) for line in lines),
            kind=VoucherKind(head[7]),
            reverses=head[8] or "",
            note=head[9] or "",
        )

    # ------------------------------------------------------------------ reading
    def trial_balance(self, period: str | None = None) -> list[TrialBalanceRow]:
        """Debit and credit totals per set of books and account (to the end of `period`)."""
        where, params = ("WHERE v.period <= ?", [period]) if period else ("", [])
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT v.accounting_unit, l.account_code, any_value(l.account_name), sum(l.debit), sum(l.credit)"
                f" FROM voucher_lines l JOIN vouchers v USING (voucher_id) {where}"
                " GROUP BY 1, 2 ORDER BY 1, 2",
                params,
            ).fetchall()
        return [TrialBalanceRow(u, c, n, Decimal(d), Decimal(k)) for u, c, n, d, k in rows]

    def inventory_balance_by_location(self) -> dict[str, Decimal]:
        codes = sorted(code for code in self.policy.accounts if self.policy.is_inventory_account(code))
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT location, sum(debit) - sum(credit) FROM voucher_lines"
                " WHERE account_code IN (SELECT unnest(?)) GROUP BY 1",
                [codes],
            ).fetchall()
        return {loc: Decimal(v) for loc, v in rows if v}

    def stock_value_by_location(self) -> dict[str, Decimal]:
        """Stock value by location from the stock ledger (on hand plus in transit to it)."""
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT location, sum(v) FROM ("
                " SELECT location, value_change AS v FROM stock_ledger"
                " UNION ALL SELECT transit_location, transit_value_change FROM stock_ledger"
                "  WHERE transit_location <> '') GROUP BY 1"
            ).fetchall()
        return {loc: Decimal(v) for loc, v in rows if v}

    def counts(self) -> dict[str, int]:
        with self.connect(read_only=True) as con:
            return {
                t: first_row(con.execute(f"SELECT count(*) FROM {t}"))[0]  # noqa: S608
                for t in ("stock_ledger", "vouchers", "voucher_lines", "processed_files", "posting_runs")
            }

    def unbalanced_vouchers(self) -> list[str]:
        with self.connect(read_only=True) as con:
            return [
                r[0]
                for r in con.execute(
                    "SELECT voucher_id FROM voucher_lines GROUP BY 1 HAVING sum(debit) <> sum(credit)"
                ).fetchall()
            ]

    def lag_percentiles(self, since: datetime | None = None) -> dict[str, float | None]:
        """Voucher lag (event time → posted) over vouchers posted since `since`."""
        with self.connect(read_only=True) as con:
            row = first_row(
                con.execute(
                    "SELECT count(*), quantile_cont(lag_seconds, 0.5), quantile_cont(lag_seconds, 0.99),"
                    " max(lag_seconds) FROM vouchers WHERE kind = 'normal' AND posted_at >= ?",
                    [since or datetime(1970, 1, 1, tzinfo=UTC)],
                )
            )
        return {"vouchers": row[0], "p50": row[1], "p99": row[2], "max": row[3]}

    # ------------------------------------------------------------------ export
    def export_rows(self, period: str, accounting_unit: str | None = None) -> list[dict[str, Any]]:
        """One row per voucher line with the fields accounting software imports."""
        sql = (
            "SELECT v.voucher_date AS date, v.voucher_no, v.accounting_unit, l.line_no, l.summary,"
            " l.account_code, l.account_name, l.debit, l.credit, l.location, l.sku, l.batch,"
            " l.supplier, l.customer, l.counterpart_unit, v.kind, v.reverses, v.note, v.voucher_id,"
            " v.source_event_id"
            " FROM vouchers v JOIN voucher_lines l USING (voucher_id) WHERE v.period = ?"
        )
        params: list[Any] = [period]
        if accounting_unit:
            sql += " AND v.accounting_unit = ?"
            params.append(accounting_unit)
        sql += " ORDER BY v.accounting_unit, v.voucher_no, l.line_no"
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def export(self, period: str, fmt: str, accounting_unit: str | None = None) -> str:
        rows = self.export_rows(period, accounting_unit)
        if fmt == "json":
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
                        "auxiliary": {
                            k: r[k]
                            for k in ("location", "sku", "batch", "supplier", "customer", "counterpart_unit")
                            if r[k]
                        },
                    }
                )
            return json.dumps(
                {"period": period, "vouchers": list(vouchers.values())}, ensure_ascii=False, indent=1
            )
        if fmt == "csv":
            out = io.StringIO()
            fields = [
                "date", "voucher_no", "accounting_unit", "line_no", "summary", "account_code",
                "account_name", "debit", "credit", "location", "sku", "batch", "supplier", "customer",
                "counterpart_unit", "kind", "reverses", "note", "voucher_id",
            ]  # fmt: skip
            writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            for r in rows:
                writer.writerow({**r, "date": r["date"].isoformat()})
            return out.getvalue()
        raise ValueError(f"unknown export format {fmt!r}: csv or json")


# ---------------------------------------------------------------------- helpers
def _read_movement_rows(files: Sequence[Path]) -> list[dict[str, Any]]:
    schema = SCHEMAS[MOVEMENTS_TABLE]
    table = pa.concat_tables(pq.read_table(f, schema=schema) for f in files)
    return table.sort_by("apply_seq").to_pylist()


def _group_by_event(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows per event, events in the order of their first movement (several workers' rows
    may interleave in apply order)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["event_id"], []).append(row)
    return list(groups.values())


def _movement(row: dict[str, Any]) -> Movement:
    return Movement(
        event_id=row["event_id"],
        event_type=row["event_type"],
        occurred_at=row["occurred_at"],
        location=row["location"],
        sku=row["sku"],
        batch=row["batch"],
        on_hand_delta=row["on_hand_delta"],
        reserved_delta=row["reserved_delta"],
        quarantined_delta=row["quarantined_delta"],
        in_transit_delta=row["in_transit_delta"],
        after=Position(row["on_hand"], row["reserved"], row["quarantined"], row["in_transit"]),
        reference=row["reference"] or "",
        counterparty=row["counterparty"] or "",
        unit_cost=row["unit_cost"],
        unit_price=row["unit_price"],
        negative_stock=bool(row["negative_stock"]),
    )


def _ledger_record(
    vm: ValuedMovement, row: dict[str, Any], valued_at: datetime, run_id: str
) -> dict[str, Any]:
    rec = vm.as_record()
    rec["method"] = vm.method.value
    rec.update(apply_seq=row["apply_seq"], landed_at=row["landed_at"], valued_at=valued_at, run_id=run_id)
    return rec


def _line_record(line: VoucherLine) -> dict[str, Any]:
    return {name: getattr(line, name) for name in VoucherLine.__slots__}  # type: ignore[attr-defined]


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema, rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    data = pa.Table.from_pylist(rows, schema=schema)
    con.register("incoming", data)
    try:
        columns = ", ".join(schema.names)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming")  # noqa: S608
    finally:
        con.unregister("incoming")


def first_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of a result, reading it to the end (DuckDB wants results finished)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]
