"""Devices: every registered MQTT device, its kind and location, when it was last heard, and
whether it is silent (longer than its interval), with the bridge's counts."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboards import ui
from stockflow.devices import silent_devices
from stockflow.masking import Area
from stores.device_registry import DeviceRegistryFile, DevicesSeenFile

ui.require(Area.DEVICES)
t = ui.translator()
settings = ui.settings()
st.title(t("page.devices"))
registry = DeviceRegistryFile(settings.devices_registry_path).load()
if not registry.devices:
    st.info(t("devices.none"))
    st.stop()
seen = DevicesSeenFile(settings.devices_seen_path).load()
silent = {d.device_id for d in silent_devices(registry, seen.last_seen, datetime.now(UTC))}
never = [d for d in registry.devices if d not in seen.last_seen]

left, middle, right = st.columns(3)
left.metric(t("devices.registered"), t.number(len(registry.devices)))
middle.metric(t("devices.silent"), t.number(len(silent)))
right.metric(t("devices.never_seen"), t.number(len(never)))


def last_seen(device_id: str) -> str:
    at = seen.last_seen.get(device_id)
    return at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S") if at else t("devices.never")


rows = pd.DataFrame(
    [
        {
            "device_id": d.device_id,
            "device_kind": d.kind.value,
            "location": d.location,
            "topic": d.mqtt_topic,
            "interval_seconds": d.interval_seconds,
            "last_seen": last_seen(d.device_id),
            "silent": t("devices.silent_now") if d.device_id in silent else "",
        }
        for d in sorted(registry.devices.values(), key=lambda d: (d.device_id not in silent, d.device_id))
    ]
)
rows["device_kind"] = rows["device_kind"].map(lambda v: t.word("device_kind", v))
ui.table(rows.rename(columns={"device_kind": "kind"}), hide_index=True, width="stretch")
counts = seen.counters
st.caption(
    t(
        "devices.caption",
        messages=t.number(counts.get("in", 0)),
        produced=t.number(counts.get("produced", 0)),
        duplicates=t.number(counts.get("duplicates", 0)),
        dead_lettered=t.number(counts.get("dead_lettered", 0)),
    )
)
