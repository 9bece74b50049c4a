"""The audit log on disk: `var/audit/audit.jsonl`, one hash-chained entry per line (the chain
and its verification are the core's, `stockflow.audit`).

Appends take an exclusive lock, so entries from the CLI, the flows and the dashboards form one
chain; each line is flushed and fsynced before the action it records is committed."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.jsonl import append_durably, exclusive
from stockflow.audit import AuditEntry, Verdict, next_entry, verify_chain


class AuditLogError(RuntimeError):
    """The log cannot take another entry (its last one is unreadable)."""


class AuditLog:
    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / "audit" / "audit.jsonl"

    def append(
        self,
        actor: str,
        action: str,
        target: str,
        role: str = "",
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        with exclusive(self.path):
            last = self._last_line()
            try:
                previous = AuditEntry(**json.loads(last)) if last else None
            except (ValueError, TypeError) as exc:
                raise AuditLogError(
                    f"the last entry of {self.path} is unreadable; run `stockflow audit verify`"
                ) from exc
            entry = next_entry(
                previous, actor=actor, action=action, target=target, role=role, reason=reason, details=details
            )
            append_durably(self.path, json.dumps(entry.record(), ensure_ascii=False, sort_keys=True))
        return entry

    def _last_line(self) -> str | None:
        if not self.path.exists():
            return None
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            block, data = 4096, b""
            while end > 0 and data.count(b"\n") < 2:
                start = max(0, end - block)
                fh.seek(start)
                data = fh.read(end - start) + data
                end = start
        lines = [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1] if lines else None

    def records(self) -> list[dict[str, Any] | None]:
        """Every stored line, parsed (None: a line that is not JSON)."""
        if not self.path.exists():
            return []
        out: list[dict[str, Any] | None] = []
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    parsed = json.loads(line)
                except ValueError:
                    parsed = None
                out.append(parsed if isinstance(parsed, dict) else None)
        return out

    def verify(self) -> Verdict:
        return verify_chain(self.records())
