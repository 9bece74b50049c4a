"""`stockflow devices register | registry | unregister`: the MQTT device registry from the
command line, checked against the company's master data, each change in the audit log."""

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from simulator.company import build_catalog
from stockflow.config import get_settings
from stores.audit_log import AuditLog
from stores.device_registry import DeviceRegistryFile

pytestmark = pytest.mark.integration


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    build_catalog(7).save(tmp_path / "masterdata.json")
    yield tmp_path
    get_settings.cache_clear()


def devices(*args: str):
    return CliRunner().invoke(app, ["devices", *args])


def test_register_list_and_remove_devices(var):
    made = devices("register", "FRIDGE-1", "--kind", "temperature", "--location", "WH1", "--unit", "F",
                   "--value-field", "data.t", "--scale", "0.1", "--interval", "120")  # fmt: skip
    assert made.exit_code == 0, made.output
    sku = next(iter(build_catalog(7).skus))
    scale = devices("register", "SCALE-1", "--kind", "scale", "--location", "ST01", "--unit", "kg",
                    "--sku", sku, "--unit-weight-g", "500", "--tare-g", "120")  # fmt: skip
    assert scale.exit_code == 0, scale.output
    stored = DeviceRegistryFile(var / "devices.json").load().devices
    assert stored["FRIDGE-1"].mapping.value == "data.t" and stored["FRIDGE-1"].unit == "F"
    assert str(stored["SCALE-1"].unit_weight_g) == "500" and stored["SCALE-1"].sku == sku

    listed = json.loads(devices("registry", "--format", "json").output)
    assert [(d["device_id"], d["kind"], d["topic"], d["last_seen"], d["silent"]) for d in listed] == [
        ("FRIDGE-1", "temperature", "stockflow/devices/FRIDGE-1", None, False),
        ("SCALE-1", "scale", "stockflow/devices/SCALE-1", None, False),
    ]

    # refusals: exit 2, nothing changed
    assert devices("register", "X-1", "--kind", "temperature", "--location", "NOWHERE").exit_code == 2
    assert devices("register", "X-1", "--kind", "scale", "--location", "WH1").exit_code == 2  # no SKU
    assert devices("register", "X-1", "--kind", "toaster", "--location", "WH1").exit_code == 2
    same_topic = devices("register", "X-1", "--kind", "temperature", "--location", "WH1",
                         "--topic", "stockflow/devices/FRIDGE-1")  # fmt: skip
    assert same_topic.exit_code == 2
    assert set(DeviceRegistryFile(var / "devices.json").load().devices) == {"FRIDGE-1", "SCALE-1"}

    assert devices("unregister", "FRIDGE-1").exit_code == 0
    assert devices("unregister", "FRIDGE-1").exit_code == 1
    assert set(DeviceRegistryFile(var / "devices.json").load().devices) == {"SCALE-1"}
    actions = [(r["action"], r["target"]) for r in AuditLog(var).records()]
    assert ("device.register", "FRIDGE-1") in actions and ("device.unregister", "FRIDGE-1") in actions
