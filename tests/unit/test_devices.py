"""MQTT devices: payload mapping, hostile payloads, event ids, silence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stockflow.devices import (
    Device,
    DeviceKind,
    DeviceRegistry,
    PayloadMapping,
    decode_tag,
    map_message,
    map_payload,
    silent_devices,
)
from stockflow.events import CycleCount, EventRejected, TemperatureReading

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
FRIDGE = Device(
    device_id="TS-WH1-1", kind=DeviceKind.TEMPERATURE, location="WH1", unit="C", interval_seconds=60
)
SCALE = Device(
    device_id="SC-1",
    kind=DeviceKind.SCALE,
    location="S1",
    unit="kg",
    sku="MILK-1L",
    unit_weight_g=Decimal("1030"),
    tare_g=Decimal("200"),
)
GATE = Device(device_id="GATE-1", kind=DeviceKind.RFID_GATE, location="WH1")
BEAT = Device(device_id="HB-1", kind=DeviceKind.HEARTBEAT, location="WH1", interval_seconds=30)
GTINS = {"80614141123458": "MILK-1L"}


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def rejected(device: Device, payload: bytes) -> str:
    with pytest.raises(EventRejected) as caught:
        map_payload(device, device.mqtt_topic, payload, NOW, GTINS)
    return caught.value.reason


def test_temperature_reading_from_device_time_and_seq():
    event = map_payload(FRIDGE, FRIDGE.mqtt_topic, body(ts="2026-12-02T07:59:30Z", seq=41, value=3.25), NOW)
    assert isinstance(event, TemperatureReading)
    assert (event.event_id, event.source, event.sensor, event.location) == (
        "mqtt:TS-WH1-1:41",
        "TS-WH1-1",
        "TS-WH1-1",
        "WH1",
    )
    assert event.celsius == 3.25 and event.source_seq == 41
    assert event.occurred_at == datetime(2026, 12, 2, 7, 59, 30, tzinfo=UTC)


def test_units_scale_and_nested_fields():
    fahrenheit = FRIDGE.model_copy(
        update={"unit": "F", "mapping": PayloadMapping(value="data.t", time="data.at", seq=None, scale=0.1)}
    )
    event = map_payload(fahrenheit, "x", body(data={"t": 410, "at": 1796198400}), NOW)
    assert event.celsius == pytest.approx(5.0)
    assert event.occurred_at == datetime.fromtimestamp(1796198400, UTC)


def test_redelivery_is_the_same_event_and_a_new_message_a_new_one():
    first = map_payload(FRIDGE, "t", body(ts="2026-12-02T07:59:30Z", value=3.0), NOW)
    again = map_payload(FRIDGE, "t", body(ts="2026-12-02T07:59:30Z", value=3.0), NOW + timedelta(seconds=9))
    later = map_payload(FRIDGE, "t", body(ts="2026-12-02T08:00:30Z", value=3.0), NOW)
    assert first.event_id == again.event_id != later.event_id
    no_time = FRIDGE.model_copy(update={"mapping": PayloadMapping(time=None, seq=None)})
    a = map_payload(no_time, "t", body(value=3.0), NOW)
    b = map_payload(no_time, "t", body(value=3.0), NOW + timedelta(milliseconds=10))
    assert a.event_id == b.event_id and a.occurred_at == NOW
    assert (
        len(
            map_payload(
                FRIDGE.model_copy(update={"device_id": "D" * 48}), "t", body(seq=2**62, value=1), NOW
            ).event_id
        )
        <= 64
    )


def test_scale_weight_becomes_a_count():
    event = map_payload(SCALE, "t", body(value=10.5, seq=3), NOW)  # 10.5 kg − 0.2 kg tray = 10 × 1030 g
    assert isinstance(event, CycleCount)
    assert (event.sku, event.counted_qty, event.location, event.count_id) == (
        "MILK-1L",
        Decimal(10),
        "S1",
        event.event_id,
    )
    assert rejected(SCALE, body(value=10.0)) == "out_of_range"  # 9.5 units: not a whole number
    assert rejected(SCALE, body(value=-3)) == "out_of_range"


def test_rfid_read_pass_counts_distinct_serials_of_one_gtin():
    tags = ["3074257BF7194E4000001A85", "urn:epc:id:sgtin:0614141.812345.6790", "3074257BF7194E4000001A85"]
    event = map_payload(GATE, "t", body(tags=tags, seq=1), NOW, GTINS)
    assert isinstance(event, CycleCount)
    assert (event.sku, event.gtin, event.counted_qty) == ("MILK-1L", "80614141123458", Decimal(2))
    assert decode_tag("80614141123458") == ("80614141123458", None)
    assert rejected(GATE, body(tags=["urn:epc:id:sgtin:0614141.812346.1"])) == "unknown_tag"  # no SKU's GTIN
    assert rejected(GATE, body(tags=["E2801160600002"])) == "unknown_tag"  # bad check digit
    assert rejected(GATE, body(tags=["FF74257BF7194E4000001A85"])) == "unknown_tag"  # not SGTIN-96
    assert rejected(GATE, body(tags=[])) == "unmapped_field"


def test_heartbeat_is_seen_but_no_event():
    assert map_payload(BEAT, "t", body(ts="2026-12-02T07:59:30Z"), NOW) is None
    assert map_payload(BEAT, "t", b"{}", NOW) is None


def test_unknown_device_by_topic():
    registry = DeviceRegistry(devices={d.device_id: d for d in (FRIDGE, SCALE, GATE, BEAT)})
    device, event = map_message(registry.by_topic(), "stockflow/devices/TS-WH1-1", body(value=2), NOW)
    assert device is registry.devices["TS-WH1-1"] and event.celsius == 2
    with pytest.raises(EventRejected) as caught:
        map_message(registry.by_topic(), "stockflow/devices/NOPE", body(value=2), NOW)
    assert caught.value.reason == "unknown_device"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "malformed_payload"),
        (b"\xff\xfe\x00binary", "malformed_payload"),
        (b"[1, 2]", "malformed_payload"),
        (b'{"value": NaN}', "malformed_payload"),
        (b'{"value": Infinity}', "malformed_payload"),
        (b'{"value": 1e999}', "out_of_range"),
        (b'{"value": ' + b"9" * 5000 + b"}", "malformed_payload"),  # int longer than Python converts
        (b'{"value": 123456789012345678901234567890}', "out_of_range"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed_payload"),
        (
            json.dumps({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}).encode(),
            "malformed_payload",
        ),
        (b'{"value": 1}' + b" " * 20_000, "malformed_payload"),
        (b'{"temp": 3}', "unmapped_field"),
        (b'{"value": "warm"}', "unmapped_field"),
        (b'{"value": true}', "unmapped_field"),
        (b'{"value": [3]}', "unmapped_field"),
        (b'{"value": 81}', "out_of_range"),
        (b'{"value": -300}', "out_of_range"),
        (b'{"value": 3, "ts": "yesterday"}', "unmapped_field"),
        (b'{"value": 3, "ts": 1e300}', "out_of_range"),
        (b'{"value": 3, "seq": -1}', "unmapped_field"),
        (b'{"value": 3, "seq": 1.5}', "unmapped_field"),
    ],
)
def test_hostile_payloads_are_rejected_with_a_reason(payload: bytes, reason: str):
    assert rejected(FRIDGE, payload) == reason


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
            ),
            max_leaves=30,
        ).map(lambda v: json.dumps({"value": v, "ts": v, "seq": v, "tags": v}).encode()),
    ),
    st.sampled_from([FRIDGE, SCALE, GATE, BEAT]),
)
def test_any_payload_maps_or_is_rejected(payload: bytes, device: Device):
    try:
        map_payload(device, device.mqtt_topic, payload, NOW, GTINS)
    except EventRejected as exc:
        assert exc.reason in {
            "malformed_payload",
            "unmapped_field",
            "out_of_range",
            "unknown_tag",
            "schema_violation",
        }


def test_registry_refuses_what_cannot_work():
    with pytest.raises(ValidationError):
        Device(device_id="SC-2", kind=DeviceKind.SCALE, location="S1")  # no SKU, no unit weight
    with pytest.raises(ValidationError):
        Device(device_id="T", kind=DeviceKind.TEMPERATURE, location="S1", unit="R")
    with pytest.raises(ValidationError):
        Device(device_id="T", kind=DeviceKind.TEMPERATURE, location="S1", topic="a/#")
    with pytest.raises(ValidationError):
        DeviceRegistry(
            devices={
                "A": FRIDGE.model_copy(update={"device_id": "A"}),
                "B": FRIDGE.model_copy(update={"device_id": "B", "topic": "stockflow/devices/A"}),
            }
        )


def test_silent_devices():
    registry = DeviceRegistry(devices={d.device_id: d for d in (FRIDGE, BEAT, GATE)})
    seen = {"TS-WH1-1": NOW - timedelta(seconds=61), "HB-1": NOW - timedelta(seconds=29)}
    assert [d.device_id for d in silent_devices(registry, seen, NOW)] == ["TS-WH1-1"]  # GATE: never seen
