"""The interface's languages: Simplified Chinese and English.

Every human-facing text (dashboard pages, labels, help, chart axes, CSV headers, the CLI's
output) comes from one gettext catalogue per language, `stockflow/locales/<lang>/LC_MESSAGES/
stockflow.po`. Message ids are stable keys (`overview.title`, `column.on_hand`); a message is a
whole sentence with named fields (`{count}`), never assembled from pieces, so a translator sees
each one complete. `tests/unit/test_i18n.py` fails when a key used in the code is missing from
either catalogue, or the two disagree on keys or fields.

Numbers, amounts and times are formatted here too, one rule for every page and command:
amounts as ¥ with thousands separators, times in the company's time zone."""

from __future__ import annotations

import json
import logging
import string
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "stockflow"


class Language(StrEnum):
    ZH_CN = "zh_CN"
    EN = "en"

    @property
    def label(self) -> str:
        """The language's own name, the same in every interface (a switcher shows both)."""
        return {Language.ZH_CN: "简体中文", Language.EN: "English"}[self]

    @property
    def babel_locale(self) -> str:
        return {Language.ZH_CN: "zh_Hans_CN", Language.EN: "en"}[self]


def parse_language(value: str | Language | None) -> Language | None:
    """`zh-CN`, `zh_CN`, `zh`, `zh-Hans` → Chinese; `en`, `en-US`, `en_GB` → English;
    anything else → None."""
    if value is None:
        return None
    if isinstance(value, Language):
        return value
    cleaned = value.strip().replace("-", "_").lower()
    if cleaned == "zh" or cleaned.startswith("zh_"):
        return Language.ZH_CN
    if cleaned == "en" or cleaned.startswith("en_"):
        return Language.EN
    return None


def company_language(locale: str, language: str | None = None) -> Language:
    """The interface language of a company: its explicit setting, else from its locale (Chinese
    for zh-CN), else English."""
    return parse_language(language) or parse_language(locale) or Language.EN


def catalogue_path(language: Language) -> Path:
    return LOCALES_DIR / str(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalogue(language: Language) -> dict[str, str]:
    """key → message of one language (an untranslated entry is absent, not empty)."""
    with catalogue_path(language).open("rb") as file:
        po = read_po(file, locale=language.babel_locale, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def fields(message: str) -> set[str]:
    """The named fields a message fills in (`{count}`, `{amount}`)."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


class MissingMessage(KeyError):
    """A key neither catalogue has: the test of the catalogues keeps this from shipping."""


@dataclass(frozen=True)
class Translator:
    """`t("key", count=3)`: the message in this language with its fields filled in. A key this
    catalogue lacks falls back to the other language's message (logged), then to the key."""

    language: Language

    def __call__(self, key: str, /, **values: Any) -> str:
        message = catalogue(self.language).get(key)
        if message is None:
            message = self._fallback(key)
        return message.format(**values) if values else message

    def has(self, key: str) -> bool:
        return key in catalogue(self.language)

    def word(self, vocabulary: str, value: str) -> str:
        """A stored word of a fixed vocabulary (a status, an alert type: `value.<vocabulary>.<value>`)
        in this language; the stored word where the catalogue has none."""
        return catalogue(self.language).get(f"value.{vocabulary}.{value}", value)

    def get(self, key: str, default: str) -> str:
        """The message for a key that may not exist (a column the catalogue does not name)."""
        return catalogue(self.language).get(key, default)

    def _fallback(self, key: str) -> str:
        for other in Language:
            if other != self.language and key in catalogue(other):
                log.warning("message %r is missing in %s", key, self.language)
                return catalogue(other)[key]
        log.warning("message %r is missing in every catalogue", key)
        return key

    # ---- numbers, amounts, times: one format for every page and command ----

    def number(self, value: float | int | Decimal, decimals: int = 0) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.language.babel_locale)

    def money(self, value: float | int | Decimal, decimals: int = 2, signed: bool = False) -> str:
        """¥1,234.50; -¥80.00; with `signed`, +¥12.00 for a change."""
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
        sign = "-" if amount < 0 else ("+" if signed else "")
        return f"{sign}¥{self.number(abs(amount), decimals)}"

    def percent(self, value: float, decimals: int = 1) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + "%"
        return format_percent(value, format=pattern, locale=self.language.babel_locale)

    def duration(self, seconds: float) -> str:
        if seconds < 120:
            return self("unit.seconds", value=self.number(seconds, 1))
        if seconds < 7200:
            return self("unit.minutes", value=self.number(seconds / 60))
        if seconds < 172800:
            return self("unit.hours", value=self.number(seconds / 3600, 1))
        return self("unit.days", value=self.number(seconds / 86400, 1))

    def timestamp(self, moment: datetime, tz: ZoneInfo, seconds: bool = False) -> str:
        """A moment in the company's time zone: 2026-09-01 14:05 (the same in both languages)."""
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def day(self, value: date) -> str:
        return value.strftime("%Y-%m-%d")

    def yes_no(self, value: bool) -> str:
        return self("common.yes") if value else self("common.no")


@dataclass(frozen=True)
class Message:
    """A message made now and read later, by people of either language (an alert): its key and
    fields are kept, so it is shown in the reader's language; `english` is for logs and
    machines."""

    key: str
    fields: dict[str, Any]

    def __init__(self, key: str, /, **fields: Any) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "fields", fields)

    @property
    def english(self) -> str:
        return translator(Language.EN)(self.key, **self.fields)

    def text(self, t: Translator) -> str:
        return t(self.key, **self.fields)


