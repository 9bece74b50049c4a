"""Decisions a person takes on an item (a forecast review, a replenishment suggestion): one
decision per item. Of two taken at once, one wins; the other is refused with `AlreadyDecided`,
which says who decided, when, and how."""

from __future__ import annotations

from datetime import UTC, datetime


class AlreadyDecided(ValueError):
    """A decision refused because another took the item first (`by` and `at` None where no
    person did: an expired suggestion, or a decision still being taken)."""

    def __init__(
        self, item: str, status: str, by: str | None = None, at: datetime | None = None, note: str = ""
    ) -> None:
        self.item, self.status, self.by, self.at, self.note = item, status, by or None, at, note
        super().__init__(self.describe())

    def describe(self) -> str:
        text = f"{self.item} was already {self.status}"
        if self.by:
            text += f" by {self.by}"
        if self.at is not None:
            at = self.at if self.at.tzinfo else self.at.replace(tzinfo=UTC)
            text += f" at {at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC"
        return text + (f" ({self.note})" if self.note else "")
