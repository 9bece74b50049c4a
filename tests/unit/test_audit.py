import json
from datetime import UTC, datetime, timedelta

import pytest

from stockflow.audit import (
    GENESIS,
    Anchor,
    canonical,
    entry_hash,
    head_anchor,
    next_entry,
    verify_anchored,
    verify_chain,
)
from stockflow.services.auditing import recorded_first

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


# ----------------------------------------------------------------------------- anchors
def anchor_at(rows, n, why="every 3 entries"):
    return Anchor(entries=n, hash=rows[n - 1]["hash"], at=T0 + timedelta(hours=n), why=why)


def test_a_chain_that_holds_its_anchors_and_the_heads_given_verifies():
    rows = chain()
    verdict = verify_anchored(rows, [anchor_at(rows, 3), anchor_at(rows, 6)], [rows[3]["hash"].upper()])
    assert verdict.ok and verdict.anchors == 3 and verdict.last_hash == rows[-1]["hash"]
    assert str(verdict).endswith("holds 3 anchors")


def test_dropping_the_last_entries_verifies_alone_but_fails_the_anchor_beyond_the_cut():
    rows = chain()
    assert verify_chain(rows[:4]).ok  # the gap anchors close
    anchor = anchor_at(rows, 6)
    verdict = verify_anchored(rows[:4], [anchor_at(rows, 3), anchor])
    assert not verdict.ok and verdict.problem.startswith("truncated")
    assert str(anchor) in verdict.problem and "ends at entry 4" in verdict.problem
    assert "2026-11-01T15:00:00+00:00, every 3 entries" in str(verdict)


def test_a_chain_rewritten_from_an_entry_on_with_every_hash_recomputed_fails_its_anchor():
    rows = chain()
    anchor = anchor_at(rows, 3)
    forged, previous = [], None
    for row in rows:  # the whole chain rebuilt with one reason changed
        fields = {k: v for k, v in row.items() if k not in ("seq", "hash", "prev_hash")}
        if row["seq"] == 2:
            fields["reason"] = "nothing to see"
        previous = next_entry(previous, **{**fields, "at": datetime.fromisoformat(fields["at"])})
        forged.append(json.loads(json.dumps(previous.record(), ensure_ascii=False)))
    assert verify_chain(forged).ok
    verdict = verify_anchored(forged, [anchor])
    assert (verdict.ok, verdict.position) == (False, 3) and verdict.problem.startswith("rewritten")
    assert str(anchor) in verdict.problem


def test_a_head_not_in_the_chain_an_unreadable_anchor_and_a_broken_chain_fail():
    rows = chain()
    other = chain(7)  # same shape, one entry more: its head is not in `rows`
    verdict = verify_anchored(rows, [], [other[-1]["hash"]])
    assert not verdict.ok and "is not the hash of any entry" in verdict.problem
    assert not verify_anchored(rows, [anchor_at(rows, 2), None]).ok
    rows[1]["reason"] = "edited"
    verdict = verify_anchored(rows, [anchor_at(rows, 1)])
    assert (verdict.ok, verdict.position) == (False, 2) and "edited" in verdict.problem


def test_the_head_of_an_intact_chain_is_an_anchor_of_a_broken_or_empty_one_none():
    rows = chain()
    anchor = head_anchor(verify_chain(rows), "verify", at=T0)
    assert (anchor.entries, anchor.hash, anchor.why) == (6, rows[-1]["hash"], "verify")
    assert Anchor(**json.loads(json.dumps(anchor.record()))) == anchor
    assert head_anchor(verify_chain([])) is None
    rows[0]["actor"] = "x"
    assert head_anchor(verify_chain(rows)) is None


# ----------------------------------------------------------------------------- audit before action
class Trail:
    def __init__(self, fails: bool = False) -> None:
        self.entries, self.fails, self.last = [], fails, None

    def append(self, actor, action, target, role="", reason="", details=None):
        if self.fails:
            raise OSError("the disk is full")
        self.last = next_entry(
            self.last, actor=actor, action=action, target=target, role=role, reason=reason, details=details
        )
        self.entries.append(self.last)
        return self.last


def test_the_entry_is_written_before_the_action_runs():
    trail, seen = Trail(), []
    with recorded_first(
        trail, "王经理", "suggestion.approved", "s-1", details={"decision_id": "d-1"}
    ) as entry:
        seen.append(len(trail.entries))
    assert seen == [1] and entry.seq == 1 and [e.action for e in trail.entries] == ["suggestion.approved"]


def test_an_action_that_fails_is_followed_by_an_entry_voiding_its_own():
    trail = Trail()
    with pytest.raises(ConnectionError):
        with recorded_first(trail, "王经理", "suggestion.approved", "s-1", details={"decision_id": "d-1"}):
            raise ConnectionError("the stream is down")
    first, failed = trail.entries
    assert failed.action == "suggestion.approved.failed" and failed.details["voids_entry"] == first.seq
    assert failed.details["decision_id"] == "d-1" and "the stream is down" in failed.details["error"]
    assert verify_chain([e.record() for e in trail.entries]).ok


def test_an_action_whose_entry_cannot_be_written_does_not_run():
    ran = []
    with pytest.raises(OSError):
        with recorded_first(Trail(fails=True), "王经理", "suggestion.approved", "s-1"):
            ran.append(True)
    assert ran == []
