"""`stockflow mqtt-bridge`: MQTT devices into the stream.

Subscribes to the device topics (`mqtt_topic_filter`, QoS 1), maps each message with the
registry (`stockflow.devices`) and produces the event to Kafka keyed by its location, as the
HTTP API does. A message is acknowledged to the MQTT broker only once Kafka has acknowledged
what it became (at least once: a redelivery is the same event id, a duplicate the stream drops).
What cannot be mapped goes to the stream with its reason (`stockflow.devices.REJECTED_HEADER`),
which dead-letters it; the bridge goes on.

It remembers when it last heard each device (`var/devices_seen.json`, kept across restarts and
read by the dashboards) and raises an alert through the workers (`POST /alerts`) when a device
is silent longer than its interval, once per silence, and an info alert when it is back.

Counters: ``in`` = ``produced`` + ``duplicates`` + ``dead_lettered`` + ``heartbeats``."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from aiokafka import AIOKafkaProducer

from infra.kafka import aiokafka_options
from infra.worker_client import WorkerClient
from stockflow.alerts import Alert, AlertType, Severity, alert
from stockflow.config import Settings
from stockflow.devices import (
    Device,
    DeviceKind,
    DeviceRegistry,
    map_message,
    rejection_headers,
    silent_devices,
)
from stockflow.events import EventRejected, Topic, encode_event
from stockflow.i18n import Message
from stockflow.masterdata import Catalog
from stores.device_registry import DeviceRegistryFile, DevicesSeenFile

log = logging.getLogger(__name__)

#: Event ids produced recently: a redelivery among them is counted as a duplicate, not sent again.
RECENT_IDS = 100_000
#: The most of a rejected message's payload its dead letter carries.
DEAD_LETTER_PAYLOAD = 64 * 1024


def now_utc() -> datetime:
    return datetime.now(UTC)


def mqtt_connection(settings: Settings) -> dict[str, Any]:
    """aiomqtt.Client keyword arguments from the settings: host, port, credentials, TLS."""
    url = urlsplit(settings.mqtt_broker_url)
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
        raise ValueError(f"mqtt_url {settings.mqtt_broker_url!r}: mqtt://host:port or mqtts://host:port")
    tls = url.scheme == "mqtts"
    options: dict[str, Any] = {
        "hostname": url.hostname,
        "port": url.port or (8883 if tls else 1883),
        "username": settings.mqtt_username or (unquote(url.username) if url.username else None),
        "password": settings.mqtt_password or (unquote(url.password) if url.password else None),
        "identifier": settings.mqtt_client_id,
        "clean_session": False,  # the broker keeps what was not acknowledged while we were away
    }
    if tls:
        context = ssl.create_default_context(
            cafile=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
        )
        if settings.mqtt_cert_file:
            context.load_cert_chain(
                str(settings.mqtt_cert_file), str(settings.mqtt_key_file) if settings.mqtt_key_file else None
            )
        options["tls_context"] = context
    return options


class Bridge:
    """Maps device messages and keeps the devices' health; transport-free, so tests drive it."""

    def __init__(
        self,
        settings: Settings,
        send: Callable[[str, bytes, bytes, list[tuple[str, bytes]] | None], Any],
        raise_alert: Callable[[Alert], None],
    ) -> None:
        self.settings = settings
        self.send = send
        self.raise_alert = raise_alert
        self.registry_file = DeviceRegistryFile(settings.devices_registry_path)
        self.seen_file = DevicesSeenFile(settings.devices_seen_path)
        self.seen = self.seen_file.load()
        self.counters: Counter[str] = Counter()
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.registry = DeviceRegistry()
        self.topics: dict[str, Device] = {}
        self._registry_stamp: tuple[int, int] | None | bool = False
        self._gtins: dict[str, str] = {}
        self._catalog_stamp: float | None = None
        self._dirty = False
        #: Silence is measured from here for devices last heard before the bridge started (a
        #: restart after a pause does not find every device silent at once).
        self.started_at = now_utc()
        self.reload()

    # ------------------------------------------------------------------------ registry
    def reload(self) -> bool:
        """Read the registry (and the GTINs, for RFID gates) again when their files changed."""
        stamp = self.registry_file.stamp()
        changed = stamp != self._registry_stamp
        if changed:
            try:
                self.registry = self.registry_file.load()
            except ValueError:
                log.exception(
                    "device registry %s cannot be read; keeping the one loaded", self.registry_file.path
                )
            self.topics = self.registry.by_topic()
            self._registry_stamp = stamp
        if any(d.kind is DeviceKind.RFID_GATE for d in self.registry.devices.values()):
            path = self.settings.masterdata_path
            mtime = path.stat().st_mtime if path.exists() else None
            if mtime != self._catalog_stamp:
                catalog = Catalog.load(path) if mtime is not None else None
                self._gtins = {s.gtin: s.sku for s in catalog.skus.values()} if catalog else {}
                self._catalog_stamp = mtime
        return changed

    # ------------------------------------------------------------------------ messages
    async def handle(self, topic: str, payload: bytes, received_at: datetime | None = None) -> str:
        """Map one MQTT message and produce what it became; returns ``produced``, ``duplicate``,
        ``heartbeat`` or ``dead_lettered``. Raises only when Kafka did not take it (then the
        message must not be acknowledged)."""
        received_at = received_at or now_utc()
        self.counters["in"] += 1
        try:
            try:
                device, event = self._map(topic, payload, received_at)
            except EventRejected as err:
                if err.reason != "unknown_device" or not self.reload():
                    raise
                device, event = self._map(topic, payload, received_at)
        except EventRejected as err:
            device = self.topics.get(topic)
            await self._dead_letter(device, topic, payload, err)
            if device is not None:
                self._seen(device, received_at)
            return "dead_lettered"
        self._seen(device, received_at)
        if event is None:
            self.counters["heartbeats"] += 1
            return "heartbeat"
        if event.event_id in self.recent:
            self.counters["duplicates"] += 1
            return "duplicate"
        await self.send(str(event.topic), event.location_id.encode(), encode_event(event), None)
        self.recent[event.event_id] = None
        if len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)
        self.counters["produced"] += 1
        return "produced"

    def _map(self, topic: str, payload: bytes, received_at: datetime) -> tuple[Device, Any]:
        try:
            return map_message(self.topics, topic, payload, received_at, self._gtins)
        except EventRejected:
            raise
        except Exception as exc:  # a bug must not stop the bridge: the message is kept with it
            log.exception("mapping a message from %s failed", topic[:200])
            raise EventRejected("internal_error", repr(exc)[:500]) from exc

    async def _dead_letter(
        self, device: Device | None, topic: str, payload: bytes, err: EventRejected
    ) -> None:
        kafka_topic = (
            Topic.TEMPERATURE_READINGS if device and device.kind is DeviceKind.TEMPERATURE else Topic.SCANS
        )
        key = (device.location if device else topic)[:200].encode()
        detail = f"MQTT topic {topic[:200]}: {err.detail}"
        body = bytes(payload[:DEAD_LETTER_PAYLOAD])
        if len(payload) > DEAD_LETTER_PAYLOAD:
            detail += f" (payload of {len(payload)} bytes, the first {DEAD_LETTER_PAYLOAD} kept)"
        await self.send(str(kafka_topic), key, body, rejection_headers(err.reason, detail))
        self.counters["dead_lettered"] += 1
        self.counters[f"dead_lettered.{err.reason}"] += 1
        log.warning("dead letter from %s: %s: %s", topic[:200], err.reason, err.detail[:200])

    def _seen(self, device: Device, at: datetime) -> None:
        self.seen.last_seen[device.device_id] = at
        self._dirty = True

    # ------------------------------------------------------------------------ health
    async def check_health(self, now: datetime | None = None) -> None:
        """Alert each device silent longer than its interval (once per silence) and tell when a
        silent one is back; then keep the record."""
        now = now or now_utc()
        self.reload()
        heard = {k: max(v, self.started_at) for k, v in self.seen.last_seen.items()}
        silent = {d.device_id: d for d in silent_devices(self.registry, heard, now)}
        for device_id, device in silent.items():
            if device_id in self.seen.silent:
                continue
            last = self.seen.last_seen[device_id]
            message = Message(
                "alert.device_silent",
                device=device_id,
                kind=device.kind.value,
                location=device.location,
                last_seen=last.isoformat(timespec="seconds"),
                interval=f"{device.interval_seconds:g}",
            )
            made = alert(
                AlertType.DEVICE_SILENT,
                Severity.WARNING,
                now,
                device.location,
                message,
                id_parts=(device_id, last.isoformat()),
                device=device_id,
                last_seen=last.isoformat(),
            )
            if await self._raise(made):
                self.seen.silent.add(device_id)
                self._dirty = True
        for device_id in sorted(self.seen.silent - set(silent)):
            device = self.registry.devices.get(device_id)
            if device is not None:
                last = self.seen.last_seen[device_id]
                message = Message("alert.device_back", device=device_id, location=device.location)
                made = alert(
                    AlertType.DEVICE_SILENT,
                    Severity.INFO,
                    now,
                    device.location,
                    message,
                    id_parts=(device_id, last.isoformat(), "back"),
                    device=device_id,
                    back=True,
                )
                if not await self._raise(made):
                    continue
            self.seen.silent.discard(device_id)
            self._dirty = True
        self.persist()

    async def _raise(self, made: Alert) -> bool:
        try:
            await asyncio.to_thread(self.raise_alert, made)
        except Exception:  # the workers are away: tried again at the next check
            log.exception("alert %s not raised", made.alert_id)
            self.counters["alerts_not_raised"] += 1
            return False
        self.counters["alerts"] += 1
        return True

    def persist(self, force: bool = False) -> None:
        if not (self._dirty or force):
            return
        self.seen.counters = dict(self.counters)
        self.seen_file.save(self.seen)
        self._dirty = False


