"""The MQTT bridge's logic without a broker: what it produces, duplicates, dead letters with
their reason header, the counts adding up, one alert per silence and one when a device is back,
and its record kept across a restart."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

from stockflow.config import Settings
from stockflow.devices import REJECTED_HEADER, Device, DeviceKind
from stores.device_registry import DeviceRegistryFile
from streams.mqtt_bridge import Bridge, mqtt_connection

FRIDGE = Device(device_id="F-1", kind=DeviceKind.TEMPERATURE, location="WH1", interval_seconds=60)
BEAT = Device(device_id="HB-1", kind=DeviceKind.HEARTBEAT, location="ST01", interval_seconds=60)


def make_bridge(tmp_path, fail_alerts: list | None = None):
    settings = Settings(var_dir=tmp_path)
    DeviceRegistryFile(settings.devices_registry_path).register_all([FRIDGE, BEAT])
    sent, alerts = [], []

    async def send(topic, key, value, headers):
        sent.append((topic, key, value, headers))

    def raise_alert(alert):
        if fail_alerts:
            raise fail_alerts.pop()
        alerts.append(alert)

    return Bridge(settings, send, raise_alert), sent, alerts


def test_messages_become_events_duplicates_and_dead_letters(tmp_path):
    bridge, sent, _ = make_bridge(tmp_path)
    reading = json.dumps({"ts": "2026-12-02T08:00:00Z", "value": 3.5}).encode()
    outcomes = [
        asyncio.run(bridge.handle(topic, payload))
        for topic, payload in [
            ("stockflow/devices/F-1", reading),
            ("stockflow/devices/F-1", reading),  # redelivered
            ("stockflow/devices/F-1", b"\xff"),
            ("stockflow/devices/NOPE", reading),
            ("stockflow/devices/HB-1", b"{}"),
        ]
    ]
    assert outcomes == ["produced", "duplicate", "dead_lettered", "dead_lettered", "heartbeat"]
    (topic, key, value, headers), bad, unknown = sent
    assert (topic, key, json.loads(value)["celsius"], headers) == ("temperature_readings", b"WH1", 3.5, None)
    assert bad[0] == "temperature_readings" and bad[2] == b"\xff"
    assert json.loads(dict(bad[3])[REJECTED_HEADER])["reason"] == "malformed_payload"
    assert (
        unknown[0] == "scans" and json.loads(dict(unknown[3])[REJECTED_HEADER])["reason"] == "unknown_device"
    )
    c = bridge.counters
    assert c["in"] == 5 == c["produced"] + c["duplicates"] + c["dead_lettered"] + c["heartbeats"]


def test_one_alert_per_silence_and_one_when_back_kept_across_a_restart(tmp_path):
    failures = [ConnectionError("workers away")]
    bridge, _, alerts = make_bridge(tmp_path, failures)
    start = datetime.now(UTC)
    asyncio.run(bridge.handle("stockflow/devices/F-1", b'{"value": 2}', start))
    asyncio.run(bridge.check_health(start + timedelta(seconds=61)))  # the workers are away: not yet
    assert alerts == [] and bridge.counters["alerts_not_raised"] == 1
    asyncio.run(bridge.check_health(start + timedelta(seconds=62)))
    asyncio.run(bridge.check_health(start + timedelta(seconds=90)))
    assert [(a.alert_type, a.severity, a.details["device"]) for a in alerts] == [
        ("device_silent", "warning", "F-1")
    ]
    again, _, alerts_after = make_bridge(tmp_path)  # a restart keeps the record
    assert again.seen.silent == {"F-1"} and "F-1" in again.seen.last_seen
    asyncio.run(again.handle("stockflow/devices/F-1", b'{"value": 2}', start + timedelta(seconds=95)))
    asyncio.run(again.check_health(start + timedelta(seconds=96)))
    assert [(a.severity, a.details.get("back")) for a in alerts_after] == [("info", True)]
    assert again.seen.silent == set()


def test_connection_settings():
    plain = mqtt_connection(Settings(mqtt_url="mqtt://broker.example:1883"))
    assert (plain["hostname"], plain["port"], "tls_context" in plain) == ("broker.example", 1883, False)
    tls = mqtt_connection(Settings(mqtt_url="mqtts://u:p%40ss@broker.example", mqtt_username=None))
    assert (tls["port"], tls["username"], tls["password"], "tls_context" in tls) == (8883, "u", "p@ss", True)
    local = mqtt_connection(Settings(mqtt_port=1999))
    assert (local["hostname"], local["port"]) == ("127.0.0.1", 1999)


def test_an_rfid_read_pass_is_a_count_of_the_sku_its_gtin_names(tmp_path):
    from simulator.company import build_catalog

    catalog = build_catalog(7)
    catalog.save(tmp_path / "masterdata.json")
    sku = next(iter(catalog.skus.values()))
    gate = Device(device_id="GATE-1", kind=DeviceKind.RFID_GATE, location="WH1")
    bridge, sent, _ = make_bridge(tmp_path)
    DeviceRegistryFile(bridge.settings.devices_registry_path).register(gate)
    g = sku.gtin  # GTIN-14: indicator, company prefix (7 digits here), item reference, check digit
    tags = [f"urn:epc:id:sgtin:{g[1:8]}.{g[0]}{g[8:13]}.{serial}" for serial in (1, 2, 3, 2)]
    assert (
        asyncio.run(bridge.handle(gate.mqtt_topic, json.dumps({"tags": tags, "seq": 7}).encode()))
        == "produced"
    )
    topic, key, value, _ = sent[-1]
    count = json.loads(value)
    assert (topic, key) == ("scans", b"WH1")
    assert (count["event_type"], count["sku"], count["counted_qty"], count["event_id"]) == (
        "cycle_count",
        sku.sku,
        "3",
        "mqtt:GATE-1:7",
    )
