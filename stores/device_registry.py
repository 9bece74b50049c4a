"""The MQTT device registry in `var/devices.json` and the bridge's record of when it last heard
each device in `var/devices_seen.json` (which the dashboards read).

Both are written whole and atomically under an exclusive lock; the bridge reloads the registry
when the file changes, so `stockflow devices register` takes effect without a restart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.jsonl import exclusive, replace_durably
from stockflow.devices import Device, DeviceRegistry


class DeviceRegistryFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> DeviceRegistry:
        if not self.path.exists():
            return DeviceRegistry()
        return DeviceRegistry.model_validate_json(self.path.read_bytes())

    def stamp(self) -> tuple[int, int] | None:
        """Changes when the file does (mtime, size); None when there is none."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def _save(self, registry: DeviceRegistry) -> None:
        body = registry.model_dump_json(indent=2, exclude_defaults=True).encode("utf-8") + b"\n"
        replace_durably(self.path, body, mode=0o644)

    def register(self, device: Device) -> DeviceRegistry:
        """Add or replace one device (the whole registry is checked again: topics stay unique)."""
        with exclusive(self.path):
            registry = self.load().with_device(device)
            self._save(registry)
        return registry

    def register_all(self, devices: list[Device]) -> DeviceRegistry:
        with exclusive(self.path):
            registry = self.load()
            for device in devices:
                registry = registry.with_device(device)
            self._save(registry)
        return registry

    def remove(self, device_id: str) -> bool:
        with exclusive(self.path):
            registry = self.load()
            if device_id not in registry.devices:
                return False
            self._save(registry.without(device_id))
        return True


@dataclass
class DevicesSeen:
    """When each device was last heard (its own time of arrival at the bridge), which ones are
    silent now (alerted once per silence), and the bridge's counters."""

    last_seen: dict[str, datetime] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> bytes:
        body: dict[str, Any] = {
            "last_seen": {k: v.isoformat() for k, v in sorted(self.last_seen.items())},
            "silent": sorted(self.silent),
            "counters": dict(sorted(self.counters.items())),
        }
        return json.dumps(body, indent=1).encode() + b"\n"


class DevicesSeenFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> DevicesSeen:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return DevicesSeen()
        return DevicesSeen(
            last_seen={k: datetime.fromisoformat(v) for k, v in data.get("last_seen", {}).items()},
            silent=set(data.get("silent", [])),
            counters={k: int(v) for k, v in data.get("counters", {}).items()},
        )

    def save(self, seen: DevicesSeen) -> None:
        with exclusive(self.path):
            replace_durably(self.path, seen.as_json(), mode=0o644)
