"""The finance documents' tables in the books (``var/books.duckdb``): documents and their match
exceptions, invoiced receipt lines, the subledgers' open items and settlements, write-offs.

An adapter: it implements `stockflow.services.finance.FinanceSession` on the books' own DuckDB
file and writer lock, so a document, its vouchers, its stock ledger rows and its open items are
committed together or not at all. After a commit that changed open items, the whole table is
written to the lake as ``open_items/part-current.parquet`` (for the ageing marts and the
workers' credit checks).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake.tables import OPEN_ITEMS
from stockflow.finance import OpenItem, PartyKind, ReceiptPosition
from stockflow.masterdata import Catalog
from stockflow.money import ZERO
from stockflow.vouchers import AccountingPolicy, Voucher, VoucherKind, VoucherLine
from stores import duck
from stores.books import _DDL, Books, DuckDBBooksSession, first_row

OPEN_ITEMS_FILE = "part-current.parquet"
_FINANCE_DDL = (
    OPEN_ITEMS.ddl()
    + """;
CREATE TABLE IF NOT EXISTS finance_documents (
    event_id VARCHAR PRIMARY KEY, event_type VARCHAR NOT NULL, document_no VARCHAR NOT NULL,
    party_kind VARCHAR NOT NULL, party VARCHAR NOT NULL, accounting_unit VARCHAR NOT NULL,
    location VARCHAR NOT NULL, document_date DATE, status VARCHAR NOT NULL, problems JSON,
    payload JSON NOT NULL, recorded_at TIMESTAMPTZ NOT NULL, recorded_by VARCHAR,
    decided_by VARCHAR, decided_at TIMESTAMPTZ, decision_note VARCHAR
);
CREATE TABLE IF NOT EXISTS invoice_lines (
    event_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, location VARCHAR NOT NULL,
    purchase_order VARCHAR NOT NULL, sku VARCHAR NOT NULL, qty BIGINT NOT NULL,
    net DECIMAL(18,2) NOT NULL, vat DECIMAL(18,2) NOT NULL, accrual DECIMAL(18,2) NOT NULL,
    to_stock DECIMAL(18,2) NOT NULL, to_cost DECIMAL(18,2) NOT NULL, PRIMARY KEY (event_id, line_no)
);
CREATE TABLE IF NOT EXISTS settlements (
    event_id VARCHAR NOT NULL, item_id VARCHAR NOT NULL, amount DECIMAL(18,2) NOT NULL,
    PRIMARY KEY (event_id, item_id)
);
CREATE TABLE IF NOT EXISTS itemized_vouchers (voucher_id VARCHAR PRIMARY KEY);
CREATE TABLE IF NOT EXISTS write_offs (
    voucher_id VARCHAR PRIMARY KEY, cause VARCHAR NOT NULL, requested_by VARCHAR NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL, note VARCHAR, status VARCHAR NOT NULL,
    decided_by VARCHAR, decided_at TIMESTAMPTZ, write_off_voucher_id VARCHAR
);
"""
)
_ITEM_COLUMNS = [c.name for c in OPEN_ITEMS.columns]


class FinanceBooks(Books):
    """The books with their finance documents (the same file, lock and chart)."""

    def __init__(self, var_dir: Path, catalog: Catalog, policy: AccountingPolicy | None = None) -> None:
        super().__init__(var_dir, catalog, policy)

    def connect(self, read_only: bool = False, timeout: float = 60.0):  # noqa: ANN201
        return duck.connect(self.path, _DDL + ";\n" + _FINANCE_DDL, read_only, timeout)

    @contextmanager
    def session(self) -> Iterator[DuckDBFinanceSession]:
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            session = DuckDBFinanceSession(self, con)
            try:
                yield session
            finally:
                if not session.committed:
                    con.execute("ROLLBACK")

    # ------------------------------------------------------------------ reading outside a session
    def open_items(self, party_kind: PartyKind | None = None) -> list[OpenItem]:
        with self.connect(read_only=True) as con:
            return _items(con, party_kind=party_kind)

    def documents(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            sql = (
                "SELECT event_id, event_type, document_no, party_kind, party, accounting_unit, location,"
                " document_date, status, problems, recorded_at, recorded_by, decided_by, decision_note"
                " FROM finance_documents"
            )
            params: list[Any] = []
            if status:
                sql += " WHERE status = ?"
                params.append(status)
            cur = con.execute(sql + " ORDER BY recorded_at, event_id", params)
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        for row in rows:
            row["problems"] = json.loads(row["problems"]) if row["problems"] else []
        return rows

    def write_offs(self) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute("SELECT * FROM write_offs ORDER BY requested_at, voucher_id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def control_balance(self, account_code: str, credit_side: bool) -> dict[str, Decimal]:
        """The balance of a control account per set of books (positive on its normal side)."""
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT v.accounting_unit, sum(l.debit) - sum(l.credit) FROM voucher_lines l"
                " JOIN vouchers v USING (voucher_id) WHERE l.account_code = ? GROUP BY 1",
                [account_code],
            ).fetchall()
        return {unit: (-bal if credit_side else bal) for unit, bal in rows}

    def export_open_items(self) -> None:
        with self.connect(read_only=True) as con:
            _export_items(con, self.lake_dir)


class DuckDBFinanceSession(DuckDBBooksSession):
    """One writer's transaction on the books, with the finance documents' tables."""

    books: FinanceBooks

    def __init__(self, books: FinanceBooks, con: Any) -> None:
        super().__init__(books, con)
        self.items_changed = False
        self.cache: dict[str, Any] = {}
        self._last_numbers: dict[tuple[str, str], str] | None = None
        self._orders: dict[str, dict[str, list[str]]] = {}

    def commit(self) -> None:
        super().commit()
        if self.items_changed:
            _export_items(self.con, self.books.lake_dir)

    # ------------------------------------------------------------------ documents
    def document(self, event_id: str) -> dict[str, Any] | None:
        cur = self.con.execute("SELECT * FROM finance_documents WHERE event_id = ?", [event_id])
        names = [d[0] for d in cur.description]
        row = first_row(cur)
        return None if row is None else dict(zip(names, row, strict=True))

    def add_document(self, record: dict[str, Any]) -> None:
        record = {**record, "problems": json.dumps(record.get("problems") or [])}
        columns = ", ".join(record)
        marks = ", ".join("?" for _ in record)
        self.con.execute(f"INSERT INTO finance_documents ({columns}) VALUES ({marks})", list(record.values()))  # noqa: S608

    def decide_document(
        self, event_id: str, status: str, by: str, at: datetime, note: str, problems: list[Any]
    ) -> None:
        self.con.execute(
            "UPDATE finance_documents SET status = ?, decided_by = ?, decided_at = ?, decision_note = ?,"
            " problems = ? WHERE event_id = ?",
            [status, by, at, note, json.dumps(problems), event_id],
        )

    # ------------------------------------------------------------------ three-way match
    def receipt_position(self, location: str, purchase_order: str, sku: str, ordered: int) -> ReceiptPosition:
        received = first_row(
            self.con.execute(
                "SELECT coalesce(sum(qty_change), 0), coalesce(sum(value_change + cost_variance), 0)"
                " FROM stock_ledger WHERE event_type = 'goods_receipt' AND location = ? AND reference = ?"
                " AND sku = ?",
                [location, purchase_order, sku],
            )
        )
        invoiced = first_row(
            self.con.execute(
                "SELECT coalesce(sum(qty), 0), coalesce(sum(accrual), 0) FROM invoice_lines"
                " WHERE location = ? AND purchase_order = ? AND sku = ?",
                [location, purchase_order, sku],
            )
        )
        assert received is not None and invoiced is not None
        return ReceiptPosition(
            ordered=ordered,
            received=int(received[0]),
            received_value=Decimal(received[1]),
            invoiced=int(invoiced[0]),
            accrual_reversed=Decimal(invoiced[1]),
        )

    def ordered_payloads(self, location: str, purchase_orders: Collection[str]) -> list[str]:
        """The purchase order events the stream landed for these orders at `location` (JSON);
        a location's orders are read from the lake once per transaction."""
        if location not in self._orders:
            root = self.books.lake_dir / "scans"
            by_order: dict[str, list[str]] = {}
            if any(root.glob("date=*/part-*.parquet")):
                rows = self.con.execute(
                    "SELECT DISTINCT event_id, json_extract_string(payload, '$.purchase_order'), payload"
                    " FROM read_parquet(?, union_by_name = true)"
                    " WHERE event_type = 'purchase_order' AND location = ?",
                    [str(root / "date=*" / "part-*.parquet"), location],
                ).fetchall()
                for _, order, payload in rows:
                    by_order.setdefault(order, []).append(payload)
            self._orders[location] = by_order
        known = self._orders[location]
        return [payload for order in sorted(set(purchase_orders)) for payload in known.get(order, ())]

    def last_voucher_numbers(self) -> dict[tuple[str, str], str]:
        """As the books', read once per transaction and kept up to date as vouchers are added."""
        if self._last_numbers is None:
            self._last_numbers = super().last_voucher_numbers()
        return dict(self._last_numbers)

    def add_vouchers(self, vouchers: Sequence[Any], posted_at: datetime, run_id: str) -> None:
        super().add_vouchers(vouchers, posted_at, run_id)
        if self._last_numbers is not None:
            for n in vouchers:
                key = (n.voucher.accounting_unit, n.voucher.period)
                seen = self._last_numbers.get(key)
                if seen is None or (len(n.voucher_no), n.voucher_no) > (len(seen), seen):
                    self._last_numbers[key] = n.voucher_no

    def add_invoice_lines(self, rows: Sequence[dict[str, Any]]) -> None:
        for r in rows:
            self.con.execute(
                "INSERT INTO invoice_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    r["event_id"], r["line_no"], r["location"], r["purchase_order"], r["sku"], r["qty"],
                    r["net"], r["vat"], r["accrual"], r["to_stock"], r["to_cost"],
                ],
            )  # fmt: skip

    # ------------------------------------------------------------------ open items
    def open_items(self, accounting_unit: str, party_kind: PartyKind, party: str) -> list[OpenItem]:
        return _items(self.con, accounting_unit, party_kind, party)

    def items_of_order(
        self, accounting_unit: str, customer: str, sales_order: str, sku: str
    ) -> list[OpenItem]:
        return [
            i
            for i in _items(self.con, accounting_unit, PartyKind.CUSTOMER, customer)
            if i.sales_order == sales_order and i.sku == sku
        ]

    def save_items(self, items: Sequence[OpenItem], at: datetime) -> None:
        if not items:
            return
        self.items_changed = True
        latest = {item.item_id: item for item in items}  # the last change of an item wins
        data = pa.Table.from_pylist([_item_row(i, at) for i in latest.values()], schema=OPEN_ITEMS.schema)
        self.con.register("incoming_items", data)
        try:
            columns = ", ".join(_ITEM_COLUMNS)
            updates = ", ".join(f"{c} = excluded.{c}" for c in _ITEM_COLUMNS if c != "item_id")
            self.con.execute(
                f"INSERT INTO open_items ({columns}) SELECT {columns} FROM incoming_items"  # noqa: S608
                f" ON CONFLICT (item_id) DO UPDATE SET {updates}"
            )
        finally:
            self.con.unregister("incoming_items")

    def add_settlements(self, event_id: str, settled: Sequence[tuple[str, Decimal]]) -> None:
        if settled:
            self.con.execute(
                "INSERT INTO settlements SELECT ?, unnest(?), unnest(?::DECIMAL(18,2)[])",
                [event_id, [i for i, _ in settled], [a for _, a in settled]],
            )

    def unitemized_vouchers(self, account_codes: Collection[str]) -> list[Voucher]:
        heads = self.con.execute(
            "SELECT voucher_id, accounting_unit, voucher_date, summary, source_event_id, source_event_type,"
            " occurred_at, kind, reverses, note FROM vouchers WHERE voucher_id IN ("
            " SELECT DISTINCT voucher_id FROM voucher_lines WHERE account_code IN (SELECT unnest(?)))"
            " AND voucher_id NOT IN (SELECT voucher_id FROM itemized_vouchers)",
            [sorted(account_codes)],
        ).fetchall()
        if not heads:
            return []
        lines: dict[str, list[VoucherLine]] = {}
        for row in self.con.execute(
            "SELECT voucher_id, account_code, account_name, debit, credit, summary, location, sku, batch,"
            " supplier, customer, counterpart_unit FROM voucher_lines WHERE voucher_id IN (SELECT unnest(?))"
            " ORDER BY voucher_id, line_no",
            [[h[0] for h in heads]],
        ).fetchall():
            lines.setdefault(row[0], []).append(VoucherLine(*row[1:]))
        out = [
            Voucher(
                voucher_id=h[0],
                accounting_unit=h[1],
                voucher_date=h[2],
                summary=h[3],
                source_event_id=h[4],
                source_event_type=h[5],
                occurred_at=h[6],
                lines=tuple(lines[h[0]]),
                kind=VoucherKind(h[7]),
                reverses=h[8] or "",
                note=h[9] or "",
            )  # fmt: skip
            for h in heads
        ]
        return sorted(out, key=lambda v: (v.voucher_date, v.occurred_at, v.voucher_id))

    def mark_itemized(self, voucher_ids: Collection[str]) -> None:
        ids = sorted(set(voucher_ids))
        if ids:
            self.con.execute("INSERT OR IGNORE INTO itemized_vouchers SELECT unnest(?)", [ids])

    def stock_references(self, event_ids: Collection[str]) -> dict[str, tuple[str, str]]:
        """(reference, SKU) of the stock ledger rows of these events (the sales order issued)."""
        if not event_ids:
            return {}
        return {
            e: (ref or "", sku)
            for e, ref, sku in self.con.execute(
                "SELECT event_id, any_value(reference), any_value(sku) FROM stock_ledger"
                " WHERE event_id IN (SELECT unnest(?)) GROUP BY event_id",
                [sorted(event_ids)],
            ).fetchall()
        }

    # ------------------------------------------------------------------ write-offs
    def write_off(self, voucher_id: str) -> dict[str, Any] | None:
        cur = self.con.execute("SELECT * FROM write_offs WHERE voucher_id = ?", [voucher_id])
        names = [d[0] for d in cur.description]
        row = first_row(cur)
        return None if row is None else dict(zip(names, row, strict=True))

    def save_write_off(self, record: dict[str, Any]) -> None:
        columns = list(record)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "voucher_id")
        self.con.execute(
            f"INSERT INTO write_offs ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
            f" ON CONFLICT (voucher_id) DO UPDATE SET {updates}",
            [record[c] for c in columns],
        )


