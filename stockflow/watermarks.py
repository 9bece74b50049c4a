"""Who took an export and when: the watermark every file a person exports carries.

A CSV file ends with one watermark row, a workbook has one at the foot of each sheet and the
same words in its document properties. The row's first cell starts with `WATERMARK_MARK`, which
no code, name or amount an import reads can start with, so a reader skips it
(`is_watermark_row`) and an export still imports unchanged."""

from __future__ import annotations

import csv
import getpass
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from stockflow.i18n import Message, Translator

WATERMARK_MARK = "#stockflow"


@dataclass(frozen=True)
class Watermark:
    actor: str
    at: datetime

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise ValueError("a watermark names who exported")
        if self.at.tzinfo is None:
            raise ValueError("a watermark's time carries its time zone")

    @classmethod
    def taken_now(cls, actor: str | None, tz: tzinfo) -> Watermark:
        """A watermark for an export taken now by `actor` (None: the person running this
        process, as the operating system names them)."""
        return cls(actor or acting_person(), datetime.now(tz).replace(microsecond=0))

    @property
    def stamp(self) -> str:
        return self.at.isoformat(timespec="seconds")

    def message(self) -> Message:
        return Message("export.watermark", actor=self.actor, at=self.stamp)

    def line(self, t: Translator) -> str:
        """The watermark's one line in `t`'s language, marked so an import skips it."""
        return f"{WATERMARK_MARK} {self.message().text(t)}"


def csv_row(cells: Sequence[str]) -> str:
    """One CSV row (quoted where it must be, ending in a newline): a watermark's row added to
    an export made elsewhere."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def acting_person() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        return "unknown"


def is_watermark_row(cells: Sequence[Any]) -> bool:
    """Whether a row read from a file is an export's watermark (its first non-empty cell starts
    with the mark)."""
    for cell in cells:
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            continue
        return isinstance(cell, str) and cell.lstrip().startswith(WATERMARK_MARK)
    return False
