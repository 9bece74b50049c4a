"""The approvals queue on disk: `var/approvals/approvals.jsonl`, one JSON line per request and
per change of its status (the stream workers, the CLI and the dashboards share it).

Every write holds the file's exclusive lock and is fsynced before returning, so a held event is
on disk before its worker acknowledges it, and of two people deciding at once only the first
decision is taken. The workers ask `approved` for each event a rule holds: answered from the
lines read so far, reading only what was appended since."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from infra.jsonl import append_durably, exclusive
from stockflow.compliance import ApprovalRequest, ApprovalStatus, event_approval_id


class ApprovalFile:
    """The `ApprovalStore` of `stockflow.services.approvals`, and `ApprovedEvents` for a worker."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._requests: dict[str, ApprovalRequest] = {}
        self._read_to = 0
        self._lock = threading.Lock()

    @classmethod
    def under(cls, var_dir: Path) -> ApprovalFile:
        return cls(Path(var_dir) / "approvals" / "approvals.jsonl")

    # ------------------------------------------------------------------ reading
    def _refresh(self) -> dict[str, ApprovalRequest]:
        """Take in the lines appended since the last read (whole lines only)."""
        with self._lock:
            try:
                with open(self.path, "rb") as file:
                    file.seek(self._read_to)
                    chunk = file.read()
            except FileNotFoundError:
                return self._requests
            end = chunk.rfind(b"\n") + 1
            for line in chunk[:end].splitlines():
                if line.strip():
                    self._take(json.loads(line))
            self._read_to += end
            return self._requests

    def _take(self, record: dict[str, Any]) -> None:
        kind = record.pop("record")
        if kind == "request":
            request = ApprovalRequest.model_validate(record)
            self._requests.setdefault(request.approval_id, request)
        elif kind == "transition":
            known = self._requests.get(record["approval_id"])
            if known is not None and known.status.value == record["expected"]:
                changed = ApprovalRequest.model_validate({**known.model_dump(), **record["changes"]})
                self._requests[known.approval_id] = changed

    def get(self, approval_id: str) -> ApprovalRequest | None:
        return self._refresh().get(approval_id)

    def all(self) -> list[ApprovalRequest]:
        return sorted(self._refresh().values(), key=lambda r: r.requested_at)

    def approved(self, event_id: str, content: int) -> bool:
        """Whether a held event with this id and content was approved (`ApprovedEvents`)."""
        found = self._refresh().get(event_approval_id(event_id))
        return (
            found is not None
            and found.event_id == event_id
            and found.content == content
            and found.status is ApprovalStatus.APPROVED
        )

    # ------------------------------------------------------------------ writing
    def add(self, request: ApprovalRequest) -> bool:
        with exclusive(self.path):
            if request.approval_id in self._refresh():
                return False
            line = {"record": "request", **request.model_dump(mode="json")}
            append_durably(self.path, json.dumps(line, ensure_ascii=False, sort_keys=True))
            self._refresh()
        return True

    def transition(
        self, approval_id: str, expected: ApprovalStatus, changes: dict[str, Any]
    ) -> ApprovalRequest | None:
        with exclusive(self.path):
            known = self._refresh().get(approval_id)
            if known is None or known.status is not expected:
                return None
            encoded = ApprovalRequest.model_validate({**known.model_dump(), **changes}).model_dump(
                mode="json"
            )
            line = {
                "record": "transition",
                "approval_id": approval_id,
                "expected": expected.value,
                "changes": {k: encoded[k] for k in changes},
            }
            append_durably(self.path, json.dumps(line, ensure_ascii=False, sort_keys=True))
            return self._refresh()[approval_id]