# ---------------------------------------------------------------------- helpers
def _items(
    con: Any,
    accounting_unit: str | None = None,
    party_kind: PartyKind | None = None,
    party: str | None = None,
) -> list[OpenItem]:
    where, params = [], []
    for column, value in (("accounting_unit", accounting_unit), ("party_kind", party_kind), ("party", party)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(str(value))
    sql = "SELECT " + ", ".join(c for c in _ITEM_COLUMNS if c != "updated_at") + " FROM open_items"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = con.execute(sql + " ORDER BY due_date, document_date, item_id", params).fetchall()
    return [
        OpenItem(
            item_id=r[0],
            accounting_unit=r[1],
            party_kind=PartyKind(r[2]),
            party=r[3],
            document=r[4],
            document_type=r[5],
            document_date=r[6],
            due_date=r[7],
            amount=Decimal(r[8]),
            open_amount=Decimal(r[9]),
            source_event_id=r[10],
            sales_order=r[11] or "",
            sku=r[12] or "",
            net=Decimal(r[13] if r[13] is not None else ZERO),
            vat=Decimal(r[14] if r[14] is not None else ZERO),
        )
        for r in rows
    ]


def _item_row(item: OpenItem, at: datetime) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "accounting_unit": item.accounting_unit,
        "party_kind": item.party_kind.value,
        "party": item.party,
        "document": item.document,
        "document_type": item.document_type,
        "document_date": item.document_date,
        "due_date": item.due_date,
        "amount": item.amount,
        "open_amount": item.open_amount,
        "source_event_id": item.source_event_id,
        "sales_order": item.sales_order,
        "sku": item.sku,
        "net": item.net,
        "vat": item.vat,
        "updated_at": at,
    }


def _export_items(con: Any, lake_dir: Path) -> None:
    """Replace the lake's open items with the books' (one file, renamed into place)."""
    data = con.sql(
        "SELECT " + ", ".join(_ITEM_COLUMNS) + " FROM open_items ORDER BY item_id"
    ).to_arrow_table()
    folder = lake_dir / OPEN_ITEMS.name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / OPEN_ITEMS_FILE
    tmp = folder / f".{OPEN_ITEMS_FILE}.tmp"
    pq.write_table(data.cast(OPEN_ITEMS.schema), tmp, compression="zstd")
    os.replace(tmp, target)