def stored_message(details: Any, fallback: str, t: Translator) -> str:
    """A kept message (`message_key`, `message_fields` in a record's details) in `t`'s
    language; `fallback` (the stored text) for a record made before messages were kept."""
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return fallback
    if not isinstance(details, dict) or not t.has(str(details.get("message_key"))):
        return fallback
    try:
        return t(details["message_key"], **dict(details.get("message_fields") or {}))
    except (KeyError, IndexError, ValueError):  # fields of another version of the message
        return fallback


class Explained(Exception):
    """An error a person reads (a refused decision, a password too short): a message key of the
    catalogues and its fields. `str()` is the English message (logs, API answers); `explain`
    gives it in the reader's language."""

    def __init__(self, key: str, /, **fields: Any) -> None:
        self.key, self.fields = key, fields
        super().__init__(translator(Language.EN)(key, **fields))


def explain(error: BaseException, t: Translator) -> str:
    """An error in `t`'s language where it carries a message key (a status word among its fields
    is translated too); its own text otherwise."""
    key, values = getattr(error, "key", None), getattr(error, "fields", None)
    if not (isinstance(key, str) and isinstance(values, dict) and t.has(key)):
        return str(error)
    shown = {
        name: t.word("status", value) if name == "status" and isinstance(value, str) else value
        for name, value in values.items()
    }
    return t(key, **shown)


def po_quote(text: str) -> str:
    """A message as a .po string literal (one line)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def add_messages(messages: dict[str, dict[Language, str]]) -> list[str]:
    """Append new keys to both catalogues (a developer's tool: `stockflow messages add`). Every
    key needs a message in every language; a key either catalogue has already is refused.
    Appends under a lock, so two people adding at once do not lose each other's keys."""
    import fcntl

    for key, texts in messages.items():
        if set(texts) != set(Language) or not all(t.strip() for t in texts.values()):
            raise ValueError(f"{key}: a message in every language ({', '.join(Language)}) is needed")
        if fields(texts[Language.ZH_CN]) != fields(texts[Language.EN]):
            raise ValueError(f"{key}: the languages fill in different fields")
    with (LOCALES_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for language in Language:
            known = _read_ids(catalogue_path(language))
            taken = sorted(k for k in messages if k in known)
            if taken:
                raise ValueError(f"already in the {language} catalogue: {', '.join(taken)}")
        for language in Language:
            with catalogue_path(language).open("a", encoding="utf-8") as file:
                for key, texts in messages.items():
                    file.write(f"msgid {po_quote(key)}\nmsgstr {po_quote(texts[language])}\n\n")
        catalogue.cache_clear()
    return list(messages)


def _read_ids(path: Path) -> set[str]:
    with path.open("rb") as file:
        return {str(m.id) for m in read_po(file, domain=DOMAIN) if m.id}


def translator(language: Language | str) -> Translator:
    parsed = parse_language(language)
    if parsed is None:
        raise ValueError(f"unknown language {language!r}: one of {', '.join(Language)}")
    return Translator(parsed)
