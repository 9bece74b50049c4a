"""MQTT devices: the registry (device → location, kind, unit, payload mapping), the mapping of
one device message onto an event, and the health rule (who has been silent too long).

Pure functions: the bridge (`streams.mqtt_bridge`) subscribes, calls `map_message` and produces
what it returns; the registry is stored by `stores.device_registry`.

What each kind of device becomes:

* ``temperature``: a `TemperatureReading` (its value converted to °C from the device's unit and
  scale factor).
* ``scale``: a shelf or bin scale under one SKU: the net weight divided by the SKU's per-unit
  weight is a `CycleCount` of that SKU at the device's location (a scale counts what lies on it;
  the ledger books the difference to its stock as a count variance, as for a person's count).
* ``rfid_gate``: a fixed RFID reader (a gate at a cage or a smart shelf) reports the tags of one
  read pass: the distinct serials read of one GTIN are a `CycleCount` of that SKU there. A gate
  knows no purchase order, supplier or cost, so it cannot be a receipt; a count is what it does
  know. Tags are SGTIN EPCs (96-bit hex or ``urn:epc:id:sgtin:`` URIs) or plain GTINs.
* ``heartbeat``: no event; the device is seen (its health only).

Event ids derive from the device and its own message number (``seq`` field) or, without one,
its own message time: a redelivered MQTT message gives the same id, so the stream takes it as the
duplicate it is. A device that sends neither gets an id from the payload and the second it
arrived in.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stockflow.events import (
    CELSIUS_RANGE,
    CycleCount,
    EventRejected,
    TemperatureReading,
    validation_problems,
)
from stockflow.masterdata import InvalidGtin, validate_gtin

#: The largest device message the mapping reads (sensors send a few hundred bytes).
MAX_PAYLOAD_BYTES = 16 * 1024
#: The deepest JSON nesting a device message may have.
MAX_DEPTH = 8
#: The most tags one RFID read pass may list.
MAX_TAGS = 10_000
#: Where devices publish by default: ``stockflow/devices/<device id>``.
TOPIC_PREFIX = "stockflow/devices/"

DeviceId = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class DeviceKind(StrEnum):
    TEMPERATURE = "temperature"
    SCALE = "scale"
    RFID_GATE = "rfid_gate"
    HEARTBEAT = "heartbeat"


class Rejection(StrEnum):
    """Why a device message became a dead letter (stable codes)."""

    UNKNOWN_DEVICE = "unknown_device"
    MALFORMED_PAYLOAD = "malformed_payload"
    UNMAPPED_FIELD = "unmapped_field"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_TAG = "unknown_tag"
    SCHEMA_VIOLATION = "schema_violation"


#: Temperature units a sensor may report in, as (°C = value * a + b).
TEMPERATURE_UNITS: dict[str, tuple[float, float]] = {
    "C": (1.0, 0.0),
    "F": (5 / 9, -32 * 5 / 9),
    "K": (1.0, -273.15),
}
#: Weight units a scale may report in, in grams.
WEIGHT_UNITS: dict[str, Decimal] = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}
#: How far from a whole number of units a weight may be (as a share of one unit's weight).
WEIGHT_TOLERANCE = Decimal("0.25")


class PayloadMapping(BaseModel):
    """Which JSON field of the device's message holds what (dotted paths for nested fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(default="value", description="the reading: °, weight")
    time: str | None = Field(default="ts", description="the device's time: ISO 8601 or epoch seconds")
    seq: str | None = Field(default="seq", description="the device's running message number")
    tags: str = Field(default="tags", description="RFID: the list of EPCs or GTINs read")
    scale: float = Field(default=1.0, gt=0, description="the value is multiplied by this first")


