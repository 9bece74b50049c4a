"""The books on DuckDB (``var/books.duckdb``): the valued stock ledger, vouchers, periods and
posting state, with each committed run also exported as Parquet into the lake for the warehouse.

An adapter: it implements the ports of the books' use cases (`stockflow.services.books`) and
holds no rule of its own. A session (`DuckDBBooksSession`) is one DuckDB transaction, so a
posting pass's stock ledger rows, vouchers, valuation state and consumed lake files are
committed together or not at all. Vouchers have ids derived from their source events and a
primary key, and the stock ledger is keyed by movement, so nothing is ever posted twice.

DuckDB lets one process write a database file at a time; a session holds the file only while it
lasts (an exclusive lock file serialises the sessions of concurrent flow runs).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lake import SCHEMAS
from lake.tables import (
    BOOK_RUNS,
    ORIGINAL_AMOUNT_COLUMNS,
    RECIPE_COLUMNS,
    SERVICE_VOUCHER_LINES,
    STOCK_LEDGER,
    VOUCHER_LINES,
    VOUCHERS,
    WORK_ORDER_COLUMNS,
)
from stockflow.ledger import Movement, Position
from stockflow.masterdata import Catalog
from stockflow.services.books import (
    BooksService,
    LandedMovement,
    LandedVoucherLines,
    LedgerEntry,
    MovementBatch,
    MovementKey,
    PassResult,
)
from stockflow.vouchers import (
    AccountingPolicy,
    AccountTotal,
    LocationBalance,
    NumberedVoucher,
    Voucher,
    VoucherKind,
    VoucherLine,
    VoucherRules,
)
from stores import duck
from stores.audit_log import AuditLog

log = logging.getLogger(__name__)

MOVEMENTS_TABLE = "inventory_changed"
#: A folder whose modification time is this much older than the last listing is not re-read.
LISTING_MARGIN_SECONDS = 60.0
STOCK_LEDGER_SCHEMA = STOCK_LEDGER.schema
VOUCHER_SCHEMA = VOUCHERS.schema
VOUCHER_LINE_SCHEMA = VOUCHER_LINES.schema
#: The books' tables exported to the lake (their definitions: `lake.tables`).
EXPORTED_TABLES = {t.name: t.schema for t in (STOCK_LEDGER, VOUCHERS, VOUCHER_LINES)}

#: Columns added to the stock ledger after books were first kept: added to older books.
_ADDED_COLUMNS = "".join(
    f'ALTER TABLE stock_ledger ADD COLUMN IF NOT EXISTS "{c.name}" {c.duckdb_type};\n'
    for c in STOCK_LEDGER.columns
    if c.name in (*ORIGINAL_AMOUNT_COLUMNS, *RECIPE_COLUMNS, *WORK_ORDER_COLUMNS)
)
_DDL = (
    ";\n".join(t.ddl() for t in (STOCK_LEDGER, VOUCHERS, VOUCHER_LINES))
    + ";\n"
    + _ADDED_COLUMNS
    + """
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
)


def _list_run(folder: Path, run_id: str) -> None:
    """List one exported posting run in lake/book_runs (written whole, then renamed)."""
    tmp = folder / f".part-{run_id}.parquet.tmp"
    pq.write_table(pa.table({"run_id": [run_id]}), tmp)
    os.replace(tmp, folder / f"part-{run_id}.parquet")


