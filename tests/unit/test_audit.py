import json
from datetime import UTC, datetime, timedelta

import pytest

from stockflow.audit import GENESIS, canonical, entry_hash, next_entry, verify_chain

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def chain(n=6):
    entries, previous = [], None
    for i in range(n):
        previous = next_entry(
            previous,
            actor="王经理" if i % 2 else "finance-1",
            role="manager",
            action="suggestion.approved",
            target=f"SUG-{i}",
            reason="stock runs out before the next delivery",
            details={"qty": i * 10, "event_id": f"ev-{i}"},
            at=T0 + timedelta(minutes=i),
        )
        entries.append(previous)
    return [json.loads(json.dumps(e.record(), ensure_ascii=False)) for e in entries]  # as stored


def test_an_untouched_chain_verifies_and_links_every_entry():
    rows = chain()
    verdict = verify_chain(rows)
    assert verdict.ok and verdict.entries == 6 and verdict.last_hash == rows[-1]["hash"]
    assert rows[0]["prev_hash"] == GENESIS and all(
        b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:], strict=False)
    )
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert verify_chain([]).ok


def test_the_hash_is_sha256_of_the_canonical_form():
    import hashlib

    row = chain(1)[0]
    body = canonical(row)
    assert b'"hash"' not in body and body.startswith(b'{"action":"suggestion.approved","actor"')
    assert entry_hash(row) == hashlib.sha256(body).hexdigest() == row["hash"]
    # timestamps in another zone serialise the same
    moved = {**row, "at": datetime.fromisoformat(row["at"]).astimezone(tz=None).isoformat()}
    assert verify_chain([moved]).ok


def test_an_edited_entry_is_named():
    rows = chain()
    rows[2]["details"]["qty"] = 999
    verdict = verify_chain(rows)
    assert (verdict.ok, verdict.position, verdict.seq) == (False, 3, 3) and "edited" in verdict.problem


def test_an_edited_entry_with_its_hash_recomputed_is_still_named():
    rows = chain()
    rows[2]["reason"] = "nobody asked"
    rows[2]["hash"] = entry_hash(rows[2])
    verdict = verify_chain(rows)
    assert (verdict.position, verdict.seq) == (3, 3) and "recomputed" in verdict.problem


def test_a_deleted_entry_is_found_where_the_gap_is():
    rows = chain()
    del rows[3]
    verdict = verify_chain(rows)
    assert (verdict.position, verdict.seq) == (4, 5) and "deleted" in verdict.problem
    # the last one deleted cannot be told from a shorter log: the last hash is the anchor
    assert verify_chain(chain()[:-1]).last_hash != verify_chain(chain()).last_hash


def test_an_inserted_entry_is_named_even_when_it_is_well_formed():
    rows = chain()
    forged = next_entry(
        None,
        actor="intruder",
        action="period.closed",
        target="2026-10",
        at=T0 + timedelta(minutes=2, seconds=30),
    ).record()
    # forged to follow entry 2, numbered 3, hashed right
    forged = {**forged, "seq": 3, "prev_hash": rows[1]["hash"]}
    forged["hash"] = entry_hash(forged)
    rows.insert(2, forged)
    verdict = verify_chain(rows)
    assert (verdict.position, verdict.seq) == (3, 3) and "inserted" in verdict.problem
    assert rows[verdict.position - 1]["actor"] == "intruder"


def test_reordered_entries_are_found():
    rows = chain()
    rows[1], rows[2] = rows[2], rows[1]
    verdict = verify_chain(rows)
    assert (verdict.position, verdict.seq) == (2, 3) and "reordered" in verdict.problem


def test_garbage_and_missing_fields_are_reported_not_raised():
    rows = chain(3)
    assert "unreadable" in verify_chain([rows[0], None, rows[2]]).problem
    broken = dict(rows[1])
    del broken["actor"]
    assert verify_chain([rows[0], broken]).position == 2


def test_an_entry_names_who_acted():
    with pytest.raises(ValueError):
        next_entry(None, actor=" ", action="export", target="vouchers 2026-10")