class Device(BaseModel):
    """One registered device."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: DeviceId
    kind: DeviceKind
    location: str = Field(min_length=1, max_length=64)
    topic: str | None = Field(default=None, description=f"unset: {TOPIC_PREFIX}<device id>")
    unit: str = Field(default="", description="temperature: C|F|K; scale: g|kg|lb|oz")
    interval_seconds: float = Field(default=300.0, gt=0, description="how often it reports")
    mapping: PayloadMapping = PayloadMapping()
    sku: str | None = Field(default=None, description="scale: the SKU lying on it")
    unit_weight_g: Decimal | None = Field(default=None, gt=0, description="scale: one unit's weight, g")
    tare_g: Decimal = Field(default=Decimal(0), ge=0, description="scale: the empty tray's weight, g")
    description: str = ""

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "#+\0")):
            raise ValueError("a device topic is one concrete topic (no wildcards)")
        return value

    @model_validator(mode="after")
    def _kind_needs(self) -> Device:
        if self.kind is DeviceKind.TEMPERATURE and (self.unit or "C") not in TEMPERATURE_UNITS:
            raise ValueError(f"a temperature unit is one of {sorted(TEMPERATURE_UNITS)}")
        if self.kind is DeviceKind.SCALE:
            if (self.unit or "g") not in WEIGHT_UNITS:
                raise ValueError(f"a weight unit is one of {sorted(WEIGHT_UNITS)}")
            if not self.sku or self.unit_weight_g is None:
                raise ValueError("a scale needs the SKU on it and one unit's weight (unit_weight_g)")
        return self

    @property
    def mqtt_topic(self) -> str:
        return self.topic or f"{TOPIC_PREFIX}{self.device_id}"


class DeviceRegistry(BaseModel):
    """Every registered device, by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    devices: dict[str, Device] = {}

    @model_validator(mode="after")
    def _consistent(self) -> DeviceRegistry:
        topics: dict[str, str] = {}
        for key, device in self.devices.items():
            if key != device.device_id:
                raise ValueError(f"device {device.device_id!r} is filed under {key!r}")
            if device.mqtt_topic in topics:
                raise ValueError(
                    f"devices {topics[device.mqtt_topic]!r} and {key!r} share topic {device.mqtt_topic!r}"
                )
            topics[device.mqtt_topic] = key
        return self

    def with_device(self, device: Device) -> DeviceRegistry:
        """The registry with `device` added or replaced (checked again as a whole)."""
        return DeviceRegistry(devices={**self.devices, device.device_id: device})

    def without(self, device_id: str) -> DeviceRegistry:
        return DeviceRegistry(devices={k: v for k, v in self.devices.items() if k != device_id})

    def by_topic(self) -> dict[str, Device]:
        return {d.mqtt_topic: d for d in self.devices.values()}


# ----------------------------------------------------------------------------------- mapping


def _reject(reason: Rejection, detail: str) -> EventRejected:
    return EventRejected(reason.value, detail)


def device_for_topic(topics: Mapping[str, Device], topic: str) -> Device:
    """The device that publishes on `topic` (`DeviceRegistry.by_topic()`), or ``unknown_device``."""
    device = topics.get(topic)
    if device is None:
        raise _reject(Rejection.UNKNOWN_DEVICE, f"no device is registered for topic {topic[:200]!r}")
    return device


