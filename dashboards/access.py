"""Sign-in for the dashboards: one password per role, stored as scrypt hashes.

Hashes come from the setting `STOCKFLOW_DASHBOARD_PASSWORDS` (JSON, role → hash) and, for the
roles it does not name, from `var/dashboard_passwords.json` (written by `stockflow dashboard
password ROLE`, or by `stockflow up` the first time, which then prints the passwords it chose
once). No password is ever stored in clear."""

from __future__ import annotations

import json
import os
import secrets

from stockflow.config import Settings
from stockflow.masking import Role, hash_password, verify_password


def password_hashes(settings: Settings) -> dict[Role, str]:
    """Role → hash; an unknown role name in either place is a configuration error."""
    path = settings.dashboard_passwords_path
    stored = json.loads(path.read_text()) if path.exists() else {}
    hashes: dict[Role, str] = {}
    for source, entries in ((path, stored), ("STOCKFLOW_DASHBOARD_PASSWORDS", settings.dashboard_passwords)):
        for name, value in entries.items():
            try:
                hashes[Role(name)] = value
            except ValueError:
                roles = ", ".join(r.value for r in Role)
                raise ValueError(f"{source}: unknown role {name!r} (roles: {roles})") from None
    return hashes


def sign_in(settings: Settings, role: Role, password: str) -> bool:
    stored = password_hashes(settings).get(role)
    return stored is not None and verify_password(password, stored)


def set_password(settings: Settings, role: Role, password: str) -> None:
    """Store the hash of `role`'s new password in var/dashboard_passwords.json."""
    path = settings.dashboard_passwords_path
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored[role.value] = hash_password(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_passwords(settings: Settings) -> dict[Role, str]:
    """Choose a random password for every role that has none; return those (to show once)."""
    missing = [role for role in Role if role not in password_hashes(settings)]
    chosen = {role: secrets.token_urlsafe(9) for role in missing}
    for role, password in chosen.items():
        set_password(settings, role, password)
    return chosen
