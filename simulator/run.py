"""Running the simulated company: its master data, its history and its live stream into Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from infra.kafka import aiokafka_options
from lake import lake_files
from simulator.company import TZ, Simulation, build_catalog
from simulator.producer import produce
from stockflow.config import Settings
from stockflow.delivery import Delivery, delivery_headers
from stockflow.devices import Device, DeviceKind
from stockflow.masterdata import Catalog
from stockflow.masterdata_changes import Upsert
from stockflow.services.masterdata import change_master_data
from stores.audit_log import AuditLog
from stores.device_registry import DeviceRegistryFile
from stores.masterdata import MasterDataFiles

log = logging.getLogger(__name__)
CALENDAR_DAYS_AHEAD = 365
#: Who the simulated company's master data is recorded as coming from.
SIMULATOR = "simulator"


def prepare_company(settings: Settings) -> Catalog:
    """The simulated company's master data, recorded once as a company's import is (the change
    log in the lake, the audit trail, var/masterdata.json), where the workers read it."""
    store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
    if settings.masterdata_path.exists():
        return store.load()
    built = build_catalog(settings.seed)
    proposals = [
        Upsert(record)
        for record in (
            *built.suppliers.values(),
            *built.locations.values(),
            *built.customers.values(),
            *built.skus.values(),
        )
    ]
    result = change_master_data(
        store, None, AuditLog(settings.var_dir), proposals, SIMULATOR, action="masterdata.imported"
    )
    if not result.ok:  # the simulator's own catalogue breaks a rule: a bug, say which
        raise RuntimeError("; ".join(p.english for p in result.problems[:5]))
    return store.load()


#: How long a simulated cold-chain sensor may be silent before it is alerted (it reports every
#: half hour of simulated time, a few seconds to minutes of wall time in the live stream).
SENSOR_INTERVAL_SECONDS = 900.0


def sensor_id(location: str) -> str:
    """The simulated cold-chain sensor at a location (the id its readings carry)."""
    return f"TS-{location}-1"


def register_simulated_sensors(settings: Settings) -> None:
    """The simulated company's cold-chain sensors in the MQTT device registry (each location's
    one, reporting °C in `value` with its own time in `ts`); those registered already are kept."""
    registry = DeviceRegistryFile(settings.devices_registry_path)
    known = registry.load().devices
    catalog = MasterDataFiles(settings.masterdata_path, settings.lake_dir).load()
    missing = [
        Device(
            device_id=sensor_id(location),
            kind=DeviceKind.TEMPERATURE,
            location=location,
            unit="C",
            interval_seconds=SENSOR_INTERVAL_SECONDS,
            description="simulated cold-chain sensor",
        )
        for location in sorted(catalog.locations)
        if sensor_id(location) not in known
    ]
    if missing:
        registry.register_all(missing)


def simulation_start(settings: Settings, days: int) -> date:
    """First simulated day; remembered in var/ so a restart regenerates the same history."""
    path = settings.var_dir / "simulation.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["seed"] == settings.seed:
            return date.fromisoformat(saved["start"])
    start = datetime.now(TZ).date() - timedelta(days=days)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seed": settings.seed, "start": start.isoformat(), "days": days}))
    return start


def lake_has_events(settings: Settings) -> bool:
    return any(lake_files(settings.lake_dir, t) for t in ("scans", "pos_transactions"))


def run_simulation(
    settings: Settings,
    days: int,
    live: bool,
    rate: float,
    bad_ratio: float,
    produce_history: bool = True,
    stop: threading.Event | None = None,
    on_history: Callable[[int], None] | None = None,
    mqtt: Settings | None = None,
) -> int:
    """Write the simulated history (unless it is already in the lake), then, with `live`, keep
    producing the company's days until `stop` is set; with `mqtt` (the settings naming an MQTT
    broker), the live sensors' readings go there as the devices' own messages (the bridge maps
    them). The history is
    marked as backfilled (`stockflow.delivery`): the KPIs that describe live operation count it
    apart."""
    catalog = prepare_company(settings)
    start = simulation_start(settings, days)
    sim = Simulation(catalog, seed=settings.seed)
    # the company's planning calendar: its history and the year ahead (what forecasting may use)
    last = max(start + timedelta(days=days), datetime.now(TZ).date()) + timedelta(days=CALENDAR_DAYS_AHEAD)
    sim.signal_calendar(start, last).save(settings.signals_path)
    history = sim.history(start, days)
    sent = 0
    if produce_history:
        t0 = time.monotonic()
        sent = asyncio.run(
            produce(
                settings.bootstrap_servers,
                sim.messages(history, bad_ratio),
                stop=stop,
                security=aiokafka_options(settings),
                headers=delivery_headers(Delivery.BACKFILL),
            )
        )
        log.info("history: %d days, %d messages produced in %.1fs", days, sent, time.monotonic() - t0)
    else:
        for _ in history:  # rebuild the simulated world without producing it again
            pass
        log.info("history already in the lake: simulated world rebuilt, not produced again")
    if on_history is not None:
        on_history(sent)  # the messages of history produced (0 when it was in the lake already)
    if live and not (stop is not None and stop.is_set()):
        log.info("live: %.1f events/s", rate)
        sent += asyncio.run(
            produce(
                settings.bootstrap_servers,
                sim.messages(sim.live(start + timedelta(days=days), lambda: datetime.now(TZ)), bad_ratio),
                rate=rate,
                stop=stop,
                security=aiokafka_options(settings),
                mqtt=mqtt,
            )
        )
    return sent