def _depth(value: Any, limit: int) -> int:
    """How deep `value` nests, counting no further than `limit` + 1."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def decode_payload(payload: bytes) -> dict[str, Any]:
    """A device message's JSON object, or ``malformed_payload`` (too big, not UTF-8 JSON, NaN or
    Infinity, too deep, not an object)."""
    if not isinstance(payload, bytes | bytearray):
        raise _reject(Rejection.MALFORMED_PAYLOAD, "the message is not bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _reject(Rejection.MALFORMED_PAYLOAD, f"{len(payload)} bytes; at most {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(bytes(payload).decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _reject(Rejection.MALFORMED_PAYLOAD, f"not a JSON object: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise _reject(Rejection.MALFORMED_PAYLOAD, "the message is not a JSON object")
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise _reject(Rejection.MALFORMED_PAYLOAD, f"nested deeper than {MAX_DEPTH}")
    return data


_MISSING = object()


def _field(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _number(data: dict[str, Any], path: str) -> float:
    value = _field(data, path)
    if value is _MISSING:
        raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is not a number")
    if isinstance(value, str):
        if len(value) > 40:
            raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is not a number")
        try:
            value = float(value)
        except ValueError:
            raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is not a number") from None
    if isinstance(value, int) and abs(value) > 10**15:
        raise _reject(Rejection.OUT_OF_RANGE, f"field {path!r}: {str(value)[:40]} is too large")
    number = float(value)
    if not math.isfinite(number):
        raise _reject(Rejection.OUT_OF_RANGE, f"field {path!r} is not a finite number")
    return number


def _device_time(device: Device, data: dict[str, Any], received_at: datetime) -> tuple[datetime, bool]:
    """When the device says the message was made (and True), or when it arrived (and False)."""
    path = device.mapping.time
    value = _MISSING if path is None else _field(data, path)
    if value is _MISSING or value is None:
        return received_at, False
    if isinstance(value, bool):
        raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 10**13:
            raise _reject(Rejection.OUT_OF_RANGE, f"field {path!r}: {str(value)[:40]} is not a time")
        seconds = value / 1000 if value >= 10**11 else value  # epoch milliseconds from some firmware
        return datetime.fromtimestamp(seconds, UTC), True
    if isinstance(value, str) and len(value) <= 40:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r}: {value!r} is not a time") from None
        if at.tzinfo is None:  # a device without a time zone is taken to send UTC
            at = at.replace(tzinfo=UTC)
        return at, True
    raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is not a time")


def _device_seq(device: Device, data: dict[str, Any]) -> int | None:
    path = device.mapping.seq
    value = _MISSING if path is None else _field(data, path)
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**63 - 1:
        raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is not a running number (0 … 2^63-1)")
    return value


def event_id_for(device_id: str, seq: int | None, at: datetime | None, payload: bytes = b"") -> str:
    """The event id of a device message: from the device and its number, else its own time,
    else its payload (and the second it arrived, in `at`). At most 64 characters."""
    if seq is not None:
        basis = f"seq:{seq}"
    elif at is not None and not payload:
        basis = f"at:{at.astimezone(UTC).isoformat()}"
    else:
        stamp = at.astimezone(UTC).replace(microsecond=0).isoformat() if at else ""
        basis = "body:" + hashlib.blake2b(payload + stamp.encode(), digest_size=8).hexdigest()
    readable = f"mqtt:{device_id}:{basis.split(':', 1)[1]}"
    if seq is not None and len(readable) <= 64:
        return readable
    digest = hashlib.blake2b(f"{device_id}|{basis}".encode(), digest_size=12).hexdigest()
    return f"mqtt:{device_id[:34]}:{digest}"


def _celsius(device: Device, value: float) -> float:
    a, b = TEMPERATURE_UNITS[device.unit or "C"]
    celsius = value * device.mapping.scale * a + b
    low, high = CELSIUS_RANGE
    if not math.isfinite(celsius) or not low <= celsius <= high:
        raise _reject(Rejection.OUT_OF_RANGE, f"{celsius:.6g} °C is outside {low:g} … {high:g} °C")
    return round(celsius, 3)


def units_on_scale(device: Device, value: float) -> int:
    """How many units of the scale's SKU its reading is (net of the tray), or ``out_of_range``
    when it is negative or not near a whole number of units."""
    assert device.unit_weight_g is not None
    try:
        grams = Decimal(repr(value)) * Decimal(repr(device.mapping.scale)) * WEIGHT_UNITS[device.unit or "g"]
    except InvalidOperation:
        raise _reject(Rejection.OUT_OF_RANGE, "the weight is not a number") from None
    net = grams - device.tare_g
    if net < -device.unit_weight_g * WEIGHT_TOLERANCE:
        raise _reject(Rejection.OUT_OF_RANGE, f"{grams} g is less than the tray ({device.tare_g} g)")
    units = net / device.unit_weight_g
    whole = max(0, int(units.to_integral_value()))
    if abs(units - whole) > WEIGHT_TOLERANCE:
        raise _reject(
            Rejection.OUT_OF_RANGE,
            f"{net} g net is {units:.2f} units of {device.unit_weight_g} g, not a whole number",
        )
    if whole > 10**9:
        raise _reject(Rejection.OUT_OF_RANGE, f"{whole} units on one scale")
    return whole


# SGTIN partition table: (company prefix bits, digits, item reference bits, digits)
_SGTIN_PARTITIONS = {
    0: (40, 12, 4, 1),
    1: (37, 11, 7, 2),
    2: (34, 10, 10, 3),
    3: (30, 9, 14, 4),
    4: (27, 8, 17, 5),
    5: (24, 7, 20, 6),
    6: (20, 6, 24, 7),
}
_HEX_EPC = re.compile(r"^[0-9A-Fa-f]{24}$")
_SGTIN_URI = re.compile(r"^urn:epc:id:sgtin:(\d{6,12})\.(\d{1,7})\.([!-~]{1,20})$")
_GTIN_DIGITS = re.compile(r"^\d{8,14}$")


def _gtin_from(prefix: str, item_ref: str) -> str:
    """GTIN-14 from an SGTIN's company prefix and item reference (indicator digit first)."""
    body = item_ref[0] + prefix + item_ref[1:]
    if len(body) != 13:
        raise ValueError("company prefix and item reference are not 13 digits together")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def decode_tag(tag: Any) -> tuple[str, str | None]:
    """(GTIN-14, serial or None) from an SGTIN-96 EPC in hex, an SGTIN URI, or a GTIN; raises
    ``unknown_tag`` for anything else."""
    if not isinstance(tag, str) or len(tag) > 80:
        raise _reject(Rejection.UNKNOWN_TAG, "a tag is an EPC or GTIN string")
    try:
        if _HEX_EPC.match(tag):
            bits = int(tag, 16)
            if bits >> 88 != 0x30:
                raise ValueError("not an SGTIN-96 EPC (header 0x30)")
            partition = (bits >> 82) & 0b111
            if partition not in _SGTIN_PARTITIONS:
                raise ValueError(f"partition {partition}")
            p_bits, p_digits, i_bits, i_digits = _SGTIN_PARTITIONS[partition]
            rest = (bits >> 38) & ((1 << 44) - 1)
            prefix = rest >> i_bits
            item = rest & ((1 << i_bits) - 1)
            if prefix >= 10**p_digits or item >= 10**i_digits:
                raise ValueError("company prefix or item reference out of range")
            serial = bits & ((1 << 38) - 1)
            return _gtin_from(str(prefix).zfill(p_digits), str(item).zfill(i_digits)), str(serial)
        match = _SGTIN_URI.match(tag)
        if match:
            prefix, item, serial = match.groups()
            if len(prefix) + len(item) != 13:
                raise ValueError("company prefix and item reference are not 13 digits together")
            return _gtin_from(prefix, item), serial
        if _GTIN_DIGITS.match(tag):
            return validate_gtin(tag), None
    except (ValueError, InvalidGtin) as exc:
        raise _reject(Rejection.UNKNOWN_TAG, f"tag {tag[:40]!r}: {exc}") from None
    raise _reject(Rejection.UNKNOWN_TAG, f"tag {tag[:40]!r} is neither an SGTIN EPC nor a GTIN")


