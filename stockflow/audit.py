"""The audit trail: who changed what outside the raw event stream, and why, in a hash chain.

Every entry stores the SHA-256 of the entry before it (`prev_hash`; the first stores 64
zeros) and its own `hash`, SHA-256 over the canonical serialisation of all its other fields:
JSON with sorted keys, no spaces, UTF-8, timestamps in ISO 8601 UTC. Entries are numbered
from 1 (`seq`).

`verify_chain` walks the entries in stored order and names the first bad one:

* **edited**: its content no longer gives its hash; or, if the hash was recomputed too, the
  next entry no longer links to it (the edited one is named, not its successor);
* **deleted**: an entry's seq skips one (the entry after the gap is named);
* **inserted**: an entry whose successor links past it to the entry before it;
* **reordered**: an entry whose seq comes later than its position, while the missing seq
  appears further on.

A chain can only prove itself against its own start: whoever can rewrite every hash from an
entry to the end, or drop the last entries, can rewrite history. Anchors close that gap: an
`Anchor` is the chain's head (entry count, the last entry's hash, when) written down
somewhere else (another disk, a WORM share, a ticket). `verify_anchored` checks the chain and
that it still holds every anchor: the anchored hash at the anchored position. A log cut below
an anchor fails as **truncated**; one whose anchored entry differs fails as **rewritten**.

An entry is written before the effect of the action it records (see
`stockflow.services.auditing`): a crash in between leaves an entry for an action that did not
take effect, never an effect without its entry. Such an entry carries the action's own id
(`decision_id`, `event_id`), by which the action is idempotent; a failure that is seen is
followed by a `<action>.failed` entry naming the entry it voids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

GENESIS = "0" * 64


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=1)
    at: AwareDatetime
    actor: str = Field(min_length=1, max_length=200)
    role: str = Field(default="", max_length=50)
    action: str = Field(min_length=1, max_length=100, description="e.g. suggestion.approved")
    target: str = Field(min_length=1, max_length=500, description="what was acted on")
    reason: str = Field(default="", max_length=2000)
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    def record(self) -> dict[str, Any]:
        """The stored form (one JSON object per entry)."""
        return _fields(self.model_dump(mode="json"))


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: every field but `hash`, in a fixed form."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


def _fields(record: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(record)
    at = out["at"]
    if isinstance(at, datetime):
        at = at.astimezone(UTC).isoformat()
    elif isinstance(at, str):
        at = datetime.fromisoformat(at).astimezone(UTC).isoformat()
    out["at"] = at
    return out


def next_entry(
    previous: AuditEntry | None,
    *,
    actor: str,
    action: str,
    target: str,
    role: str = "",
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """The entry that follows `previous` (None: the first of the chain)."""
    if not actor.strip():
        raise ValueError("an audit entry names who acted")
    fields = _fields(
        {
            "seq": previous.seq + 1 if previous else 1,
            "at": at or datetime.now(UTC),
            "actor": actor.strip(),
            "role": role,
            "action": action,
            "target": target,
            "reason": reason,
            # through JSON: what is hashed is exactly what is stored and read back
            "details": json.loads(json.dumps(dict(details or {}), default=str, ensure_ascii=False)),
            "prev_hash": previous.hash if previous else GENESIS,
        }
    )
    return AuditEntry(**fields, hash=entry_hash(fields))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    #: 1-based position (line) of the first bad entry, and its seq as stored
    position: int | None = None
    seq: int | None = None
    problem: str = ""
    last_hash: str = GENESIS
    #: how many anchors (and heads given) the chain was checked against
    anchors: int = 0

    def __str__(self) -> str:
        if self.ok:
            held = f"; holds {self.anchors} anchors" if self.anchors else ""
            return f"audit log intact: {self.entries} entries, last hash {self.last_hash}{held}"
        if self.position is None:
            return f"audit log broken: {self.problem}"
        return f"audit log broken at entry {self.position} (seq {self.seq}): {self.problem}"


def verify_chain(records: Iterable[Mapping[str, Any] | None]) -> Verdict:
    """Check stored entries in order (None: a line that could not be read)."""
    rows = list(records)
    previous_hash, expected_seq = GENESIS, 1
    for position, row in enumerate(rows, start=1):
        bad = _first_problem(rows, position, row, previous_hash, expected_seq)
        if bad is not None:
            where, problem = bad
            found = rows[where - 1]
            seq = found.get("seq") if isinstance(found, Mapping) else None
            return Verdict(False, len(rows), where, seq, problem)
        previous_hash, expected_seq = row["hash"], expected_seq + 1  # type: ignore[index]
    return Verdict(True, len(rows), last_hash=previous_hash)


def _first_problem(
    rows: list[Mapping[str, Any] | None],
    position: int,
    row: Mapping[str, Any] | None,
    previous_hash: str,
    expected_seq: int,
) -> tuple[int, str] | None:
    if row is None:
        return position, "unreadable: not an audit entry"
    try:
        AuditEntry(**row)
        recomputed = entry_hash(_fields(row))
    except (ValueError, TypeError, KeyError) as exc:
        return position, f"malformed: {str(exc).splitlines()[0]}"
    seq = row["seq"]
    if recomputed != row["hash"]:
        return position, "edited: its content no longer matches its hash"
    if row["prev_hash"] == previous_hash and seq == expected_seq:
        return None
    if seq == expected_seq:
        # numbered right but not linked: the entry before it was rewritten, hash and all
        return position - 1, "edited: its hash was recomputed, so the entry after it no longer links to it"
    if seq < expected_seq:
        # an entry numbered like one before it: the previous entry was slipped in, if this one
        # links past it to the entry before that
        before = rows[position - 3] if position >= 3 else None
        if position >= 2 and row["prev_hash"] == (before["hash"] if before else GENESIS):
            return position - 1, "inserted: the entry after it links past it to the one before"
        return position, f"out of order or inserted: seq {seq} where {expected_seq} was due"
    later = [r.get("seq") for r in rows[position:] if isinstance(r, Mapping)]
    if expected_seq in later:
        return position, f"reordered: seq {seq} where {expected_seq} was due (it comes later)"
    missing = expected_seq if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
    return position, f"deleted: the entry with seq {missing} before it is missing"


# ----------------------------------------------------------------------------- anchors
class Anchor(BaseModel):
    """The chain's head as it was at `at`: `entries` entries, the last one's hash `hash`."""

    model_config = ConfigDict(frozen=True)

    entries: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: AwareDatetime
    why: str = Field(default="", max_length=200, description="e.g. verify, every 100 entries")

    def record(self) -> dict[str, Any]:
        """The stored form (one JSON object per anchor)."""
        return _fields(self.model_dump(mode="json"))

    def __str__(self) -> str:
        written = self.at.astimezone(UTC).isoformat(timespec="seconds")
        why = f", {self.why}" if self.why else ""
        return f"anchor of {written}{why} (entry {self.entries}, hash {self.hash})"


def head_anchor(verdict: Verdict, why: str = "", at: datetime | None = None) -> Anchor | None:
    """The head of a chain found intact, as an anchor (None: broken or empty)."""
    if not verdict.ok or verdict.entries == 0:
        return None
    return Anchor(entries=verdict.entries, hash=verdict.last_hash, at=at or datetime.now(UTC), why=why)


def verify_anchored(
    records: Iterable[Mapping[str, Any] | None],
    anchors: Iterable[Anchor | None] = (),
    heads: Iterable[str] = (),
) -> Verdict:
    """`verify_chain`, then: every anchor (None: an anchor line that could not be read) names
    an entry the chain still has, with the anchored hash; every head given (a hash written
    down elsewhere) is the hash of one of its entries. The first that fails is named."""
    rows = list(records)
    verdict = verify_chain(rows)
    if not verdict.ok:
        return verdict
    checked = 0
    for line, anchor in enumerate(anchors, start=1):
        if anchor is None:
            return _unanchored(verdict, f"anchor {line} is unreadable, so the chain cannot be held to it")
        if anchor.entries > len(rows):
            return _unanchored(
                verdict,
                f"truncated: the {anchor} names entry {anchor.entries}, "
                f"but the log ends at entry {len(rows)}",
            )
        found = rows[anchor.entries - 1]["hash"]  # type: ignore[index]
        if found != anchor.hash:
            return _unanchored(
                verdict,
                f"rewritten: entry {anchor.entries} has hash {found}, the {anchor} wrote down another",
                anchor.entries,
            )
        checked += 1
    positions = {row["hash"]: at for at, row in enumerate(rows, start=1)}  # type: ignore[index]
    for head in heads:
        wanted = head.strip().lower()
        if wanted not in positions:
            return _unanchored(verdict, f"the head {head} given is not the hash of any entry of the log")
        checked += 1
    return Verdict(True, verdict.entries, last_hash=verdict.last_hash, anchors=checked)


def _unanchored(verdict: Verdict, problem: str, position: int | None = None) -> Verdict:
    return Verdict(False, verdict.entries, position, position, problem, verdict.last_hash)
