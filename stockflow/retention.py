"""How long each class of data is kept as it was, which fields are personal, and what
pseudonymising one means.

* **Personal fields** (`PERSONAL_FIELDS`): the fields of a master-data record that name or reach
  a person — a customer's name, phone and identity number, a supplier's phone. This is the one
  list: the store encrypts exactly these at rest (`stores.crypto`), retention pseudonymises
  exactly these, and nothing else.
* **Data classes** (`DataClass`) and their periods (`retention_rules`, periods from the
  settings): personal data in the history is pseudonymised `personal_months` after it stopped
  being the record in use; vouchers, ledgers and the books, and the audit trail, are kept
  `books_years` (30 by law for 会计档案 such as vouchers and ledgers) and never touched before.
* **When a version is due** (`due_versions`): a master-data change records an entity's whole
  record as of that change. The newest change of an entity is its record in use (the
  catalogue still trades with it) and is never due; an older one stopped being in use when the
  next change of the same entity was made, and is due once that day is before the cut-off day.
* **Pseudonymised** (`pseudonym`): the value replaced by ``pz1:`` and 32 hex digits of
  HMAC-SHA256 under the company's pseudonymisation key. The same value always gives the same
  pseudonym (analytics still group and count by it), and without the key nobody can get the value
  back or test a guess; a pseudonym is left as it is, so running retention twice changes nothing.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import Any

#: entity → its personal fields (a master-data record's field names)
PERSONAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "customer": ("name", "phone", "id_number"),
    "supplier": ("phone",),
}
#: the catalogue's collection of each entity with personal fields
CATALOG_COLLECTIONS: Mapping[str, str] = {"customer": "customers", "supplier": "suppliers"}

PSEUDONYM_PREFIX = "pz1:"
_PSEUDONYM_HEX = 32


class DataClass(StrEnum):
    """What retention treats alike."""

    #: personal fields in the history of master data (earlier versions of a customer or supplier)
    PERSONAL = "personal"
    #: vouchers, the stock ledger, open items: the books (会计凭证、账簿)
    BOOKS = "books"
    #: the hash-chained audit trail
    AUDIT = "audit"


class Treatment(StrEnum):
    PSEUDONYMISE = "pseudonymise"
    KEEP = "keep"  # kept as it is for the whole period; the flow never touches it


@dataclass(frozen=True)
class RetentionRule:
    data_class: DataClass
    months: int
    treatment: Treatment

    def cutoff(self, today: date) -> date:
        """The first day still kept as it is: data of an earlier day is due."""
        return months_before(today, self.months)


def retention_rules(personal_months: int, books_years: int) -> dict[DataClass, RetentionRule]:
    """Every data class with its period (from the settings) and what happens when it is due."""
    if personal_months < 1 or books_years < 1:
        raise ValueError("retention periods are at least a month")
    return {
        DataClass.PERSONAL: RetentionRule(DataClass.PERSONAL, personal_months, Treatment.PSEUDONYMISE),
        DataClass.BOOKS: RetentionRule(DataClass.BOOKS, books_years * 12, Treatment.KEEP),
        DataClass.AUDIT: RetentionRule(DataClass.AUDIT, books_years * 12, Treatment.KEEP),
    }


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (the month's last day where it is shorter:
    six months before 31 August is 28 or 29 February)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day(at: datetime, tz: tzinfo) -> date:
    """The company's business day of an instant."""
    return at.astimezone(tz).date()


@dataclass(frozen=True)
class ChangeDate:
    """One recorded master-data change, as retention sees it."""

    version: int
    entity: str
    change_key: str
    occurred_at: datetime


def due_versions(changes: Iterable[ChangeDate], cutoff: date, tz: tzinfo) -> dict[int, date]:
    """The versions of personal entities' changes whose record stopped being in use before
    `cutoff` (the company's day), each with the day it stopped: the day of the next change of
    the same entity. An entity's newest change is never due."""
    by_key: dict[str, list[ChangeDate]] = {}
    for change in changes:
        if change.entity in PERSONAL_FIELDS:
            by_key.setdefault(change.change_key, []).append(change)
    due: dict[int, date] = {}
    for versions in by_key.values():
        versions.sort(key=lambda c: c.version)
        for older, newer in zip(versions, versions[1:], strict=False):
            superseded = local_day(newer.occurred_at, tz)
            if superseded < cutoff:
                due[older.version] = superseded
    return due


def is_pseudonym(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PSEUDONYM_PREFIX)


def pseudonym(value: str, key: bytes) -> str:
    """``pz1:`` + HMAC-SHA256(key, value), 128 bits in hex: the same for the same value, and
    irreversible without the key. Empty values and pseudonyms are returned as they are."""
    if not value or is_pseudonym(value):
        return value
    if len(key) < 16:
        raise ValueError("a pseudonymisation key has at least 16 bytes")
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:_PSEUDONYM_HEX]


def pseudonymise_record(entity: str, record: Mapping[str, Any], key: bytes) -> tuple[dict[str, Any], int]:
    """A copy of `record` with its personal fields pseudonymised, and how many values changed."""
    out = dict(record)
    changed = 0
    for name in PERSONAL_FIELDS.get(entity, ()):
        value = out.get(name)
        if isinstance(value, str) and value and not is_pseudonym(value):
            out[name] = pseudonym(value, key)
            changed += 1
    return out, changed


@dataclass(frozen=True)
class ClassOutcome:
    """What one retention run did to one data class."""

    data_class: DataClass
    treatment: Treatment
    cutoff: date
    due: int = 0
    values_changed: int = 0

    def details(self) -> dict[str, Any]:
        return {
            "data_class": self.data_class.value,
            "treatment": self.treatment.value,
            "cutoff": self.cutoff.isoformat(),
            "due": self.due,
            "values_changed": self.values_changed,
        }
