"""MQTT devices end to end: a real mosquitto, the MQTT bridge (`stockflow mqtt-bridge`), the
embedded Kafka broker and a worker, started once for the module.

The tests keep apart by device: each publishes as its own registered device (or an unknown
one) and looks for that device's events, dead letters and alerts only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import paho.mqtt.client as paho
import pytest

from cli.supervisor import worker_env
from infra.mosquitto import LocalMosquitto, mosquitto_binary
from infra.processes import start_process, stop_process
from lake import read_table
from simulator.company import SimMessage, build_catalog
from stockflow.devices import Device, DeviceKind
from stockflow.events import GoodsReceipt, encode_event
from stores.device_registry import DeviceRegistryFile, DevicesSeenFile
from streams.broker import ensure_topics
from tests.support import (
    Worker,
    free_port,
    lake_dead_letters,
    produce_with_confluent,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration

LOCATION = "WH1"
FRIDGE = Device(device_id="FRIDGE-WH1", kind=DeviceKind.TEMPERATURE, location=LOCATION, unit="C")
BEAT = Device(device_id="BEAT-WH1", kind=DeviceKind.HEARTBEAT, location=LOCATION, interval_seconds=1.5)


@pytest.fixture(scope="module")
def devices(module_broker, tmp_path_factory):
    """mosquitto, a worker and the bridge; the cold-chain SKU received at WH1 first."""
    try:
        mosquitto_binary()
    except RuntimeError as exc:
        pytest.fail(f"{exc} (make install does; these tests need the real broker)")
    tmp = tmp_path_factory.mktemp("mqtt")
    web_port = free_port()
    settings = settings_for(tmp / "var", module_broker.port, web_port).model_copy(
        update={"mqtt_port": free_port(), "device_check_seconds": 0.3}
    )
    catalog = build_catalog(settings.seed)
    catalog.save(settings.masterdata_path)
    ensure_topics(module_broker.bootstrap, settings.topic_partitions)
    DeviceRegistryFile(settings.devices_registry_path).register_all([FRIDGE, BEAT])
    mosquitto = LocalMosquitto(settings.mqtt_port, settings.var_dir)
    mosquitto.start()
    worker = Worker(settings, web_port, tmp).start()
    env = worker_env(settings, worker.web_port) | {
        "STOCKFLOW_MQTT_PORT": str(settings.mqtt_port),
        "STOCKFLOW_DEVICE_CHECK_SECONDS": "0.3",
    }
    bridge = start_process(["-m", "cli.main", "mqtt-bridge"], env, tmp / "mqtt-bridge.log")
    sku = next(s for s in catalog.skus.values() if s.is_cold_chain)
    receipt = GoodsReceipt(
        event_id="mqtt-test-receipt",
        occurred_at=datetime.now(UTC) - timedelta(hours=1),
        source="test",
        location=LOCATION,
        purchase_order="PO-MQTT",
        supplier=next(iter(catalog.suppliers)),
        sku=sku.sku,
        batch="B-MQTT",
        expiry_date=(datetime.now(UTC) + timedelta(days=5)).date(),
        qty=Decimal(5),
        unit="each",
        unit_cost=Decimal(3),
    )
    produce_with_confluent(
        module_broker.bootstrap,
        [SimMessage("scans", LOCATION, encode_event(receipt), event_id=receipt.event_id)],
    )
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-devices")
    client.connect("127.0.0.1", settings.mqtt_port)
    client.loop_start()

    class Devices:
        pass

    d = Devices()
    d.settings, d.sku, d.worker, d.client, d.tmp = settings, sku, worker, client, tmp

    def publish(topic: str, payload: bytes | dict) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        client.publish(topic, body, qos=1).wait_for_publish(5)

    d.publish = publish
    try:
        wait_until(lambda: (settings.lake_dir / "scans").exists(), 30, "the receipt in the lake")
        # a message published before the bridge subscribed is not kept for it (a first session)
        bridge_log = tmp / "mqtt-bridge.log"
        wait_until(
            lambda: bridge_log.exists() and "subscribed to" in bridge_log.read_text(errors="replace"),
            60,
            "the bridge subscribed",
        )
        yield d
    finally:
        client.loop_stop()
        client.disconnect()
        stop_process(bridge)
        worker.stop()
        mosquitto.stop()


def _rows(d, table: str) -> list[dict]:
    try:
        return read_table(d.settings.lake_dir, table).to_pylist()
    except (FileNotFoundError, OSError):
        return []


def test_readings_over_mqtt_drive_the_cold_chain(devices):
    d = devices
    start = datetime.now(UTC) - timedelta(minutes=30)
    hot = d.sku.cold_chain_max_c + 4
    topic = FRIDGE.mqtt_topic
    for minutes, celsius in ((0, hot), (10, hot), (20, hot)):
        d.publish(topic, {"ts": (start + timedelta(minutes=minutes)).isoformat(), "value": celsius})
    d.publish(topic, {"ts": (start + timedelta(minutes=20)).isoformat(), "value": hot})  # a redelivery

    def readings():
        return [r for r in _rows(d, "temperature_readings") if r["source"] == FRIDGE.device_id]

    landed = wait_until(lambda: len(readings()) >= 3 and readings(), 30, "the fridge's readings in the lake")
    assert len({r["event_id"] for r in landed}) == len(landed) == 3
    assert all(
        r["location"] == LOCATION and json.loads(r["payload"])["sensor"] == FRIDGE.device_id for r in landed
    )
    excursions = wait_until(
        lambda: [
            a
            for a in _rows(d, "alerts")
            if a["alert_type"] == "temperature_excursion" and FRIDGE.device_id in json.dumps(a["details"])
        ],
        30,
        "the excursion's alert",
    )
    assert excursions[0]["sku"] == d.sku.sku and excursions[0]["location"] == LOCATION


def test_what_cannot_be_mapped_is_a_dead_letter_with_its_reason(devices):
    d = devices
    d.publish(FRIDGE.mqtt_topic, b"\x00\xffnot json")
    d.publish(FRIDGE.mqtt_topic, {"ts": datetime.now(UTC).isoformat(), "value": 900})
    d.publish(FRIDGE.mqtt_topic, {"ts": datetime.now(UTC).isoformat(), "temp": 3})
    d.publish("stockflow/devices/NOBODY-1", {"value": 3})
    d.publish(FRIDGE.mqtt_topic, b'{"value": [' * 50_000)  # big and deep

    def mqtt_letters():
        return sorted(
            r["reason"] for r in lake_dead_letters(d.settings.lake_dir) if "MQTT topic" in (r["detail"] or "")
        )

    wait_until(lambda: len(mqtt_letters()) >= 5, 30, "the device messages' dead letters")
    assert mqtt_letters() == [
        "malformed_payload",
        "malformed_payload",
        "out_of_range",
        "unknown_device",
        "unmapped_field",
    ]
    d.publish(FRIDGE.mqtt_topic, {"ts": datetime.now(UTC).isoformat(), "value": 2.5})  # the bridge goes on
    wait_until(
        lambda: any(json.loads(r["payload"])["celsius"] == 2.5 for r in _rows(d, "temperature_readings")),
        30,
        "a reading after them",
    )


def test_a_silent_device_is_alerted_once_and_back(devices):
    d = devices
    d.publish(BEAT.mqtt_topic, {"ts": datetime.now(UTC).isoformat()})

    def beat_alerts():
        return [
            a
            for a in _rows(d, "alerts")
            if a["alert_type"] == "device_silent" and BEAT.device_id in json.dumps(a["details"])
        ]

    silent = wait_until(beat_alerts, 30, "the heartbeat's silence alert")
    assert silent[0]["severity"] == "warning" and silent[0]["location"] == LOCATION
    seen = DevicesSeenFile(d.settings.devices_seen_path)
    assert BEAT.device_id in seen.load().silent
    d.publish(BEAT.mqtt_topic, {"ts": datetime.now(UTC).isoformat()})
    back = wait_until(lambda: [a for a in beat_alerts() if a["severity"] == "info"], 30, "the device back")
    assert len(back) == 1
    assert len([a for a in beat_alerts() if a["severity"] == "warning"]) >= 1
    record = wait_until(
        lambda: (r := seen.load()).counters.get("heartbeats") and r, 10, "the bridge's counters"
    )
    c = record.counters
    assert (
        c["in"] == c.get("produced", 0) + c.get("duplicates", 0) + c.get("dead_lettered", 0) + c["heartbeats"]
    )
