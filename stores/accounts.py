"""People's dashboard accounts on disk: `var/accounts.json` (argon2id hashes only, mode 0600).

Every change holds an exclusive lock beside the file (`accounts.lock`) from reading to writing,
so two dashboard processes and the CLI never lose each other's updates. The file is replaced
whole: written to a temporary file (created 0600), fsynced, renamed over the old one, and the
folder fsynced, so a reader sees the old accounts or the new ones, never half a file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.jsonl import exclusive, replace_durably
from stockflow.accounts import Account

FORMAT = 1


class AccountFile:
    """The `AccountBook` port over one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, name: str) -> Account | None:
        return self._read().get(name)

    def all(self) -> list[Account]:
        return sorted(self._read().values(), key=lambda a: a.name)

    @contextmanager
    def changing(self) -> Iterator[dict[str, Account]]:
        with exclusive(self.path):
            before = self._read()
            accounts = dict(before)
            yield accounts
            if accounts != before:
                self._write(accounts)

    def _read(self) -> dict[str, Account]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if document.get("format") != FORMAT:
            raise ValueError(f"{self.path}: not an accounts file of format {FORMAT}")
        return {r["name"]: Account.from_record(r) for r in document["accounts"]}

    def _write(self, accounts: dict[str, Account]) -> None:
        document = {"format": FORMAT, "accounts": [accounts[n].record() for n in sorted(accounts)]}
        body = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        replace_durably(self.path, body)
