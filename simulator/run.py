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
from simulator.factory import FactorySimulation, build_factory_catalog
from simulator.producer import produce
from simulator.restaurant import RestaurantSimulation, build_restaurant_catalog
from stockflow.config import Settings, SimulatedCompany
from stockflow.delivery import Delivery, delivery_headers
from stockflow.devices import Device, DeviceKind
from stockflow.masterdata import Catalog
from stockflow.masterdata_changes import SetBom, SetRecipe, Upsert
from stockflow.services.masterdata import change_master_data
from stores.audit_log import AuditLog
from stores.device_registry import DeviceRegistryFile
from stores.masterdata import MasterDataFiles

log = logging.getLogger(__name__)
CALENDAR_DAYS_AHEAD = 365
#: Who the simulated company's master data is recorded as coming from.
SIMULATOR = "simulator"


#: The simulation's own state in var/: its first day, and which simulated company it plays.
STATE_FILE = "simulation.json"


class CompanyMismatch(RuntimeError):
    """var/ holds another simulated company than the one asked for (`--fresh` starts over)."""

    def __init__(self, held: SimulatedCompany, wanted: SimulatedCompany) -> None:
        super().__init__(f"var/ holds the simulated {held.value} company, not the {wanted.value} one")
        self.held = held
        self.wanted = wanted


def _state(settings: Settings) -> dict:
    path = settings.var_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(settings: Settings, **values: object) -> None:
    path = settings.var_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**_state(settings), **values}))


def simulated_company_in(settings: Settings) -> SimulatedCompany | None:
    """The simulated company var/ holds (None before the first start). The restaurant brand and
    the factory say so in var/simulation.json before they record their master data; master
    data without it is the retail company's (a var/ from before there was a choice)."""
    state = _state(settings)
    if "company" in state:
        return SimulatedCompany(state["company"])
    if state or settings.masterdata_path.exists():
        return SimulatedCompany.RETAIL
    return None


def choose_company(
    settings: Settings, asked: SimulatedCompany | None = None, fresh: bool = False
) -> Settings:
    """The settings with the simulated company to play: `asked` (a command's --company), else
    STOCKFLOW_SIMULATED_COMPANY when it is set, else the one var/ holds, else retail. Raises
    `CompanyMismatch` when var/ holds another one than the one asked for or set (unless it is
    about to be wiped: `fresh`)."""
    held = None if fresh else simulated_company_in(settings)
    if asked is None and "simulated_company" not in settings.model_fields_set:
        asked = held
    wanted = SimulatedCompany(asked or settings.simulated_company)
    if held is not None and held is not wanted:
        raise CompanyMismatch(held, wanted)
    return settings.model_copy(update={"simulated_company": wanted})


def company_catalog(settings: Settings) -> Catalog:
    """The master data of the simulated company the settings name."""
    if settings.simulated_company is SimulatedCompany.RESTAURANT:
        return build_restaurant_catalog(settings.seed)
    if settings.simulated_company is SimulatedCompany.FACTORY:
        return build_factory_catalog(settings.seed)
    return build_catalog(settings.seed)


def company_simulation(settings: Settings, catalog: Catalog) -> Simulation:
    """The simulated company the settings name, over its master data."""
    if settings.simulated_company is SimulatedCompany.RESTAURANT:
        return RestaurantSimulation(catalog, seed=settings.seed)
    if settings.simulated_company is SimulatedCompany.FACTORY:
        return FactorySimulation(catalog, seed=settings.seed)
    return Simulation(catalog, seed=settings.seed)


def prepare_company(settings: Settings) -> Catalog:
    """The simulated company's master data, recorded once as a company's import is (the change
    log in the lake, the audit trail, var/masterdata.json), where the workers read it; the
    restaurant brand's recipes and the factory's bills of materials with it. Raises
    `CompanyMismatch` when var/ holds the other simulated company."""
    held = simulated_company_in(settings)
    if held is not None and held is not settings.simulated_company:
        raise CompanyMismatch(held, settings.simulated_company)
    store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
    if settings.masterdata_path.exists():
        return store.load()
    if settings.simulated_company is not SimulatedCompany.RETAIL:
        _save_state(settings, company=settings.simulated_company.value)  # before its master data
    built = company_catalog(settings)
    today = datetime.now(TZ).date()
    proposals = [
        Upsert(record)
        for record in (
            *built.suppliers.values(),
            *built.locations.values(),
            *built.customers.values(),
            *built.skus.values(),
        )
    ]
    proposals += [SetRecipe(recipe, today) for _key, recipe in sorted(built.recipes.items())]
    proposals += [SetBom(bom, today) for _key, bom in sorted(built.boms.items())]
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
    """First simulated day; remembered in var/ so a restart regenerates the same history (with
    the simulated company it plays, unless that is the retail one)."""
    saved = _state(settings)
    if saved.get("seed") == settings.seed and "start" in saved:
        return date.fromisoformat(saved["start"])
    start = datetime.now(TZ).date() - timedelta(days=days)
    state: dict[str, object] = {"seed": settings.seed, "start": start.isoformat(), "days": days}
    if settings.simulated_company is not SimulatedCompany.RETAIL:
        state["company"] = settings.simulated_company.value
    path = settings.var_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))
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
    sim = company_simulation(settings, catalog)
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
