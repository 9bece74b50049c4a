"""The lake writer when the disk says no, when a row cannot be stored, and after a kill."""

import shutil
from datetime import UTC, datetime
from decimal import Decimal

from lake import LakeWriter, read_table
from lake.reader import lake_files
from stockflow.events import GoodsReceipt


def receipt(event_id, day=1):
    return GoodsReceipt(
        event_id=event_id, occurred_at=datetime(2026, 11, day, 10, tzinfo=UTC), source="rf", location="WH1",
        purchase_order="PO", supplier="S", sku="MILK-1L", qty=Decimal(1), unit_cost=Decimal("1.00"),
    )  # fmt: skip


def land(writer, *events):
    for e in events:
        writer.land_applied(e, e.model_dump_json().encode(), "scans", 0, 0, (), datetime.now(UTC))


def test_a_failed_write_makes_nothing_visible_and_writes_each_row_once_after(tmp_path):
    root = tmp_path / "lake"
    writer = LakeWriter(root, "w1")
    land(writer, receipt("a", 1), receipt("b", 2), receipt("c", 3))
    # the second day's folder cannot be made (a file is in the way: the disk refuses)
    (root / "scans").mkdir(parents=True)
    (root / "scans" / "date=2026-11-02").write_text("in the way")
    rows = writer.take()
    try:
        writer.write(rows)
        raise AssertionError("the write should have failed")
    except OSError:
        writer.put_back(rows)
    # nothing became visible: the files written before the failure were removed, every row is back
    assert set(writer.unlanded_event_ids()) == {"a", "b", "c"}
    assert not list(root.rglob("*.parquet")) and not list(root.rglob("*.tmp"))
    (root / "scans" / "date=2026-11-02").unlink()
    writer.flush()
    ids = read_table(root, "scans", ["event_id"]).column("event_id").to_pylist()
    assert sorted(ids) == ["a", "b", "c"]
    assert not writer.pending and not writer.unlanded_event_ids()


def test_a_row_that_cannot_be_stored_is_left_out_and_reported(tmp_path):
    writer = LakeWriter(tmp_path / "lake", "w1")
    land(writer, receipt("a"), receipt("b"))
    writer._rows["scans"][1]["offset"] = 2**70  # no 64-bit column takes it
    writer.flush()
    assert read_table(tmp_path / "lake", "scans", ["event_id"]).column("event_id").to_pylist() == ["a"]
    ((table, row, why),) = writer.unlandable
    assert (table, row["event_id"]) == ("scans", "b") and why


def test_leftover_temporary_files_of_this_writer_are_removed_at_start(tmp_path):
    root = tmp_path / "lake"
    folder = root / "scans" / "date=2026-11-01"
    folder.mkdir(parents=True)
    mine = folder / ".part-00000000000000000001-w1.parquet.tmp"
    theirs = folder / ".part-00000000000000000002-w2.parquet.tmp"
    mine.write_bytes(b"half")
    theirs.write_bytes(b"being written")
    assert LakeWriter(root, "w1").remove_leftovers() == 1
    assert not mine.exists() and theirs.exists()


def test_an_unreadable_file_is_moved_aside_and_the_rest_still_read(tmp_path):
    from lake import reader

    root = tmp_path / "lake"
    writer = LakeWriter(root, "w1")
    land(writer, receipt("a", 1))
    writer.flush()
    land(writer, receipt("b", 2))
    writer.flush()
    first = lake_files(root, "scans")[0]
    first.write_bytes(b"PAR1 not parquet")
    reader.moved_aside.clear()
    assert read_table(root, "scans", ["event_id"]).column("event_id").to_pylist() == ["b"]
    assert (root / "_unreadable" / first.relative_to(root)).exists() and not first.exists()
    assert [p.name for p, _ in reader.moved_aside] == [first.name]
    shutil.rmtree(root)
