"""Decisions a person takes on an item (a forecast review, a replenishment suggestion): one
decision per item. Of two taken at once, one wins; the other is refused with `AlreadyDecided`,
which says who decided, when, and how."""

from __future__ import annotations

from datetime import UTC, datetime

from stockflow.i18n import Language, translator


class AlreadyDecided(ValueError):
    """A decision refused because another took the item first (`by` and `at` None where no
    person did: an expired suggestion, or a decision still being taken)."""

    def __init__(
        self, item: str, status: str, by: str | None = None, at: datetime | None = None, note: str = ""
    ) -> None:
        self.item, self.status, self.by, self.at, self.note = item, status, by or None, at, note
        when = None
        if at is not None:
            when = (
                (at if at.tzinfo else at.replace(tzinfo=UTC))
                .astimezone(UTC)
                .strftime("%Y-%m-%d %H:%M:%S UTC")
            )
        # a message key and its fields, as `stockflow.i18n.Explained` errors carry them
        if self.by and when:
            self.key, self.fields = "refusal.already_decided_by_at", {"by": self.by, "at": when}
        elif self.by:
            self.key, self.fields = "refusal.already_decided_by", {"by": self.by}
        elif when:
            self.key, self.fields = "refusal.already_decided_at", {"at": when}
        else:
            self.key, self.fields = "refusal.already_decided", {}
        self.fields = {"item": item, "status": status, **self.fields}
        Exception.__init__(self, self.describe())

    def describe(self) -> str:
        text = translator(Language.EN)(self.key, **self.fields)
        return text + (f" ({self.note})" if self.note else "")
