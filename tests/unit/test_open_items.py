"""The stream's port to the books' open items: customers' open receivables from the Parquet file
the books replace whole, read again only when it changed, at most once per interval."""

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lake.tables import OPEN_ITEMS
from streams.open_items import OpenReceivablesFile


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def item(n: int, party: str, open_amount: str, kind: str = "customer") -> dict:
    return {
        "item_id": f"I{n}",
        "accounting_unit": "main",
        "party_kind": kind,
        "party": party,
        "document": f"D{n}",
        "document_type": "sales_issue",
        "document_date": date(2026, 3, 1),
        "due_date": date(2026, 3, 31),
        "amount": Decimal(open_amount),
        "open_amount": Decimal(open_amount),
        "source_event_id": f"e{n}",
        "sales_order": None,
        "sku": None,
        "net": None,
        "vat": None,
        "updated_at": datetime(2026, 3, 2, tzinfo=UTC),
    }


def publish(folder: Path, rows: list[dict], name: str = "part-current.parquet") -> None:
    """As the books do: written aside, then renamed over the file."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    pq.write_table(pa.Table.from_pylist(rows, schema=OPEN_ITEMS.schema), tmp)
    os.replace(tmp, folder / name)


def test_customers_open_items_are_summed_over_every_file(tmp_path):
    folder = tmp_path / "open_items"
    publish(folder, [], "part-00000000000000000000-empty.parquet")
    publish(
        folder,
        [
            item(1, "C1", "226.00"),
            item(2, "C1", "100.50"),
            item(3, "C1", "-20.00"),  # paid on account
            item(4, "C2", "0.00"),  # settled
            item(5, "C1", "999.00", kind="supplier"),  # a supplier with the same code
        ],
    )
    receivables = OpenReceivablesFile(folder)
    assert receivables("C1") == Decimal("306.50")
    assert receivables("C2") == 0
    assert receivables("C9") == 0


def test_nothing_published_is_nothing_owed(tmp_path):
    assert OpenReceivablesFile(tmp_path / "open_items")("C1") == 0


def test_the_file_is_read_again_only_when_it_changed_at_most_once_per_interval(tmp_path):
    folder = tmp_path / "open_items"
    publish(folder, [item(1, "C1", "100.00")])
    clock = Clock()
    receivables = OpenReceivablesFile(folder, refresh_seconds=1.0, clock=clock)
    assert receivables("C1") == Decimal("100.00")
    clock.now += 5
    assert receivables("C1") == Decimal("100.00") and receivables.reads == 1  # unchanged: not read

    publish(folder, [item(1, "C1", "100.00"), item(2, "C1", "50.00")])
    clock.now += 0.5
    assert receivables("C1") == Decimal("100.00")  # within the interval: not looked at yet
    clock.now += 0.6
    assert receivables("C1") == Decimal("150.00") and receivables.reads == 2


def test_an_unreadable_file_keeps_what_was_read_last(tmp_path):
    folder = tmp_path / "open_items"
    publish(folder, [item(1, "C1", "100.00")])
    clock = Clock()
    receivables = OpenReceivablesFile(folder, clock=clock)
    assert receivables("C1") == Decimal("100.00")
    (folder / "part-current.parquet").write_bytes(b"not parquet")
    clock.now += 2
    assert receivables("C1") == Decimal("100.00")
    publish(folder, [item(1, "C1", "40.00")])
    clock.now += 2
    assert receivables("C1") == Decimal("40.00")
    assert (folder / "part-current.parquet").exists()  # the books' file is theirs: never moved
