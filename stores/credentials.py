"""Devices' and services' credentials in `var/credentials.json` (hashes only, mode 0600).

Written atomically under an exclusive lock, so `stockflow devices add` and `stockflow up` can
change it while workers run; workers reload it when the file changes (`CredentialCache`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from infra.jsonl import exclusive, replace_durably
from infra.worker_client import client_token
from stockflow.config import Settings
from stockflow.events import EVENT_MODELS
from stockflow.identity import Credential, Kind, credential_with_token, new_credential, split_token


class CredentialStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Credential]:
        """Credentials by token id."""
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return {item["token_id"]: Credential.from_dict(item) for item in data.get("credentials", [])}

    def _save(self, creds: Iterable[Credential]) -> None:
        body = {"credentials": [c.as_dict() for c in sorted(creds, key=lambda c: (c.name, c.token_id))]}
        replace_durably(self.path, (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

    def add(
        self, name: str, kind: Kind, locations: Iterable[str] = (), event_types: Iterable[str] = ()
    ) -> tuple[Credential, str]:
        """A new credential; returns it and its token (shown once, never stored)."""
        with exclusive(self.path):
            creds = self.load()
            if any(c.name == name and not c.revoked for c in creds.values()):
                raise ValueError(f"a credential named {name!r} exists; revoke it first")
            cred, token = new_credential(
                name, kind, datetime.now(UTC), locations, event_types, known_event_types=EVENT_MODELS
            )
            creds[cred.token_id] = cred
            self._save(creds.values())
        return cred, token

    def register_token(self, name: str, kind: Kind, token: str) -> Credential:
        """Make `token` valid under `name` (idempotent): for a token kept in a secret store."""
        token_id, _ = split_token(token)
        with exclusive(self.path):
            creds = self.load()
            cred = credential_with_token(name, kind, token, datetime.now(UTC))
            known = creds.get(token_id)
            if known is not None and known.secret_sha256 == cred.secret_sha256 and not known.revoked:
                return known
            creds[token_id] = cred
            self._save(creds.values())
        return cred

    def revoke(self, name: str) -> int:
        """Revoke every credential named `name`; returns how many."""
        with exclusive(self.path):
            creds = self.load()
            hits = [c for c in creds.values() if c.name == name and not c.revoked]
            for c in hits:
                creds[c.token_id] = Credential(**{**c.__dict__, "revoked": True})
            if hits:
                self._save(creds.values())
        return len(hits)


class CredentialCache:
    """The credentials a worker checks against, reloaded at most every `every` seconds when the
    file changed (a new device works without a restart; a revoked one stops within seconds)."""

    def __init__(self, store: CredentialStore, every: float = 1.0) -> None:
        self.store = store
        self.every = every
        self._by_id: dict[str, Credential] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0

    def by_id(self, fresh: bool = False) -> dict[str, Credential]:
        """The credentials by token id; `fresh`: look at the file now (a stat when unchanged)."""
        now = time.monotonic()
        if fresh or now - self._checked >= self.every:
            self._checked = now
            try:
                st = self.store.path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._by_id = self.store.load() if stamp else {}
                self._stamp = stamp
        return self._by_id


SERVICE_NAME = "stockflow-services"


def ensure_service_token(settings: Settings) -> str:
    """The token this installation's own processes present to the workers: `STOCKFLOW_API_TOKEN`
    when set, else the one in `var/service.token` (made on first use, mode 0600); registered in
    the credentials either way."""
    store = CredentialStore(settings.credentials_path)
    token = client_token(settings)
    if token is None:
        store.revoke(SERVICE_NAME)  # a token file that was deleted: its credential goes too
        cred, token = store.add(SERVICE_NAME, Kind.SERVICE)
        replace_durably(settings.service_token_path, (token + "\n").encode())
        return token
    store.register_token(SERVICE_NAME, Kind.SERVICE, token)
    return token