class Books:
    """The books under one var/ folder: implements the books' ports (`stockflow.services.books`)
    on DuckDB, reads new movements from the lake and exports each committed run into it."""

    def __init__(self, var_dir: Path, catalog: Catalog, policy: AccountingPolicy | None = None) -> None:
        self.var_dir = var_dir
        self.lake_dir = var_dir / "lake"
        self.path = var_dir / "books.duckdb"
        self.catalog = catalog
        self.policy = policy or AccountingPolicy.cn_small_enterprise()
        self.rules = VoucherRules(catalog, self.policy)

    # ------------------------------------------------------------------ connections
    def connect(self, read_only: bool = False, timeout: float = 60.0):  # noqa: ANN201
        """A connection; writers hold the lock file so that only one posts at a time."""
        return duck.connect(self.path, _DDL, read_only, timeout)

    @contextmanager
    def session(self) -> Iterator[DuckDBBooksSession]:
        """The writer's session: one transaction, rolled back unless committed."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            session = DuckDBBooksSession(self, con)
            try:
                yield session
            finally:
                if not session.committed:
                    con.execute("ROLLBACK")

    # ------------------------------------------------------------------ callers not moved yet
    def post_new_movements(self, run_id: str | None = None) -> PassResult:
        """`BooksService.post_vouchers` on these books (for callers that hold a `Books`)."""
        return self._service().post_vouchers(run_id)

    def inventory_balance_by_location(self) -> dict[str, Decimal]:
        """`BooksService.inventory_by_location` on these books (for callers that hold a `Books`)."""
        return self._service().inventory_by_location()

    def _service(self) -> BooksService:
        return BooksService(self, AuditLog(self.var_dir), self.rules)

    # ------------------------------------------------------------------ lake export
    def _export_runs(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write every committed run not yet exported as Parquet files (idempotent by name).

        The list of runs (lake/book_runs) exists before any run's files are written, so a build
        that starts while the first run is exported reads no run rather than a part of it; runs
        exported before the list existed are listed when it is made."""
        runs = self.lake_dir / BOOK_RUNS
        if not runs.is_dir():
            runs.mkdir(parents=True)
            for (run_id,) in con.execute("SELECT run_id FROM posting_runs WHERE exported").fetchall():
                _list_run(runs, run_id)
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
            _list_run(runs, run_id)  # last: the run's files are all there (a build reads the runs listed)
            con.execute("UPDATE posting_runs SET exported = true WHERE run_id = ?", [run_id])

    # ------------------------------------------------------------------ reading
    def closed_periods(self) -> list[str]:
        with self.connect(read_only=True) as con:
            return sorted(_closed_periods(con))

    def account_totals(
        self, up_to_period: str | None = None, accounting_unit: str | None = None
    ) -> list[AccountTotal]:
        """Debit and credit per set of books, account and account name, summed in DuckDB."""
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT v.accounting_unit, l.account_code, l.account_name, sum(l.debit), sum(l.credit)"
                " FROM voucher_lines l JOIN vouchers v USING (voucher_id)"
                " WHERE (?::VARCHAR IS NULL OR v.period <= ?) AND (?::VARCHAR IS NULL OR v.accounting_unit = ?)"
                " GROUP BY ALL",
                [up_to_period, up_to_period, accounting_unit, accounting_unit],
            ).fetchall()
        return [AccountTotal(u, c, n or "", Decimal(d), Decimal(k)) for u, c, n, d, k in rows]

    def location_balances(self) -> list[LocationBalance]:
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT account_code, location, sum(debit) - sum(credit) FROM voucher_lines GROUP BY ALL"
            ).fetchall()
        return [LocationBalance(code, loc or "", Decimal(v)) for code, loc, v in rows]

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