def _rfid_count(device: Device, data: dict[str, Any], sku_by_gtin: Mapping[str, str]) -> tuple[str, str, int]:
    path = device.mapping.tags
    tags = _field(data, path)
    if tags is _MISSING:
        raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is missing")
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not tags:
        raise _reject(Rejection.UNMAPPED_FIELD, f"field {path!r} is not a list of tags")
    if len(tags) > MAX_TAGS:
        raise _reject(Rejection.OUT_OF_RANGE, f"{len(tags)} tags in one read; at most {MAX_TAGS}")
    gtins: set[str] = set()
    serials: set[str] = set()
    plain = 0
    for tag in tags:
        gtin, serial = decode_tag(tag)
        gtins.add(gtin)
        if serial is None:
            plain += 1
        else:
            serials.add(serial)
    if len(gtins) != 1:
        raise _reject(Rejection.UNKNOWN_TAG, f"one read pass holds {len(gtins)} GTINs; a count is of one")
    gtin = gtins.pop()
    sku = sku_by_gtin.get(gtin)
    if sku is None:
        raise _reject(Rejection.UNKNOWN_TAG, f"GTIN {gtin} is no SKU's")
    return sku, gtin, len(serials) + plain


def map_payload(
    device: Device,
    topic: str,
    payload: bytes,
    received_at: datetime,
    sku_by_gtin: Mapping[str, str] | None = None,
) -> TemperatureReading | CycleCount | None:
    """The event one device message stands for (None for a heartbeat), or `EventRejected`
    with a `Rejection` reason. Never raises anything else, whatever the payload."""
    try:
        return _map(device, topic, payload, received_at, sku_by_gtin or {})
    except EventRejected:
        raise
    except ValidationError as exc:
        raise _reject(Rejection.SCHEMA_VIOLATION, validation_problems(exc, "<event>")[:1000]) from None
    except (ValueError, TypeError, ArithmeticError, RecursionError, MemoryError, OverflowError) as exc:
        raise _reject(Rejection.MALFORMED_PAYLOAD, f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _map(
    device: Device, topic: str, payload: bytes, received_at: datetime, sku_by_gtin: Mapping[str, str]
) -> TemperatureReading | CycleCount | None:
    data = decode_payload(payload)
    at, own_time = _device_time(device, data, received_at)
    seq = _device_seq(device, data)
    if device.kind is DeviceKind.HEARTBEAT:
        return None
    if seq is None and not own_time:
        event_id = event_id_for(device.device_id, None, received_at, bytes(payload))
    else:
        event_id = event_id_for(device.device_id, seq, at if own_time else None)
    common = {
        "event_id": event_id,
        "occurred_at": at,
        "source": device.device_id,
        "source_seq": seq,
        "location": device.location,
    }
    if device.kind is DeviceKind.TEMPERATURE:
        celsius = _celsius(device, _number(data, device.mapping.value))
        return TemperatureReading(**common, sensor=device.device_id, celsius=celsius)
    if device.kind is DeviceKind.SCALE:
        units = units_on_scale(device, _number(data, device.mapping.value))
        return CycleCount(
            **common, count_id=event_id, sku=device.sku, counted_qty=Decimal(units), unit="each"
        )
    sku, gtin, counted = _rfid_count(device, data, sku_by_gtin)
    return CycleCount(
        **common, count_id=event_id, sku=sku, gtin=gtin, counted_qty=Decimal(counted), unit="each"
    )


def map_message(
    topics: Mapping[str, Device],
    topic: str,
    payload: bytes,
    received_at: datetime,
    sku_by_gtin: Mapping[str, str] | None = None,
) -> tuple[Device, TemperatureReading | CycleCount | None]:
    """The device publishing on `topic` and the event its message stands for."""
    device = device_for_topic(topics, topic)
    return device, map_payload(device, topic, payload, received_at, sku_by_gtin)


# ------------------------------------------------------------------------------------ health


def silent_devices(
    registry: DeviceRegistry, last_seen: Mapping[str, datetime], now: datetime, grace: float = 1.0
) -> list[Device]:
    """Devices not heard from for longer than their interval (times `grace`). A device never
    heard from is not silent: it has not started yet."""
    silent = []
    for device in registry.devices.values():
        seen = last_seen.get(device.device_id)
        if seen is not None and now - seen > timedelta(seconds=device.interval_seconds * grace):
            silent.append(device)
    return silent


def newly_silent(silent: Iterable[Device], already: set[str]) -> list[Device]:
    """The silent devices not alerted about yet (one alert per silence)."""
    return [d for d in silent if d.device_id not in already]


# ------------------------------------------------------------------------ rejected messages

#: A device message the bridge could not map travels to the stream with this header, whose
#: value is ``{"reason": ..., "detail": ...}``; the stream dead-letters it with that reason.
REJECTED_HEADER = "stockflow.device_rejected"


def rejection_headers(reason: str, detail: str) -> list[tuple[str, bytes]]:
    return [(REJECTED_HEADER, json.dumps({"reason": reason, "detail": detail[:1000]}).encode())]


def rejection_of(headers: Any) -> tuple[str, str] | None:
    """(reason, detail) when a message carries the bridge's rejection header, else None."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if name != REJECTED_HEADER:
            continue
        try:
            data = json.loads(value)
            return str(data["reason"])[:64], str(data.get("detail", ""))[:1000]
        except (ValueError, TypeError, KeyError):
            return Rejection.MALFORMED_PAYLOAD.value, "a device message rejected by the bridge"
    return None
