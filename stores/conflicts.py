"""Conflicts as the lake keeps them: the stream's ``conflicts`` table, one ``open`` row per
conflict found and one ``decided`` row per decision (`stockflow.conflicts`,
`lake.tables.CONFLICTS`). Read afresh on every call (a page shows a decision on its next run)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lake.reader import read_table
from lake.tables import CONFLICTS
from stockflow.conflicts import Conflict


class ConflictLake:
    """The conflicts table under `lake_dir` (the `ConflictRecords` port of the use case)."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = Path(lake_dir)

    def rows(self) -> list[dict[str, Any]]:
        """Every row, in the order the workers landed them."""
        return sorted(
            read_table(self.lake_dir, CONFLICTS.name).to_pylist(), key=lambda r: r["apply_seq"] or 0
        )

    def states(self) -> list[dict[str, Any]]:
        """One record per conflict: what was found, with its decision's fields (``status``
        ``decided``) once there is one; newest found first."""
        found: dict[str, dict[str, Any]] = {}
        decided: dict[str, dict[str, Any]] = {}
        for row in self.rows():
            if row["status"] == "open":
                found.setdefault(row["conflict_id"], row)
            else:
                decided.setdefault(row["conflict_id"], row)
        out = []
        for conflict_id, row in found.items():
            decision = decided.get(conflict_id)
            out.append(
                {
                    **row,
                    "status": "decided" if decision else "open",
                    "decision": decision["decision"] if decision else None,
                    "decided_on_hand": decision["decided_on_hand"] if decision else None,
                    "decided_by": decision["decided_by"] if decision else None,
                    "role": decision["role"] if decision else None,
                    "note": decision["note"] if decision else None,
                    "decided_at": decision["occurred_at"] if decision else None,
                }
            )
        return sorted(out, key=lambda r: r["detected_at"], reverse=True)

    def find(self, conflict_id: str) -> Conflict | None:
        for row in self.rows():
            if row["conflict_id"] == conflict_id and row["status"] == "open":
                return Conflict.from_record(row)
        return None

    def decision_of(self, conflict_id: str) -> Mapping[str, Any] | None:
        for row in self.rows():
            if row["conflict_id"] == conflict_id and row["status"] == "decided":
                return row
        return None