class DuckDBBooksSession:
    """One writer's transaction on the books (`stockflow.services.books.BooksSession`)."""

    def __init__(self, books: Books, con: duckdb.DuckDBPyConnection) -> None:
        self.books = books
        self.con = con
        self.committed = False

    def commit(self) -> None:
        """Commit, then export the committed runs into the lake."""
        self.con.execute("COMMIT")
        self.committed = True
        self.books._export_runs(self.con)

    # ------------------------------------------------------------------ the lake's new movements
    def new_movements(self) -> MovementBatch:
        """Movements in lake files not consumed yet, in order of application.

        Only date folders changed since the last listing are read (landing a file changes its
        folder's modification time), and the check against the files already consumed is an
        anti-join in DuckDB, so a pass costs what is new, not what the lake has gathered."""
        con, lake_dir = self.con, self.books.lake_dir
        listed_at = time.time()
        row = first_row(con.execute("SELECT listed_at FROM posting_state WHERE id = 1"))
        since = None if row is None or row[0] is None else row[0] - LISTING_MARGIN_SECONDS
        root = lake_dir / MOVEMENTS_TABLE
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
            return MovementBatch((), (), listed_at)
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
        files = sorted(new, key=lambda p: Path(p).name)  # in write order
        rows = _read_movement_rows([lake_dir / f for f in files]) if files else []
        return MovementBatch(tuple(files), tuple(_landed(r) for r in rows), listed_at)

    def consume(self, batch: MovementBatch, run_id: str) -> None:
        _insert(
            self.con,
            "processed_files",
            pa.schema([("path", pa.string()), ("run_id", pa.string())]),
            [{"path": f, "run_id": run_id} for f in batch.files],
        )
        self.con.execute(
            "INSERT INTO posting_state (id, valuation, updated_at, listed_at) VALUES (1, '{}', now(), ?)"
            " ON CONFLICT (id) DO UPDATE SET listed_at = excluded.listed_at",
            [batch.listed_at],
        )

    def new_service_voucher_lines(self) -> LandedVoucherLines:
        """The service worker's voucher lines in files not consumed yet (few: every folder is
        listed, the consumed ones left out by an anti-join)."""
        table, lake_dir = SERVICE_VOUCHER_LINES.name, self.books.lake_dir
        candidates = [
            f"{table}/{p.parent.name}/{p.name}" for p in (lake_dir / table).glob("date=*/part-*.parquet")
        ]
        if not candidates:
            return LandedVoucherLines((), ())
        self.con.register("candidates", pa.table({"path": candidates}))
        try:
            new = [
                r[0]
                for r in self.con.execute(
                    "SELECT path FROM candidates ANTI JOIN processed_files USING (path)"
                ).fetchall()
            ]
        finally:
            self.con.unregister("candidates")
        files = sorted(new, key=lambda p: Path(p).name)
        if not files:
            return LandedVoucherLines((), ())
        schema = SERVICE_VOUCHER_LINES.schema
        rows = pa.concat_tables(pq.read_table(lake_dir / f, schema=schema) for f in files).to_pylist()
        return LandedVoucherLines(tuple(files), tuple(rows))

    def consume_files(self, files: Sequence[str], run_id: str) -> None:
        _insert(
            self.con,
            "processed_files",
            pa.schema([("path", pa.string()), ("run_id", pa.string())]),
            [{"path": f, "run_id": run_id} for f in files],
        )

    # ------------------------------------------------------------------ reading
    def valued_keys(self, event_ids: Collection[str]) -> set[MovementKey]:
        self.con.register("new_ids", pa.table({"event_id": sorted(event_ids)}))
        try:
            found = self.con.execute(
                "SELECT event_id, location, sku, batch FROM stock_ledger WHERE event_id IN (SELECT event_id FROM new_ids)"
            ).fetchall()
        finally:
            self.con.unregister("new_ids")
        return {(e, loc, sku, batch) for e, loc, sku, batch in found}

    def sold(self, location: str, ticket: str, sku: str) -> tuple[int, Decimal] | None:
        """Units of a SKU a till ticket sold and the value they left with (stock ledger)."""
        row = first_row(
            self.con.execute(
                "SELECT -sum(qty_change), -sum(value_change) FROM stock_ledger"
                " WHERE location = ? AND reference = ? AND sku = ? AND event_type = 'pos_sale'",
                [location, ticket, sku],
            )
        )
        return None if row is None or row[0] is None else (int(row[0]), Decimal(row[1]))

    def valuation_state(self) -> dict[str, Any] | None:
        row = first_row(self.con.execute("SELECT valuation FROM posting_state WHERE id = 1"))
        return None if row is None else json.loads(row[0])

    def closed_periods(self) -> frozenset[str]:
        return _closed_periods(self.con)

    def last_voucher_numbers(self) -> dict[tuple[str, str], str]:
        """The last voucher number per set of books and period (the longest, then the greatest)."""
        return {
            (unit, period): number
            for unit, period, number in self.con.execute(
                "SELECT accounting_unit, period, voucher_no FROM vouchers QUALIFY row_number() OVER ("
                " PARTITION BY accounting_unit, period ORDER BY length(voucher_no) DESC, voucher_no DESC) = 1"
            ).fetchall()
        }

    def posted_voucher_ids(self, voucher_ids: Collection[str]) -> set[str]:
        return {
            r[0]
            for r in self.con.execute(
                "SELECT voucher_id FROM vouchers WHERE voucher_id IN (SELECT unnest(?))", [list(voucher_ids)]
            ).fetchall()
        }

    def voucher(self, voucher_id: str) -> Voucher | None:
        head = first_row(
            self.con.execute(
                "SELECT voucher_id, accounting_unit, voucher_date, summary, source_event_id, source_event_type,"
                " occurred_at, kind, reverses, note FROM vouchers WHERE voucher_id = ?",
                [voucher_id],
            )
        )
        if head is None:
            return None
        lines = self.con.execute(
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

    def is_reversed(self, voucher_id: str) -> bool:
        return (
            first_row(
                self.con.execute(
                    "SELECT 1 FROM vouchers WHERE reverses = ? AND kind = ?",
                    [voucher_id, VoucherKind.REVERSAL.value],
                )
            )
            is not None
        )

    # ------------------------------------------------------------------ writing
    def add_ledger_entries(self, entries: Sequence[LedgerEntry], valued_at: datetime, run_id: str) -> None:
        _insert(
            self.con,
            "stock_ledger",
            STOCK_LEDGER_SCHEMA,
            [_ledger_record(e, valued_at, run_id) for e in entries],
        )

    def add_vouchers(self, vouchers: Sequence[NumberedVoucher], posted_at: datetime, run_id: str) -> None:
        heads, lines = [], []
        for n in vouchers:
            v = n.voucher
            heads.append(
                {
                    "voucher_id": v.voucher_id,
                    "voucher_no": n.voucher_no,
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
                    "landed_at": n.landed_at,
                    "posted_at": posted_at,
                    "lag_seconds": n.lag_seconds(posted_at),
                    "total": v.total_debit,
                    "run_id": run_id,
                }
            )
            for i, line in enumerate(v.lines, start=1):
                lines.append(
                    {"voucher_id": v.voucher_id, "line_no": i, **_line_record(line), "run_id": run_id}
                )
        _insert(self.con, "vouchers", VOUCHER_SCHEMA, heads)
        _insert(self.con, "voucher_lines", VOUCHER_LINE_SCHEMA, lines)

    def save_valuation_state(self, state: Mapping[str, Any], at: datetime) -> None:
        self.con.execute(
            "INSERT INTO posting_state (id, valuation, updated_at) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET valuation = excluded.valuation, updated_at = excluded.updated_at",
            [json.dumps(state), at],
        )

    def add_run(self, run: PassResult, started_at: datetime, finished_at: datetime) -> None:
        self.con.execute(
            "INSERT INTO posting_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
            [
                run.run_id,
                started_at,
                finished_at,
                run.files,
                run.movements,
                run.duplicates,
                run.vouchers,
                run.lag_p50_seconds,
                run.lag_p99_seconds,
                run.lag_max_seconds,
            ],
        )

    def close_period(self, period: str, closed_at: datetime, closed_by: str) -> None:
        self.con.execute("INSERT INTO periods VALUES (?, ?, ?)", [period, closed_at, closed_by])


# ---------------------------------------------------------------------- helpers
def _closed_periods(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    return frozenset(r[0] for r in con.execute("SELECT period FROM periods").fetchall())


def _read_movement_rows(files: Sequence[Path]) -> list[dict[str, Any]]:
    schema = SCHEMAS[MOVEMENTS_TABLE]
    table = pa.concat_tables(pq.read_table(f, schema=schema) for f in files)
    return table.sort_by("apply_seq").to_pylist()


def _landed(row: dict[str, Any]) -> LandedMovement:
    return LandedMovement(_movement(row), row["apply_seq"], row["landed_at"])


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
        currency=row.get("original_currency"),
        original_unit_cost=row.get("original_unit_cost"),
        dish=row.get("dish") or "",
        portions=row.get("portions") or 0,
        labour=row.get("labour"),
        overhead=row.get("overhead"),
        service_fee=row.get("service_fee"),
        order_open_qty=row.get("order_open_qty") or 0,
    )


def _ledger_record(entry: LedgerEntry, valued_at: datetime, run_id: str) -> dict[str, Any]:
    rec = entry.valued.as_record()
    rec["method"] = entry.valued.method.value
    rec.update(apply_seq=entry.apply_seq, landed_at=entry.landed_at, valued_at=valued_at, run_id=run_id)
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