async def run_bridge(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until cancelled (or `stop` is set): reconnects to the MQTT broker when it goes away."""
    import aiomqtt

    stop = stop or asyncio.Event()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=2, **aiokafka_options(settings)
    )
    await producer.start()
    client = WorkerClient(settings.web_url, attempts=3)

    async def send(topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None) -> None:
        await producer.send_and_wait(topic, value, key=key, headers=headers)

    bridge = Bridge(settings, send, client.publish_alert)

    async def watch_health() -> None:
        while not stop.is_set():
            try:
                await bridge.check_health()
            except Exception:  # noqa: BLE001 — a bad registry file must not stop the bridge
                log.exception("device health check failed")
            try:
                await asyncio.wait_for(stop.wait(), settings.device_check_seconds)
            except TimeoutError:
                pass

    health = asyncio.create_task(watch_health())
    backoff = 0.5
    try:
        while not stop.is_set():
            try:
                await _consume(aiomqtt, settings, bridge, stop)
                backoff = 0.5
            except aiomqtt.MqttError as exc:
                log.warning(
                    "MQTT broker %s: %s; connecting again in %.1fs", settings.mqtt_broker_url, exc, backoff
                )
                try:
                    await asyncio.wait_for(stop.wait(), backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, 10.0)
    finally:
        stop.set()
        health.cancel()
        bridge.persist(force=True)
        await producer.stop()


async def _consume(aiomqtt: Any, settings: Settings, bridge: Bridge, stop: asyncio.Event) -> None:
    client = aiomqtt.Client(**mqtt_connection(settings))
    # acknowledged by hand, once Kafka has what the message became (paho's option, under aiomqtt)
    client._client.manual_ack_set(True)  # noqa: SLF001
    async with client:
        await client.subscribe(settings.mqtt_topic_filter, qos=1)
        log.info("subscribed to %s on %s", settings.mqtt_topic_filter, settings.mqtt_broker_url)

        async def take_messages() -> None:
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
                await _handle_until_taken(bridge, str(message.topic), bytes(payload))
                if message.qos > 0:
                    client._client.ack(message.mid, message.qos)  # noqa: SLF001

        taking = asyncio.create_task(take_messages())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait((taking, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            taking.cancel()  # a message taken but not acknowledged comes again on the next session
        if taking.done() and not taking.cancelled() and taking.exception() is not None:
            raise taking.exception()  # type: ignore[misc]


async def _handle_until_taken(bridge: Bridge, topic: str, payload: bytes) -> None:
    """Hand one message to the bridge until Kafka has taken what it became."""
    started = time.monotonic()
    while True:
        try:
            await bridge.handle(topic, payload)
            return
        except Exception:  # Kafka did not take it: not acknowledged, tried again
            log.exception("producing a device message failed; trying again")
            bridge.counters["produce_retries"] += 1
            bridge.counters["in"] -= 1  # the same message, counted once
            await asyncio.sleep(min(5.0, 0.2 + time.monotonic() - started))
