"""apply_retention on a Prefect server over a company whose master-data history holds personal
data older and younger than the cut-off (encrypted at rest): exactly the versions the test's own
dates make due are pseudonymised, under the key file's key; every other byte of the change log
and the catalogue stays as it was; each data class gets its audit entry. The module's server
also holds other tests' runs: this test's runs name its own var folder."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from stockflow.config import Settings, get_settings
from stockflow.masterdata import Catalog, Customer, Supplier
from stockflow.masterdata_changes import CustomerUpserted, SupplierUpserted, apply_change
from stores.audit_log import AuditLog
from stores.crypto import create_key_file
from stores.masterdata import MasterDataFiles, read_change_log

pytestmark = pytest.mark.integration

COMPANY_TZ = ZoneInfo(Settings.model_fields["timezone"].default)
TODAY = date(2026, 3, 15)
CUTOFF = date(2025, 9, 15)  # six months before TODAY

# (version, entity, code, the company's day of the change, name, phone, identity number)
HISTORY = [
    (1, "customer", "CUS001", "2024-11-02", "王小明", "13812345678", "110101199003071234"),
    (2, "customer", "CUS002", "2023-05-20", "李红", "13900001111", ""),  # one version: in use
    (3, "supplier", "SUP01", "2025-01-05", "上海食品", "021-55551234", ""),
    (4, "customer", "CUS001", "2025-06-30", "王小明", "13812345679", "110101199003071234"),
    (5, "supplier", "SUP01", "2025-09-14", "上海食品", "021-55559999", ""),  # SUP01 v3 replaced: due
    (6, "customer", "CUS001", "2025-09-15", "王晓明", "13812345679", "110101199003071234"),  # v4 not due
    (7, "customer", "CUS003", "2025-02-01", "赵强", "13700002222", ""),
    (8, "customer", "CUS003", "2026-03-01", "赵强", "13700003333", ""),  # v7 replaced recently
]


def _change(version, entity, code, day, name, phone, id_number):
    at = datetime.fromisoformat(f"{day}T11:00:00").replace(tzinfo=COMPANY_TZ)
    if entity == "supplier":
        record = Supplier(supplier=code, name=name, phone=phone)
        return SupplierUpserted(
            event_id=f"e{version}", occurred_at=at, actor="alice", version=version, record=record
        )
    record = Customer(customer=code, name=name, phone=phone, id_number=id_number)
    return CustomerUpserted(
        event_id=f"e{version}", occurred_at=at, actor="alice", version=version, record=record
    )


def expected_due() -> set[int]:
    """The versions whose next version of the same record came before the cut-off day."""
    due = set()
    for version, entity, code, *_ in HISTORY:
        later = [day for v, e, c, day, *_ in HISTORY if (e, c) == (entity, code) and v > version]
        if later and date.fromisoformat(min(later)) < CUTOFF:
            due.add(version)
    return due


@pytest.fixture
def company(tmp_path, monkeypatch):
    var, key = tmp_path / "var", tmp_path / "config" / "personal-data.key"
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_KEY_FILE", str(key))
    monkeypatch.setenv("STOCKFLOW_ENCRYPT_PERSONAL_DATA", "true")
    get_settings.cache_clear()
    keys = create_key_file(key, var)
    store = MasterDataFiles(var / "masterdata.json", var / "lake")
    catalog = Catalog()
    changes = [_change(*row) for row in HISTORY]
    for commit in (changes[:3], changes[3:5], changes[5:]):  # three log files
        for change in commit:
            apply_change(catalog, change)
        store.record(commit, catalog)
    yield var, keys, catalog
    get_settings.cache_clear()


def _raw_log(var) -> dict[int, str]:
    rows = [
        r
        for p in sorted((var / "lake" / "masterdata_changes").glob("*.parquet"))
        for r in pq.read_table(p).to_pylist()
    ]
    return {r["version"]: r["payload"] for r in rows}


def _pseudonym(value: str, key: bytes) -> str:
    return "pz1:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32] if value else ""


def test_retention_pseudonymises_what_is_due_and_nothing_else(module_prefect_server, company):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.apply_retention import apply_retention

    var, keys, catalog = company
    due = expected_due()
    assert due == {1, 3}  # the fixture's history is what the test means it to be
    raw_before, catalogue_before = _raw_log(var), (var / "masterdata.json").read_bytes()
    assert all("sm4g1:" in payload for payload in raw_before.values())  # sealed at rest

    with temporary_settings(updates={PREFECT_API_URL: module_prefect_server.prefect_api_url}):
        outcomes = apply_retention(var_dir=str(var), today=TODAY)
        again = apply_retention(var_dir=str(var), today=TODAY)
        with get_client(sync_client=True) as client:
            runs = [r for r in client.read_flow_runs() if r.parameters.get("var_dir") == str(var)]
    assert sorted(r.state.type.value for r in runs) == ["COMPLETED", "COMPLETED"]

    raw_after = _raw_log(var)
    assert {v for v in raw_after if raw_after[v] != raw_before[v]} == due
    plain = {r["version"]: json.loads(r["payload"])["record"] for r in read_change_log(var / "lake")}
    for version, entity, code, _, name, phone, id_number in HISTORY:
        record = plain[version]
        if version in due:
            personal = {"customer": ("name", "phone", "id_number"), "supplier": ("phone",)}[entity]
            original = {"name": name, "phone": phone, "id_number": id_number}
            for field in personal:
                assert record[field] == _pseudonym(original[field], keys.pseudonym_key), (version, field)
                assert original[field] not in raw_after[version] or not original[field]
            assert record[entity] == code and (entity != "supplier" or record["name"] == name)
        else:
            assert (record["name"], record["phone"]) == (name, phone), version
    assert (var / "masterdata.json").read_bytes() == catalogue_before  # the records in use
    assert MasterDataFiles(var / "masterdata.json", var / "lake").load() == catalog

    # the due versions' non-empty personal values: CUS001 v1 name, phone, id; SUP01 v3 phone
    changed = sum(
        1
        for version, entity, _, _, name, phone, id_number in HISTORY
        if version in due
        for value in ((name, phone, id_number) if entity == "customer" else (phone,))
        if value
    )
    assert changed == 4
    personal = {o["data_class"]: o for o in outcomes}["personal"]
    assert personal == {
        "data_class": "personal",
        "treatment": "pseudonymise",
        "cutoff": CUTOFF.isoformat(),
        "due": len(due),
        "values_changed": changed,
    }
    assert {o["data_class"]: o["values_changed"] for o in again}["personal"] == 0

    log = AuditLog(var)
    assert log.verify().ok
    entries = [json.loads(line) for line in log.path.read_text().splitlines()]
    applied = [e for e in entries if e["action"] == "retention.applied"]
    assert [e["details"]["data_class"] for e in applied] == ["personal", "books", "audit"] * 2
    first = applied[0]["details"]
    assert (first["cutoff"], first["due"], first["versions"]) == (CUTOFF.isoformat(), 2, sorted(due))
    assert {e["details"]["cutoff"] for e in applied[1:3]} == {"1996-03-15"}
    assert all(e["details"]["values_changed"] == 0 for e in applied[1:3])
