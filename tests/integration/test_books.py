"""The books' use cases on the DuckDB store: posting lake movements, restarts, closed periods,
reversals, exports."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from lake import LakeWriter, alert_row, event_row, movement_row
from simulator.company import Simulation, build_catalog
from stockflow.delivery import Delivery
from stockflow.ledger import Ledger
from stockflow.processing import StockProcessor
from stockflow.services.books import BooksService
from stockflow.vouchers import PostingRejected, VoucherLine
from stores.audit_log import AuditLog
from stores.books import Books

pytestmark = pytest.mark.integration
START = date(2026, 9, 1)


class Lake:
    """A lake written by the stream's own writer from a simulated ledger: the accepted events
    and their movements."""

    def __init__(self, root, days=4):
        self.root = root
        self.catalog = build_catalog(7)
        self.catalog.save(root / "masterdata.json")
        self.writer = LakeWriter(root / "lake", "test")
        self.events = iter(Simulation(self.catalog, 7).history(START, days))
        self.processor = StockProcessor(self.catalog)  # the ledger and the alert rules
        self.ledger = self.processor.ledger
        self.movements = 0

    def write(self, n_events: int | None = None, files: int = 3, delivery: Delivery = Delivery.LIVE) -> int:
        """Apply the next events and land their movements in `files` lake files (`delivery`:
        live, or history sent after the fact)."""
        taken = 0
        per_file = None if n_events is None else max(1, n_events // files)
        for ev in self.events:
            result = self.processor.process(ev)
            follow_ups = [(f, self.processor.process(f)) for f in result.follow_ups]
            for event, r in [(ev, result), *follow_ups]:
                topic = event.topic.value  # the accepted event itself, as the stream lands it
                self.writer.append(
                    topic, event_row(event, b"", topic, 0, self.movements, self.writer.next_seq(), delivery)
                )
                for mv in r.movements:
                    self.writer.append(
                        "inventory_changed", movement_row(mv, 0, self.writer.next_seq(), datetime.now(UTC))
                    )
                    self.movements += 1
                for raised in r.alerts:
                    self.writer.append("alerts", alert_row(raised, raised.occurred_at))
            taken += 1
            if per_file and taken % per_file == 0:
                self.writer.flush()
            if n_events is not None and taken >= n_events:
                break
        self.writer.flush()
        return taken


def open_books(root, catalog, store_class=Books):
    """The use cases over the DuckDB books under `root`, and the store itself."""
    store = store_class(root, catalog)
    return BooksService(store, AuditLog(root), store.rules), store


def balanced_and_matching(books):
    totals = {}
    for row in books.trial_balance():
        d, c = totals.get(row.accounting_unit, (0, 0))
        totals[row.accounting_unit] = (d + row.debit, c + row.credit)
    assert totals and all(d == c for d, c in totals.values()), totals
    assert books.store.unbalanced_vouchers() == []
    check = books.check_stock()
    assert check.equal and check.differences == {}, check.differences
    # the inventory accounts summed by hand from the exported lines hold the same values
    assert books.inventory_by_location() == books.store.stock_value_by_location()
    assert check.stock_value > 0


def test_posts_every_movement_once_and_balances(tmp_path):
    lake = Lake(tmp_path)
    lake.write()
    books, store = open_books(tmp_path, lake.catalog)
    first = books.post_vouchers()
    assert first.movements > 5000 and first.vouchers > 1000
    balanced_and_matching(books)
    counts = store.counts()
    again = books.post_vouchers()
    assert (again.files, again.movements, again.vouchers) == (0, 0, 0)
    assert store.counts() == counts
    # the lake holds the same rows as DuckDB, for the warehouse
    for table in ("stock_ledger", "vouchers", "voucher_lines"):
        exported = sum(
            pq.read_metadata(f).num_rows for f in (tmp_path / "lake" / table).glob("part-*.parquet")
        )
        assert exported == counts[table], table


def test_passes_over_growing_lake_equal_one_pass(tmp_path):
    one, many = tmp_path / "one", tmp_path / "many"
    for root in (one, many):
        root.mkdir()
    lake_one = Lake(one)
    lake_one.write()
    in_one, _ = open_books(one, lake_one.catalog)
    in_one.post_vouchers()

    lake_many = Lake(many)
    books, store = open_books(many, lake_many.catalog)
    while lake_many.write(700, files=2):
        books.post_vouchers()
    assert store.counts()["processed_files"] > 5
    assert books.trial_balance() == in_one.trial_balance()
    assert store.stock_value_by_location() == in_one.store.stock_value_by_location()
    # the voucher numbers run without gaps per set of books and period, however many passes
    with store.connect(read_only=True) as con:
        numbers = con.execute(
            "SELECT accounting_unit, period, list(voucher_no ORDER BY voucher_no) FROM vouchers GROUP BY ALL"
        ).fetchall()
    for unit, period, issued in numbers:
        assert issued == [f"记-{n:06d}" for n in range(1, len(issued) + 1)], (unit, period)


class FailingBooks(Books):
    """Books whose disk fills up while a pass writes its vouchers."""

    def session(self):
        from contextlib import contextmanager

        @contextmanager
        def failing():
            with Books.session(self) as session:

                def disk_full(*args, **kwargs):
                    raise OSError("disk full")

                session.add_vouchers = disk_full
                yield session

        return failing()


def test_a_pass_that_fails_midway_leaves_nothing_and_the_next_posts_all(tmp_path):
    lake = Lake(tmp_path, days=2)
    lake.write()
    with pytest.raises(OSError, match="disk full"):
        open_books(tmp_path, lake.catalog, FailingBooks)[0].post_vouchers()
    books, store = open_books(tmp_path, lake.catalog)
    assert store.counts() == {k: 0 for k in store.counts()}
    assert books.post_vouchers().movements > 0
    balanced_and_matching(books)


def test_the_same_movements_landing_twice_are_valued_once(tmp_path):
    lake = Lake(tmp_path, days=1)
    lake.write(300)
    rows = [
        movement_row(mv, 0, 1, datetime.now(UTC))
        for mv in Ledger(lake.catalog)
        .apply(next(iter(Simulation(lake.catalog, 7).history(START, 1))))
        .movements
    ]
    books, store = open_books(tmp_path, lake.catalog)
    first = books.post_vouchers()
    for row in rows:  # the first receipt again, in a new file (a redelivery written twice)
        lake.writer.append("inventory_changed", row)
    lake.writer.flush()
    second = books.post_vouchers()
    assert (second.files, second.duplicates, second.movements, second.vouchers) == (1, len(rows), 0, 0)
    assert store.counts()["stock_ledger"] == first.movements


def test_closed_period_postings_go_to_the_first_open_period(tmp_path):
    lake = Lake(tmp_path, days=2)
    books, store = open_books(tmp_path, lake.catalog)
    books.close_period("2026-09", "李会计")
    with pytest.raises(PostingRejected, match="already closed"):
        books.close_period("2026-09", "李会计")
    # the close is in the audit log once (the refused second one is not)
    entries = AuditLog(tmp_path).records()
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("李会计", "period.closed", "period 2026-09")
    ]
    lake.write()
    books.post_vouchers()
    rows = store.export_rows("2026-10")
    assert rows and not store.export_rows("2026-09")
    assert {r["date"] for r in rows} == {date(2026, 10, 1)}
    assert all("2026-09 已结账" in r["note"] for r in rows)
    balanced_and_matching(books)


def test_reversal_is_red_letter_and_only_once(tmp_path):
    lake = Lake(tmp_path, days=1)
    lake.write()
    books, store = open_books(tmp_path, lake.catalog)
    books.post_vouchers()
    target = next(r for r in store.export_rows("2026-09") if r["account_code"] == "220201")
    before = {(r.accounting_unit, r.account_code): r.balance for r in books.trial_balance()}
    reversal = books.reverse(
        target["voucher_id"], "duplicate receipt keyed twice", on=date(2026, 9, 2), by="李会计"
    )
    assert all(line.debit <= 0 and line.credit <= 0 for line in reversal.lines)
    (entry,) = AuditLog(tmp_path).records()
    assert (entry["actor"], entry["action"], entry["reason"]) == (
        "李会计",
        "voucher.reversed",
        "duplicate receipt keyed twice",
    )
    assert entry["details"]["vouchers"] == [reversal.voucher_id] and AuditLog(tmp_path).verify().ok
    after = {(r.accounting_unit, r.account_code): r.balance for r in books.trial_balance()}
    assert (
        after[(target["accounting_unit"], "220201")]
        == before[(target["accounting_unit"], "220201")] + target["credit"]
    )
    with pytest.raises(PostingRejected, match="already reversed"):
        books.reverse(target["voucher_id"], "again")
    with pytest.raises(PostingRejected, match="no voucher"):
        books.reverse("V:nope", "x")
    with pytest.raises(PostingRejected, match="itself a reversal"):
        books.reverse(reversal.voucher_id, "undo the undo")
    exported = store.export_rows("2026-09")
    assert any(r["kind"] == "reversal" and r["reverses"] == target["voucher_id"] for r in exported)


def test_exports_carry_the_fields_accountants_import(tmp_path):
    lake = Lake(tmp_path, days=1)
    lake.write()
    books, store = open_books(tmp_path, lake.catalog)
    books.post_vouchers()
    csv_text = books.export_period("2026-09", "csv", accounting_unit="RETAIL")
    header = csv_text.splitlines()[0].split(",")
    assert header[:9] == [
        "date",
        "voucher_no",
        "accounting_unit",
        "line_no",
        "summary",
        "account_code",
        "account_name",
        "debit",
        "credit",
    ]
    assert "门店销售" in csv_text and "DIST" not in {line.split(",")[2] for line in csv_text.splitlines()[1:]}
    import json

    doc = json.loads(books.export_period("2026-09", "json"))
    for v in doc["vouchers"]:
        assert sum(Decimal(line["debit"]) for line in v["lines"]) == sum(
            Decimal(line["credit"]) for line in v["lines"]
        )
    assert any("supplier" in line["auxiliary"] for v in doc["vouchers"] for line in v["lines"])
    with pytest.raises(ValueError, match="csv or json"):
        books.export_period("2026-09", "xlsx")


def test_a_correction_is_a_reversal_plus_a_new_voucher(tmp_path):
    lake = Lake(tmp_path, days=1)
    lake.write()
    books, store = open_books(tmp_path, lake.catalog)
    books.post_vouchers()
    line = next(
        r for r in store.export_rows("2026-09") if r["account_code"] == "5001" and r["location"] != "ST02"
    )
    moved = sum(
        r["credit"] - r["debit"]
        for r in store.export_rows("2026-09")
        if r["voucher_id"] == line["voucher_id"] and r["account_code"] == "5001"
    )
    # the same voucher with its revenue booked to another store
    fixed = [
        VoucherLine(
            r["account_code"],
            r["account_name"],
            r["debit"],
            r["credit"],
            r["summary"],
            "ST02" if r["account_code"] == "5001" else r["location"],
            r["sku"],
            r["batch"],
            r["supplier"],
            r["customer"],
            r["counterpart_unit"],
        )  # fmt: skip
        for r in store.export_rows("2026-09")
        if r["voucher_id"] == line["voucher_id"]
    ]
    original_tb = books.trial_balance()

    def revenue_at(location):
        rows = store.export_rows("2026-09")
        return sum(
            r["credit"] - r["debit"]
            for r in rows
            if r["account_code"] == "5001" and r["location"] == location
        )

    before = revenue_at("ST02")
    reversal, corrected = books.correct(line["voucher_id"], fixed, "wrong store", on=date(2026, 9, 3))
    assert reversal.reverses == corrected.reverses == line["voucher_id"]
    assert store.unbalanced_vouchers() == []
    exported = {r["voucher_id"] for r in store.export_rows("2026-09")}
    assert {reversal.voucher_id, corrected.voucher_id} <= exported
    assert books.trial_balance() == original_tb  # same accounts and amounts
    assert revenue_at("ST02") == before + moved  # now at the right store
    with pytest.raises(PostingRejected, match="already reversed"):
        books.correct(line["voucher_id"], fixed, "again")
    assert [e["action"] for e in AuditLog(tmp_path).records()] == ["voucher.corrected"]


def test_a_pass_reads_only_folders_that_changed_and_still_finds_late_files(tmp_path):
    import os
    import time

    lake = Lake(tmp_path, days=3)
    lake.write(6000)
    books, store = open_books(tmp_path, lake.catalog)
    books.post_vouchers()
    hour_ago = time.time() - 3600
    folders = sorted((tmp_path / "lake" / "inventory_changed").glob("date=*"))
    assert len(folders) >= 2
    with store.connect() as con:  # as if the last listing was long ago
        con.execute("UPDATE posting_state SET listed_at = ?", [hour_ago + 1])
    for folder in folders:
        os.utime(folder, (hour_ago - 120, hour_ago - 120))
    before = store.counts()["stock_ledger"]
    lake.write(1500)  # lands in the newest folders only; the old ones stay untouched
    result = books.post_vouchers()
    assert result.files >= 1 and store.counts()["stock_ledger"] == before + result.movements
    assert books.post_vouchers().files == 0
    balanced_and_matching(books)
    # the skipping is real: a folder whose time says "unchanged since the last listing" is not read
    with store.connect() as con:
        con.execute("UPDATE posting_state SET listed_at = ?", [hour_ago + 1])
    import shutil

    oldest = folders[0]
    shutil.copy(next(oldest.glob("part-*.parquet")), oldest / "part-99999999999999999999-copy.parquet")
    os.utime(oldest, (hour_ago - 120, hour_ago - 120))
    assert books.post_vouchers().files == 0


class RefusingAudit:
    """An audit trail that cannot take another entry."""

    def append(self, *args, **kwargs):
        raise OSError("audit log unwritable")


def test_a_period_is_closed_only_when_it_is_a_month_and_its_audit_entry_is_written(tmp_path):
    catalog = build_catalog(7)
    books, store = open_books(tmp_path, catalog)
    for bad in ("2026-13", "2026-9", "九月"):
        with pytest.raises(PostingRejected, match="not YYYY-MM"):
            books.close_period(bad, "李会计")
        with pytest.raises(PostingRejected, match="not YYYY-MM"):
            books.export_period(bad, "csv")
    # the entry is written before the close is committed: no entry, no close
    with pytest.raises(OSError, match="unwritable"):
        BooksService(store, RefusingAudit(), store.rules).close_period("2026-09", "李会计")
    assert books.closed_periods() == [] and AuditLog(tmp_path).records() == []
    books.close_period("2026-09", "李会计")
    books.close_period("2026-10", "李会计")
    assert books.closed_periods() == ["2026-09", "2026-10"]
