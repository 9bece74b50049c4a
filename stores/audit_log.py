"""The audit log on disk: `var/audit/audit.jsonl`, one hash-chained entry per line (the chain
and its verification are the core's, `stockflow.audit`).

Appends take an exclusive lock, so entries from the CLI, the flows and the dashboards form one
chain; each line is flushed and fsynced before the action it records takes effect.

Its anchors go to a second file (`Settings.audit_anchor_path`: another disk or a WORM share in
production), one JSON line per anchor, fsynced: the head after every `anchor_every` entries
(written by the append that reaches it) and whenever `stockflow audit verify` finds the chain
intact. `verify` holds the chain to every anchor there."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.jsonl import append_durably, exclusive
from stockflow.audit import Anchor, AuditEntry, Verdict, head_anchor, next_entry, verify_anchored
from stockflow.config import get_settings

log = logging.getLogger(__name__)

#: The anchor file of a log outside the settings' var dir.
ANCHOR_FILE = "audit_anchors.jsonl"


class AuditLogError(RuntimeError):
    """The log cannot take another entry (its last one is unreadable)."""


class AuditLog:
    """The log under `var_dir`. Its anchors go to `anchor_path`; by default the settings' anchor
    file where `var_dir` is the settings' var dir (so every process that opens the app's log
    anchors it in the one configured place), else `var_dir/audit_anchors.jsonl`."""

    def __init__(
        self, var_dir: Path, anchor_path: Path | None = None, anchor_every: int | None = None
    ) -> None:
        settings = get_settings()
        self.path = var_dir / "audit" / "audit.jsonl"
        if anchor_path is None:
            configured = Path(var_dir).resolve() == Path(settings.var_dir).resolve()
            anchor_path = settings.audit_anchor_path if configured else var_dir / ANCHOR_FILE
        self.anchor_path = anchor_path
        self.anchor_every = anchor_every or settings.audit_anchor_every

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
            if entry.seq % self.anchor_every == 0:
                self._anchor_after_append(entry)
        return entry

    def _anchor_after_append(self, entry: AuditEntry) -> None:
        """Anchor the head the append reached; the entry stands even where the anchor cannot be
        written (the next anchor, or `verify`, covers it)."""
        anchor = Anchor(
            entries=entry.seq, hash=entry.hash, at=entry.at, why=f"every {self.anchor_every} entries"
        )
        try:
            self.write_anchor(anchor)
        except OSError:
            log.exception("could not write the audit anchor at entry %s to %s", entry.seq, self.anchor_path)

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

    def anchors(self) -> list[Anchor | None]:
        """Every anchor written (None: a line that is not an anchor)."""
        if not self.anchor_path.exists():
            return []
        out: list[Anchor | None] = []
        with open(self.anchor_path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    out.append(Anchor(**json.loads(line)))
                except (ValueError, TypeError):
                    out.append(None)
        return out

    def write_anchor(self, anchor: Anchor) -> None:
        """Append an anchor to the anchor file, durably (fsynced before returning)."""
        with exclusive(self.anchor_path):
            append_durably(self.anchor_path, json.dumps(anchor.record(), ensure_ascii=False, sort_keys=True))

    def verify(self, heads: Iterable[str] = ()) -> Verdict:
        """The chain checked entry by entry, against every anchor, and against the heads given."""
        return verify_anchored(self.records(), self.anchors(), heads)

    def verify_and_anchor(self, heads: Iterable[str] = ()) -> tuple[Verdict, Anchor | None]:
        """`verify`; where the chain holds, its head is anchored (None: broken or empty)."""
        verdict = self.verify(heads)
        anchor = head_anchor(verdict, "verify")
        if anchor is not None:
            self.write_anchor(anchor)
        return verdict, anchor
