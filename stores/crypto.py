"""Personal fields encrypted at rest with SM4 (国密 SM4-GCM), and the key file.

**The key file** (`Settings.key_file`, by default under the user's config folder, never in the
data folder): JSON with a key id, a 128-bit SM4 key and a 256-bit pseudonymisation key (the
HMAC key retention's pseudonyms are made with, `stockflow.retention.pseudonym`). `create_key_file`
makes it with mode 0600 and never overwrites one; `load_key_file` refuses a file others may
read, or one inside the data folder. Lose the file and encrypted values cannot be read again:
back it up apart from the data.

**A value** is stored as ``sm4g1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>``: SM4 in GCM
mode (authenticated: a changed byte is detected), a random 96-bit nonce per value, and the field
it belongs to (``customer.phone``) as associated data, so a value moved to another field or
record kind does not read either. A value without the prefix is a plain one written before
encryption was turned on, and reads as it is; a value under another key is refused by its key
id. Which fields are personal is the core's (`stockflow.retention.PERSONAL_FIELDS`)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from stockflow.retention import CATALOG_COLLECTIONS, PERSONAL_FIELDS

PREFIX = "sm4g1"
_NONCE = 12
_TAG = 16
_KEY_FILE_VERSION = 1


class PersonalDataKeyError(RuntimeError):
    """The key file is missing, unreadable, too open or in the wrong place."""


class DecryptionRefused(ValueError):
    """A stored value that does not decrypt: changed since it was written, or under another key."""


@dataclass(frozen=True)
class PersonalDataKeys:
    key_id: str
    sm4_key: bytes
    pseudonym_key: bytes

    @classmethod
    def generate(cls) -> PersonalDataKeys:
        sm4_key = secrets.token_bytes(16)
        return cls(_key_id(sm4_key), sm4_key, secrets.token_bytes(32))

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": _KEY_FILE_VERSION,
                "key_id": self.key_id,
                "sm4": self.sm4_key.hex(),
                "pseudonym": self.pseudonym_key.hex(),
            }
        ).encode()


def _key_id(sm4_key: bytes) -> str:
    return hashlib.sha256(b"stockflow sm4 key id" + sm4_key).hexdigest()[:8]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def create_key_file(path: Path, data_dir: Path) -> PersonalDataKeys:
    """A new key file at `path` (mode 0600, its folder 0700 where made); refused where one is
    already there or `path` lies inside `data_dir`."""
    path = Path(path)
    if _inside(path, data_dir):
        raise PersonalDataKeyError(f"the key file {path} is inside the data folder {data_dir}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = PersonalDataKeys.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PersonalDataKeyError(f"a key file is already at {path}; it is kept as it is") from None
    try:
        os.write(fd, keys.to_json())
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return keys


def load_key_file(path: Path, data_dir: Path | None = None) -> PersonalDataKeys:
    path = Path(path)
    if data_dir is not None and _inside(path, data_dir):
        raise PersonalDataKeyError(f"the key file {path} is inside the data folder {data_dir}")
    try:
        mode = path.stat().st_mode
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise PersonalDataKeyError(f"no key file at {path}; create one with `stockflow keys init`") from None
    except (OSError, ValueError) as exc:
        raise PersonalDataKeyError(f"the key file {path} cannot be read: {exc}") from exc
    if mode & 0o077:
        raise PersonalDataKeyError(
            f"the key file {path} may be read by others (mode {mode & 0o777:o}); chmod 600 it"
        )
    try:
        sm4_key = bytes.fromhex(raw["sm4"])
        keys = PersonalDataKeys(raw["key_id"], sm4_key, bytes.fromhex(raw["pseudonym"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PersonalDataKeyError(f"the key file {path} is not a stockflow key file") from exc
    if len(keys.sm4_key) != 16 or len(keys.pseudonym_key) < 16 or keys.key_id != _key_id(sm4_key):
        raise PersonalDataKeyError(f"the key file {path} is damaged")
    return keys


class FieldCipher:
    """SM4-GCM over single field values (text in, text out)."""

    def __init__(self, keys: PersonalDataKeys) -> None:
        self.keys = keys

    def encrypt(self, value: str, field: str) -> str:
        """`value` sealed for `field` (``entity.name``); empty values stay empty."""
        if not value or is_encrypted(value):
            return value
        nonce = secrets.token_bytes(_NONCE)
        encryptor = Cipher(algorithms.SM4(self.keys.sm4_key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(field.encode())
        sealed = encryptor.update(value.encode("utf-8")) + encryptor.finalize()
        body = base64.b64encode(nonce + sealed + encryptor.tag).decode("ascii")
        return f"{PREFIX}:{self.keys.key_id}:{body}"

    def decrypt(self, value: str, field: str) -> str:
        """The plain value of a stored one (a plain one as it is); `DecryptionRefused` where it
        was changed, belongs to another field or is under another key."""
        if not is_encrypted(value):
            return value
        try:
            _, key_id, body = value.split(":", 2)
            raw = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise DecryptionRefused(f"a stored {field} is damaged") from exc
        if key_id != self.keys.key_id:
            raise DecryptionRefused(
                f"a stored {field} is encrypted under key {key_id}, not this key file's {self.keys.key_id}"
            )
        if len(raw) < _NONCE + _TAG:
            raise DecryptionRefused(f"a stored {field} is damaged")
        nonce, sealed, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
        decryptor = Cipher(algorithms.SM4(self.keys.sm4_key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(field.encode())
        try:
            return (decryptor.update(sealed) + decryptor.finalize()).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionRefused(f"a stored {field} was changed after it was written") from None

    # records ---------------------------------------------------------------------------
    def encrypt_record(self, entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return _each_field(entity, record, self.encrypt)

    def decrypt_record(self, entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return _each_field(entity, record, self.decrypt)


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def _each_field(entity: str, record: Mapping[str, Any], seal: Any) -> dict[str, Any]:
    out = dict(record)
    for name in PERSONAL_FIELDS.get(entity, ()):
        value = out.get(name)
        if isinstance(value, str) and value:
            out[name] = seal(value, f"{entity}.{name}")
    return out


def has_encrypted_values(catalog_json: Mapping[str, Any]) -> bool:
    """Whether a catalogue as stored holds any encrypted value."""
    for entity, collection in CATALOG_COLLECTIONS.items():
        for record in (catalog_json.get(collection) or {}).values():
            if any(is_encrypted(record.get(name)) for name in PERSONAL_FIELDS[entity]):
                return True
    return False


def transform_catalog(catalog_json: Mapping[str, Any], cipher: FieldCipher, seal: bool) -> dict[str, Any]:
    """A stored catalogue's JSON with every personal field encrypted (`seal`) or decrypted."""
    out = dict(catalog_json)
    for entity, collection in CATALOG_COLLECTIONS.items():
        records = out.get(collection)
        if records:
            change = cipher.encrypt_record if seal else cipher.decrypt_record
            out[collection] = {code: change(entity, record) for code, record in records.items()}
    return out


def transform_change(payload: Mapping[str, Any], cipher: FieldCipher, seal: bool) -> dict[str, Any]:
    """A master-data change's JSON with its record's personal fields encrypted or decrypted."""
    entity = _change_entity(payload)
    record = payload.get("record")
    if entity is None or not isinstance(record, Mapping):
        return dict(payload)
    change = cipher.encrypt_record if seal else cipher.decrypt_record
    return {**payload, "record": change(entity, record)}


def _change_entity(payload: Mapping[str, Any]) -> str | None:
    kind = str(payload.get("event_type", ""))
    for entity in PERSONAL_FIELDS:
        if kind.startswith(entity + "_"):
            return entity
    return None
