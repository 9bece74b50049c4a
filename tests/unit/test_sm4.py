"""Personal fields SM4-encrypted at rest: the master-data store writes them sealed and reads
them plain; a changed byte, another key or another field is refused; plain files from before
still read; the key file is 0600, never overwritten, never in the data folder; with encryption
on and no key file the store does not open."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from stockflow.config import get_settings
from stockflow.masterdata import Catalog, Customer, Supplier
from stockflow.masterdata_changes import CustomerUpserted, SupplierUpserted, apply_change
from stores.crypto import (
    DecryptionRefused,
    FieldCipher,
    PersonalDataKeyError,
    PersonalDataKeys,
    create_key_file,
    load_key_file,
)
from stores.masterdata import MasterDataFiles, read_catalog, read_change_log

PHONE = "13812345678"
ID_NUMBER = "110101199003071234"
NAME = "王小明"
SUPPLIER_PHONE = "021-55551234"


def test_sm4_is_the_national_standard_cipher():
    """The cipher under the store is SM4 itself: GB/T 32907-2016's example (one block)."""
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (encryptor.update(key) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(PersonalDataKeys.generate())


def test_a_value_round_trips_and_is_sm4_gcm_under_the_key(cipher):
    sealed = cipher.encrypt(PHONE, "customer.phone")
    assert sealed.startswith(f"sm4g1:{cipher.keys.key_id}:") and PHONE not in sealed
    assert cipher.decrypt(sealed, "customer.phone") == PHONE
    # the same value twice: a fresh nonce each time
    assert cipher.encrypt(PHONE, "customer.phone") != sealed
    # opened by hand: nonce, ciphertext, tag; the field as associated data
    raw = base64.b64decode(sealed.split(":", 2)[2])
    decryptor = Cipher(algorithms.SM4(cipher.keys.sm4_key), modes.GCM(raw[:12], raw[-16:])).decryptor()
    decryptor.authenticate_additional_data(b"customer.phone")
    assert (decryptor.update(raw[12:-16]) + decryptor.finalize()).decode() == PHONE


def test_a_changed_byte_is_detected(cipher):
    sealed = cipher.encrypt(NAME, "customer.name")
    prefix, key_id, body = sealed.split(":", 2)
    raw = bytearray(base64.b64decode(body))
    for index in (0, 13, len(raw) - 1):  # nonce, ciphertext, tag
        changed = bytearray(raw)
        changed[index] ^= 0x01
        tampered = f"{prefix}:{key_id}:{base64.b64encode(bytes(changed)).decode()}"
        with pytest.raises(DecryptionRefused, match="changed"):
            cipher.decrypt(tampered, "customer.name")
    with pytest.raises(DecryptionRefused, match="damaged"):
        cipher.decrypt(f"{prefix}:{key_id}:not base64!", "customer.name")


def test_another_key_or_another_field_is_refused(cipher):
    sealed = cipher.encrypt(ID_NUMBER, "customer.id_number")
    other = FieldCipher(PersonalDataKeys.generate())
    with pytest.raises(DecryptionRefused, match="another key|not this key"):
        other.decrypt(sealed, "customer.id_number")
    # a key file with the same id but another key (forged): the tag still fails
    forged = FieldCipher(PersonalDataKeys(cipher.keys.key_id, other.keys.sm4_key, other.keys.pseudonym_key))
    with pytest.raises(DecryptionRefused, match="changed"):
        forged.decrypt(sealed, "customer.id_number")
    with pytest.raises(DecryptionRefused):
        cipher.decrypt(sealed, "customer.phone")  # moved to another field


def test_plain_values_read_as_they_are(cipher):
    assert cipher.decrypt(PHONE, "customer.phone") == PHONE
    assert cipher.encrypt("", "customer.phone") == ""


def _changes() -> list:
    at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    customer = Customer(customer="CUS001", name=NAME, phone=PHONE, id_number=ID_NUMBER)
    supplier = Supplier(supplier="SUP01", name="上海食品", phone=SUPPLIER_PHONE)
    return [
        SupplierUpserted(event_id="e1", occurred_at=at, actor="alice", version=1, record=supplier),
        CustomerUpserted(event_id="e2", occurred_at=at, actor="alice", version=2, record=customer),
    ]


def _record(store: MasterDataFiles) -> Catalog:
    catalog = Catalog()
    changes = _changes()
    for change in changes:
        apply_change(catalog, change)
    store.record(changes, catalog)
    return catalog


def test_the_store_seals_personal_fields_and_reads_them_plain(tmp_path, cipher):
    var = tmp_path / "var"
    store = MasterDataFiles(var / "masterdata.json", var / "lake", cipher, encrypt=True)
    catalog = _record(store)

    stored = (var / "masterdata.json").read_text()
    log = b"".join(p.read_bytes() for p in (var / "lake" / "masterdata_changes").glob("*.parquet"))
    payloads = " ".join(
        pq.read_table(p)["payload"].to_pylist()[0] for p in (var / "lake" / "masterdata_changes").glob("*")
    )
    for secret in (PHONE, ID_NUMBER, NAME, SUPPLIER_PHONE):
        assert secret not in stored and secret not in payloads
        assert secret.encode() not in log
    raw = json.loads(stored)
    assert raw["customers"]["CUS001"]["phone"].startswith("sm4g1:")
    assert raw["suppliers"]["SUP01"]["name"] == "上海食品"  # not personal: as it is

    assert store.load() == catalog
    assert MasterDataFiles(var / "masterdata.json", var / "lake", cipher, encrypt=False).load() == catalog
    assert [c.record for c in store.changes_after(0)] == [c.record for c in _changes()]
    # without the key, sealed values cannot be read
    with pytest.raises(PersonalDataKeyError):
        MasterDataFiles(var / "masterdata.json", var / "lake", None, encrypt=False).load()


def test_files_written_before_encryption_still_read(tmp_path, cipher):
    var = tmp_path / "var"
    catalog = _record(MasterDataFiles(var / "masterdata.json", var / "lake", None, encrypt=False))
    assert PHONE in (var / "masterdata.json").read_text()
    sealing = MasterDataFiles(var / "masterdata.json", var / "lake", cipher, encrypt=True)
    assert sealing.load() == catalog
    # the next commit seals the catalogue; the old log file stays plain and still reads
    sealing.record([], catalog)
    assert PHONE not in (var / "masterdata.json").read_text()
    assert sealing.load() == catalog
    assert [c.record for c in sealing.changes_after(0)] == [c.record for c in _changes()]


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """Settings whose var dir and key file are this test's."""
    var, key = tmp_path / "var", tmp_path / "config" / "stockflow" / "personal-data.key"
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_KEY_FILE", str(key))
    get_settings.cache_clear()
    yield var, key
    get_settings.cache_clear()


def test_the_key_file_is_private_kept_and_outside_the_data(configured, monkeypatch):
    var, key = configured
    keys = create_key_file(key, var)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_key_file(key, var) == keys
    with pytest.raises(PersonalDataKeyError, match="already"):
        create_key_file(key, var)
    assert load_key_file(key, var) == keys  # kept as it was
    with pytest.raises(PersonalDataKeyError, match="inside the data folder"):
        create_key_file(var / "keys" / "k.key", var)
    os.chmod(key, 0o644)
    with pytest.raises(PersonalDataKeyError, match="read by others"):
        load_key_file(key, var)
    os.chmod(key, 0o600)

    # the settings' store reads with the key where it exists, and seals once encryption is on
    monkeypatch.setenv("STOCKFLOW_ENCRYPT_PERSONAL_DATA", "true")
    get_settings.cache_clear()
    store = MasterDataFiles(var / "masterdata.json", var / "lake")
    assert store.encrypt and store.cipher is not None
    catalog = _record(store)
    assert PHONE not in (var / "masterdata.json").read_text()
    assert read_catalog(var / "masterdata.json") == catalog
    assert [json.loads(r["payload"])["record"] for r in read_change_log(var / "lake")][1]["phone"] == PHONE


def test_with_encryption_on_and_no_key_file_the_store_refuses(configured, monkeypatch):
    var, key = configured
    monkeypatch.setenv("STOCKFLOW_ENCRYPT_PERSONAL_DATA", "true")
    get_settings.cache_clear()
    with pytest.raises(PersonalDataKeyError, match="stockflow keys init"):
        MasterDataFiles(var / "masterdata.json", var / "lake")
    assert not (var / "masterdata.json").exists()


def test_the_warehouse_copy_of_the_customers_is_sealed_and_the_dashboards_read_it_plain(
    configured, monkeypatch
):
    """The lake's master-data export for the warehouse (what dim_customers is built from) holds
    the customers' personal fields sealed when encryption is on; the dashboards' reader opens
    them with the key file, and leaves them sealed without it."""
    import pandas as pd

    from dashboards.data import plain_customers
    from stores.warehouse import export_masterdata

    var, key = configured
    keys = create_key_file(key, var)
    catalog = Catalog()
    for change in _changes():
        apply_change(catalog, change)
    lake = var / "lake"
    export_masterdata(catalog, lake, FieldCipher(keys))
    written = (lake / "masterdata" / "customers.parquet").read_bytes()
    for secret in (PHONE, ID_NUMBER, NAME):
        assert secret.encode() not in written
    (row,) = pq.read_table(lake / "masterdata" / "customers.parquet").to_pylist()
    assert row["customer"] == "CUS001" and row["phone"].startswith("sm4g1:")
    # as the warehouse names the columns (stg_masterdata__customers)
    frame = pd.DataFrame(
        [{"customer_id": row["customer"], "customer_name": row["name"], "phone": row["phone"],
          "id_number": row["id_number"], "receivable": 1}]
    )  # fmt: skip
    plain = plain_customers(frame).iloc[0]
    assert (plain["customer_name"], plain["phone"], plain["id_number"]) == (NAME, PHONE, ID_NUMBER)
    key.unlink()  # no key: left as stored
    assert plain_customers(frame).iloc[0]["phone"] == row["phone"]
    # without a cipher, the export is plain (encryption off)
    export_masterdata(catalog, lake)
    assert pq.read_table(lake / "masterdata" / "customers.parquet").to_pylist()[0]["phone"] == PHONE
