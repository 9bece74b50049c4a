"""The Devices page under Streamlit's AppTest: every registered MQTT device with its kind,
location and last-seen time, the silent ones first and counted, and who may see it."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from stockflow.config import Settings
from stockflow.devices import Device, DeviceKind
from stockflow.i18n import Language, catalogue
from stockflow.masking import Area, Role, can_view
from stockflow.services.accounts import add_account
from stores.accounts import AccountFile
from stores.audit_log import AuditLog
from stores.device_registry import DeviceRegistryFile, DevicesSeen, DevicesSeenFile

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
PAGE = "pages/devices.py"
PASSWORD = "pw-devices-2026"
DEVICES = [
    Device(device_id="TS-WH1-1", kind=DeviceKind.TEMPERATURE, location="WH1", unit="C", interval_seconds=60),
    Device(
        device_id="SCALE-S1",
        kind=DeviceKind.SCALE,
        location="S1",
        unit="kg",
        sku="MILK-1L",
        unit_weight_g=Decimal(1030),
    ),
    Device(device_id="GATE-WH1", kind=DeviceKind.RFID_GATE, location="WH1"),
]


def en(key: str, **fields) -> str:
    message = catalogue(Language.EN)[key]
    return message.format(**fields) if fields else message


@pytest.fixture
def company(tmp_path, monkeypatch):
    var = tmp_path / "var"
    settings = Settings(var_dir=var)
    DeviceRegistryFile(settings.devices_registry_path).register_all(DEVICES)
    now = datetime.now(UTC)
    DevicesSeenFile(settings.devices_seen_path).save(
        DevicesSeen(
            last_seen={"TS-WH1-1": now - timedelta(minutes=10), "SCALE-S1": now - timedelta(seconds=5)},
            counters={"in": 12, "produced": 9, "duplicates": 1, "dead_lettered": 2},
        )
    )
    add_account(
        AccountFile(var / "accounts.json"), AuditLog(var), "wang.cang", Role.WAREHOUSE, PASSWORD, "test"
    )
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    return var


def test_the_devices_page_lists_each_device_silent_ones_first(company):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sign_in_name").input("wang.cang")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click().run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Devices"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        en("devices.registered"): "3",
        en("devices.silent"): "1",
        en("devices.never_seen"): "1",
    }
    shown = at.dataframe[0].value
    assert shown[en("column.device_id")].tolist() == ["TS-WH1-1", "GATE-WH1", "SCALE-S1"]
    assert shown[en("column.kind")].tolist() == ["temperature sensor", "RFID gate", "scale"]
    assert shown[en("column.silent")].tolist() == ["silent", "", ""]
    assert shown[en("column.last_seen")].tolist()[1] == "never"
    assert shown[en("column.topic")].tolist()[0] == "stockflow/devices/TS-WH1-1"
    assert en("devices.caption", messages="12", produced="9", duplicates="1", dead_lettered="2") in [
        c.value for c in at.caption
    ]


def test_who_sees_the_devices():
    assert [role for role in Role if can_view(role, Area.DEVICES)] == [
        Role.MANAGER,
        Role.WAREHOUSE,
        Role.AUDITOR,
    ]
