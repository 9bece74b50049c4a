"""A deterministic virtual company: master data and a stream of its business events.

Given a seed, `build_catalog` makes a few hundred SKUs with valid GTINs (chilled food with
expiry and a cold chain, dry goods, electronics), warehouses and stores with coordinates,
suppliers and customers. `Simulation` then plays the company day by day: POS sales with
weekly seasonality, holidays, promotions and weather; store replenishment by transfer from
the warehouses; purchase orders received after the supplier's lead time; B2B orders reserved
and picked; returns; cycle counts with occasional shrinkage; damage; cold-chain sensors with
occasional excursions; a dock camera that inspects every pallet a warehouse receives (each
supplier damages pallets at its own rate, a few far more often), and a quality check that
scraps the damaged cartons and releases the rest three hours later; an excursion long enough
holds the chilled batches on hand (as the stream does) and quality releases them once the
room is back in range; chilled deliveries carry their data logger's curve. It keeps its own `Ledger` (in a `StockProcessor`, with the stream's
excursion holds) as "physical reality", so it sells only what is on the shelf.

`Simulation.messages()` turns events into wire messages and can mix in bad ones (malformed
JSON, unknown SKU, invalid GTIN, duplicates, out-of-order) in a chosen proportion.
Pure: no I/O, no clock; the caller decides where messages go.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from biip.checksums import gs1_standard_check_digit

from stockflow.config import get_settings
from stockflow.events import (
    CurveReading,
    CycleCount,
    GoodsReceipt,
    HoldAction,
    InspectionVerdict,
    PalletInspected,
    PosLine,
    PosReturn,
    PosSale,
    PurchaseOrder,
    QualityHold,
    SalesChannel,
    SalesIssue,
    StockAdjustment,
    StockReservation,
    TemperatureCurve,
    TemperatureReading,
    TransferIn,
    TransferOut,
    encode_event,
)
from stockflow.inspection import verdict_for
from stockflow.ledger import Ledger, Movement, PositionKey, StockRejected
from stockflow.masterdata import (
    Catalog,
    Category,
    Customer,
    Location,
    LocationKind,
    NegativeStockPolicy,
    Sku,
    Supplier,
)
from stockflow.processing import StockProcessor
from stockflow.replenishment import HOLIDAY_DEMAND
from stockflow.signals import DaySignal, Promotion, SignalCalendar

TZ = get_settings().tz  # the company's time zone
_CENT = Decimal("0.01")

_CITIES = [  # (name, lat, lon)
    ("Shanghai", 31.2304, 121.4737),
    ("Hangzhou", 30.2741, 120.1551),
    ("Suzhou", 31.2989, 120.5853),
    ("Jiaxing", 30.7461, 120.7555),
    ("Kunshan", 31.3856, 120.9808),
    ("Ningbo", 29.8683, 121.5440),
]
_PRODUCTS = {
    Category.CHILLED_FOOD: ["鲜牛奶", "酸奶", "豆浆", "鸡胸肉", "三文鱼", "豆腐", "鲜面条", "沙拉"],
    Category.DRY_GOODS: [
        "大米",
        "面粉",
        "食用油",
        "酱油",
        "挂面",
        "饼干",
        "矿泉水",
        "茶叶",
        "咖啡豆",
        "纸巾",
    ],
    Category.ELECTRONICS: ["耳机", "充电器", "数据线", "移动电源", "蓝牙音箱", "鼠标"],
}
# Public holidays the simulated calendar knows (month, day) → demand factor.
_WEEKDAY = [0.85, 0.8, 0.85, 0.9, 1.1, 1.45, 1.35]  # Monday..Sunday
#: The channels a shop's tickets come through (a restaurant brand adds group meals).
_SHOP_CHANNELS = [SalesChannel.DINE_IN, SalesChannel.TAKEOUT, SalesChannel.DELIVERY, SalesChannel.RETAIL]
# How many SKU draws a till ticket makes, and how many units each draw adds.
_TICKET_LINES = (1, 1, 1, 2, 2, 3, 4)
_LINE_UNITS = (1, 1, 1, 2)
_LINES_PER_TICKET = sum(_TICKET_LINES) / len(_TICKET_LINES)
_UNITS_PER_LINE = sum(_LINE_UNITS) / len(_LINE_UNITS)


def make_gtin(company: int, item: int) -> str:
    """A valid GTIN-13 under the China GS1 prefix 690."""
    payload = f"690{company:04d}{item:05d}"
    return payload + str(gs1_standard_check_digit(payload))


def build_catalog(seed: int = 7, n_skus: int = 300, n_stores: int = 6, n_warehouses: int = 2) -> Catalog:
    rng = random.Random(seed)
    suppliers = [
        Supplier(
            supplier=f"SUP{i:02d}",
            name=f"供应商 {i:02d}",
            lead_time_days=rng.randint(1, 5),
            phone=_phone(rng),
        )
        for i in range(1, 9)
    ]
    customers = [
        Customer(customer=f"CUS{i:03d}", name=f"客户 {i:03d}", phone=_phone(rng), id_number=_id_number(rng))
        for i in range(1, 31)
    ]

    def place(i: int, kind: LocationKind, code: str, name: str, spread: float) -> Location:
        city, lat, lon = _CITIES[i % len(_CITIES)]
        return Location(
            location=code,
            name=name.format(city=city),
            kind=kind,
            latitude=round(lat + rng.uniform(-spread, spread), 5),
            longitude=round(lon + rng.uniform(-spread, spread), 5),
            city=city,
            # The distribution centres and the stores keep separate books (独立核算).
            accounting_unit="DIST" if kind is LocationKind.WAREHOUSE else "RETAIL",
        )

    locations = [
        place(i, LocationKind.WAREHOUSE, f"WH{i + 1}", "{city} DC", 0.05) for i in range(n_warehouses)
    ]
    locations += [
        place(i, LocationKind.STORE, f"ST{i + 1:02d}", f"{{city}} store {i + 1}", 0.08)
        for i in range(n_stores)
    ]
    skus = []
    weights = [(Category.CHILLED_FOOD, 0.3), (Category.DRY_GOODS, 0.5), (Category.ELECTRONICS, 0.2)]
    for i in range(n_skus):
        category = rng.choices([c for c, _ in weights], [w for _, w in weights])[0]
        product = rng.choice(_PRODUCTS[category])
        code = f"{category.value[:3].upper()}-{i + 1:04d}"
        if category is Category.CHILLED_FOOD:
            extra = dict(
                packs={"case": rng.choice([6, 12])},
                shelf_life_days=rng.randint(6, 21),
                batch_managed=True,
                cold_chain_min_c=0.0,
                cold_chain_max_c=rng.choice([4.0, 6.0]),
                negative_stock=NegativeStockPolicy.REJECT,
                standard_cost=Decimal(rng.randint(300, 4000)) / 100,
            )
        elif category is Category.DRY_GOODS:
            extra = dict(
                packs={"case": rng.choice([12, 24])},
                shelf_life_days=rng.randint(180, 720),
                batch_managed=rng.random() < 0.6,
                negative_stock=NegativeStockPolicy.ALLOW_AND_FLAG,
                standard_cost=Decimal(rng.randint(200, 8000)) / 100,
            )
        else:
            extra = dict(
                packs={"case": rng.choice([5, 10])},
                negative_stock=NegativeStockPolicy.REJECT,
                standard_cost=Decimal(rng.randint(2000, 30000)) / 100,
            )
        skus.append(
            Sku(
                sku=code,
                gtin=make_gtin(1000 + i % 97, i + 1),
                name=f"{product} {i + 1}",
                category=category,
                reorder_point=rng.randint(4, 16),
                vat_rate=Decimal("0.09") if category is Category.CHILLED_FOOD else Decimal("0.13"),
                **extra,
            )
        )
    # Purchasing terms from a generator of their own, so the rest of the catalogue stays as it was.
    terms = random.Random(seed * 7919 + 1)
    skus = [
        s.model_copy(
            update={
                "wholesale_price": (s.standard_cost * Decimal("1.25")).quantize(_CENT),
                "supplier": terms.choice(suppliers).supplier,
                "moq": (s.min_pack_units or 1) * terms.choice([1, 2, 4]),
            }
        )
        for s in skus
    ]
    return Catalog.build(skus, locations, suppliers, customers)


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice([3, 5, 8])}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"


def _id_number(rng: random.Random) -> str:
    return f"3101{rng.randint(10, 99)}19{rng.randint(60, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(1000, 9999)}"


class MessageKind(StrEnum):
    OK = "ok"
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_SKU = "unknown_sku"
    INVALID_GTIN = "invalid_gtin"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One message for the broker: topic, key (the owning location) and JSON bytes."""

    topic: str
    key: str
    value: bytes
    kind: MessageKind = MessageKind.OK
    event_id: str = ""

    @property
    def is_bad(self) -> bool:
        """Bad input that must end in dead letters (duplicates and late events are valid)."""
        return self.kind in (MessageKind.MALFORMED_JSON, MessageKind.UNKNOWN_SKU, MessageKind.INVALID_GTIN)


@dataclass(frozen=True, slots=True)
class DaySignals:
    """Known drivers of a day's demand (also what forecasting may use)."""

    day: date
    holiday_factor: float
    weekday_factor: float
    temperature_c: float
    promoted_skus: frozenset[str]


@dataclass
class Simulation:
    catalog: Catalog
    seed: int = 7
    demand_scale: float = 1.0
    #: Whether excursions hold the batches on hand in its own books (None: the settings', as the stream).
    excursion_holds: bool | None = None
    ledger: Ledger = field(init=False)
    rng: random.Random = field(init=False)
    _seq: dict[str, int] = field(default_factory=dict, init=False)
    _ids: int = field(default=0, init=False)
    _pending_receipts: list[tuple[datetime, GoodsReceipt]] = field(default_factory=list, init=False)
    _pending_transfers: list[tuple[datetime, TransferIn]] = field(default_factory=list, init=False)
    _open_orders: list[tuple[date, StockReservation]] = field(default_factory=list, init=False)
    _on_order: dict[tuple[str, str], int] = field(default_factory=dict, init=False)
    _planned: int = field(default=0, init=False)
    _today_queue: tuple[date, list] = field(default=(date.min, []), init=False)
    #: What the last event applied did (`_apply`), and the batches an excursion holds per location.
    _last_movements: tuple[Movement, ...] = field(default=(), init=False)
    _excursion_held: dict[str, list[Movement]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._start_books()
        self.rng = random.Random(self.seed * 7919 + 1)
        self.stores = [loc for loc in self.catalog.locations.values() if loc.kind is LocationKind.STORE]
        self.warehouses = [
            loc for loc in self.catalog.locations.values() if loc.kind is LocationKind.WAREHOUSE
        ]
        self.docks = frozenset(wh.location for wh in self.warehouses)  # where pallets are inspected
        self.skus = list(self.catalog.skus.values())
        rng = random.Random(self.seed)
        # Each store carries a subset of the range; each SKU has a popularity.
        self.popularity = {s.sku: rng.lognormvariate(0, 0.8) for s in self.skus}
        self.price = {
            s.sku: (s.standard_cost * Decimal(str(rng.uniform(1.3, 1.8)))).quantize(_CENT) for s in self.skus
        }
        self.assortment = {
            st.location: sorted(rng.sample([s.sku for s in self.skus], k=min(len(self.skus), 120)))
            for st in self.stores
        }
        self.store_size = {st.location: rng.uniform(0.7, 1.4) for st in self.stores}
        self.home_warehouse = {
            st.location: min(self.warehouses, key=lambda w: w.distance_km(st)).location for st in self.stores
        }
        first_supplier = min(self.catalog.suppliers, default="")
        self.supplier_of = {s.sku: s.supplier or first_supplier for s in self.skus}
        # Pallet damage per supplier: most ship 1–5% of pallets damaged, a quarter of them far more.
        rng = random.Random(f"suppliers:{self.seed}")
        names = sorted(self.catalog.suppliers)
        careless = set(rng.sample(names, k=max(1, len(names) // 4))) if names else set()
        self.pallet_damage = {
            name: rng.uniform(0.15, 0.3) if name in careless else rng.uniform(0.01, 0.05) for name in names
        }

    # ----------------------------------------------------------------- helpers
    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self.seed}-{self._ids:08d}"

    def _seq_of(self, source: str) -> int:
        self._seq[source] = self._seq.get(source, 0) + 1
        return self._seq[source]

    def _common(self, prefix: str, when: datetime, source: str) -> dict:
        return {
            "event_id": self._next_id(prefix),
            "occurred_at": when,
            "source": source,
        }

    def signals(self, day: date) -> DaySignals:
        rng = random.Random(hash((self.seed, day.toordinal())) & 0xFFFFFFFF)
        doy = day.timetuple().tm_yday
        temperature = 17 + 12 * math.sin((doy - 105) / 365 * 2 * math.pi) + rng.gauss(0, 3)
        promoted = frozenset(rng.sample([s.sku for s in self.skus], k=max(1, len(self.skus) // 25)))
        return DaySignals(
            day,
            HOLIDAY_DEMAND.get((day.month, day.day), 1.0),
            _WEEKDAY[day.weekday()],
            round(temperature, 1),
            promoted,
        )

    def signal_calendar(self, first: date, last: date) -> SignalCalendar:
        """The company's planning calendar from `first` to `last`: the holiday factors, the
        temperature (what a weather forecast would say) and the promotions `signals` drives the
        simulated demand with, each promotion one day in every store."""
        days, promotions = [], []
        day = first
        while day <= last:
            sig = self.signals(day)
            days.append(
                DaySignal(day=day, holiday_factor=sig.holiday_factor, temperature_c=sig.temperature_c)
            )
            promotions += [Promotion(sku=s, first_day=day, last_day=day) for s in sorted(sig.promoted_skus)]
            day += timedelta(days=1)
        return SignalCalendar(days=days, promotions=promotions)

    def _stock(self, location: str, sku: str) -> int:
        return sum(p.on_hand - p.quarantined for p in self.ledger.batches_at(location, sku).values())

    def _refused(self, event: object, exc: StockRejected) -> None:
        """A refusal of one of the simulator's own events (the retail company's may be refused
        for want of stock: nothing to remember)."""

    def _start_books(self) -> None:
        """The company's own stock, kept as the stream keeps it (the ledger, and the holds a
        temperature excursion puts on the batches on hand)."""
        settings = get_settings()
        self.processor = StockProcessor(
            self.catalog, excursion_minutes=settings.excursion_minutes, excursion_holds=self.excursion_holds
        )
        self.ledger = self.processor.ledger

    def _apply(self, event, out: list) -> bool:
        try:
            result = self.processor.process(event)
        except StockRejected as exc:
            self._refused(event, exc)
            return False  # never sent: no running number used up
        self._last_movements = result.movements
        for follow in result.follow_ups:
            self.processor.process(follow)
        # a device numbers the documents it sends, in the order it sends them
        out.append(event.model_copy(update={"source_seq": self._seq_of(event.source)}))
        return True

    # ----------------------------------------------------------------- the day
    def opening_stock(self, day: date) -> list:
        """Receipts that fill every warehouse and store before the first simulated day."""
        events: list = []
        when = datetime.combine(day, time(5, 0), TZ)
        for loc in [*self.warehouses, *self.stores]:
            carried = (
                self.assortment[loc.location]
                if loc.kind is LocationKind.STORE
                else [s.sku for s in self.skus]
            )
            for code in carried:
                sku = self.catalog.skus[code]
                qty = sku.reorder_point * (12 if loc.kind is LocationKind.WAREHOUSE else 3)
                events.append(self._receipt(loc.location, sku, qty, when, f"OPEN-{loc.location}"))
        applied: list = []
        for ev in events:
            self._apply(ev, applied)
        return applied

    def _curve(self, sku: Sku, start: datetime, end: datetime, key: str) -> TemperatureCurve | None:
        """The data logger's curve of a cold-chain delivery: a reading every 10 minutes from
        `start` to `end`, inside the SKU's range (the simulated trucks keep their cold chain).
        Drawn from its own generator seeded by `key`, so the day's other draws are unchanged."""
        if not sku.is_cold_chain:
            return None
        assert sku.cold_chain_min_c is not None and sku.cold_chain_max_c is not None
        rng = random.Random(zlib.crc32(f"{self.seed}:{key}".encode()))
        low, high = sku.cold_chain_min_c + 0.3, sku.cold_chain_max_c - 0.3
        middle = (low + high) / 2
        readings = []
        at = start
        while True:
            celsius = min(max(rng.gauss(middle, (high - low) / 6), low), high)
            readings.append(CurveReading(at=at, celsius=round(celsius, 2)))
            if at >= end:
                break
            at = min(at + timedelta(minutes=10), end)
        return TemperatureCurve(logger=f"LOG-{zlib.crc32(key.encode()) % 1000:03d}", readings=readings)

    def _receipt(self, location: str, sku: Sku, qty: int, when: datetime, po: str) -> GoodsReceipt:
        batch = expiry = None
        if sku.batch_managed:
            batch = f"L{when:%y%m%d}{self.rng.randint(100, 999)}"
            expiry = when.date() + timedelta(days=sku.shelf_life_days or 365)
        case = sku.packs.get("case", 1)
        cases, loose = divmod(qty, case)
        unit, amount = ("case", Decimal(cases)) if cases and not loose else ("each", Decimal(qty))
        common = self._common("GR", when, f"RF-{location}")
        return GoodsReceipt(
            **common,
            temperature_curve=self._curve(sku, when - timedelta(hours=3), when, common["event_id"]),
            location=location,
            purchase_order=po,
            supplier=self.supplier_of[sku.sku],
            sku=sku.sku,
            gtin=sku.gtin,
            batch=batch,
            expiry_date=expiry,
            qty=amount,
            unit=unit,
            unit_cost=(
                sku.standard_cost
                * (case if unit == "case" else 1)
                * Decimal(str(self.rng.uniform(0.95, 1.05)))
            ).quantize(_CENT),
        )

    def day(self, day: date) -> list:
        """All events of one simulated day, in time order, already applied to the sim's ledger."""
        sig = self.signals(day)
        rng = self.rng
        planned: list[tuple[datetime, int, object]] = []

        def plan(when: datetime, make) -> None:
            self._planned += 1
            planned.append((when, self._planned, make))

        # Deliveries due today (POs and transfers placed earlier).
        for due, ev in [p for p in self._pending_receipts if p[0].date() <= day]:
            self._pending_receipts.remove((due, ev))
            plan(max(due, datetime.combine(day, time(6, 0), TZ)), ev)
        for due, ev in [p for p in self._pending_transfers if p[0].date() <= day]:
            self._pending_transfers.remove((due, ev))
            plan(max(due, datetime.combine(day, time(6, 30), TZ)), ev)
        # Store replenishment at 06:00 from the home warehouse.
        for st in self.stores:
            for code in self.assortment[st.location]:
                sku = self.catalog.skus[code]
                have = self._stock(st.location, code) + self._in_transit(st.location, code)
                if have < sku.reorder_point * 2:
                    qty = sku.reorder_point * 3 - have
                    plan(datetime.combine(day, time(6, 0), TZ), ("replenish", st.location, code, qty))
        # POS tickets through opening hours.
        for st in self.stores:
            lam = (
                180
                * self.store_size[st.location]
                * sig.weekday_factor
                * sig.holiday_factor
                * self.demand_scale
            )
            for _ in range(_poisson(rng, lam)):
                minute = rng.triangular(0, 14 * 60, 10 * 60)
                when = datetime.combine(day, time(8, 0), TZ) + timedelta(
                    minutes=minute, seconds=rng.randint(0, 59)
                )
                plan(when, ("sale", st.location, sig))
        # B2B orders: reserve at the warehouse today, pick tomorrow.
        for wh in self.warehouses:
            for _ in range(_poisson(rng, 3)):
                when = datetime.combine(day, time(9, 0), TZ) + timedelta(minutes=rng.randint(0, 480))
                plan(when, ("b2b", wh.location))
        for due, res in [o for o in self._open_orders if o[0] <= day]:
            self._open_orders.remove((due, res))
            plan(
                datetime.combine(day, time(10, 0), TZ) + timedelta(minutes=rng.randint(0, 300)), ("pick", res)
            )
        # Counts, damage, returns, purchase orders (evening), temperature readings.
        for _ in range(12):
            loc = rng.choice([*self.stores, *self.warehouses])
            plan(
                datetime.combine(day, time(21, 30), TZ) + timedelta(minutes=rng.randint(0, 60)),
                ("count", loc.location),
            )
        for _ in range(_poisson(rng, 2)):
            loc = rng.choice(self.stores)
            plan(
                datetime.combine(day, time(12, 0), TZ) + timedelta(minutes=rng.randint(0, 400)),
                ("damage", loc.location),
            )
        plan(datetime.combine(day, time(20, 0), TZ), ("purchase",))
        plan(datetime.combine(day, time(23, 0), TZ), ("expire",))
        for loc in [*self.warehouses, *self.stores]:
            excursion = None
            if rng.random() < 0.06:
                start = rng.randint(0, 40)
                excursion = (start, start + rng.randint(2, 6))
            for slot in range(48):
                when = datetime.combine(day, time(0, 0), TZ) + timedelta(
                    minutes=30 * slot, seconds=rng.randint(0, 20)
                )
                hot = excursion is not None and excursion[0] <= slot < excursion[1]
                plan(when, ("temp", loc.location, hot))

        heapq.heapify(planned)
        out: list = []
        self._today_queue = (day, planned)
        while planned:
            when, _, what = heapq.heappop(planned)
            if not isinstance(what, tuple):
                if self._apply(what, out) and isinstance(what, GoodsReceipt) and what.location in self.docks:
                    self._plan_inspection(when, what, planned)
                continue
            kind = what[0]
            if kind == "quality_check":
                self._quality_check(when, what[1], out)
            elif kind == "replenish":
                self._replenish(when, *what[1:], out=out)
            elif kind == "sale":
                self._sale(when, what[1], what[2], out)
            elif kind == "b2b":
                self._b2b(when, what[1], day, out)
            elif kind == "pick":
                self._pick(when, what[1], out)
            elif kind == "count":
                self._count(when, what[1], out)
            elif kind == "damage":
                self._damage(when, what[1], out)
            elif kind == "purchase":
                self._purchase(when, out)
            elif kind == "expire":
                self._expire(when, out)
            elif kind == "temp":
                self._temperature(when, what[1], what[2], out)
        return out

    def _plan_inspection(self, received: datetime, receipt: GoodsReceipt, planned: list) -> None:
        """The dock camera's look at a received pallet (ten minutes after the receipt) and,
        unless it was accepted, the quality check three hours later. Drawn from a generator of
        its own, keyed by the receipt, so the rest of the company plays out as before."""
        rng = random.Random(f"dock:{self.seed}:{receipt.event_id}")
        sku = self.catalog.skus[receipt.sku]
        case = sku.packs.get("case", 1)
        units = int(receipt.qty) * (case if receipt.unit == "case" else 1)
        cartons = max(1, min(48, math.ceil(units / case)))
        per_layer = rng.choice([4, 6, 8])
        damaged = 0
        if rng.random() < self.pallet_damage.get(receipt.supplier, 0.05):
            damaged = rng.randint(1, min(3, cartons))
        mixed = rng.random() < 0.02
        verdict = verdict_for(damaged > 0, mixed or rng.random() < 0.04)
        confidence = rng.uniform(*_CAMERA_CONFIDENCE[verdict])
        inspection = PalletInspected(
            event_id=f"INS-{receipt.event_id}",
            occurred_at=received + timedelta(minutes=10),
            source=f"DOCK-{receipt.location}",
            location=receipt.location,
            inspection_id=f"INS-{receipt.event_id}",
            supplier=receipt.supplier,
            purchase_order=receipt.purchase_order,
            sku=receipt.sku,
            batch=receipt.batch,
            cartons=cartons,
            layers=math.ceil(cartons / per_layer),
            damaged_cartons=damaged,
            mixed_goods=mixed,
            confidence=round(confidence, 4),
            verdict=verdict,
        )
        self._planned += 1
        heapq.heappush(planned, (inspection.occurred_at, self._planned, inspection))
        if verdict is not InspectionVerdict.ACCEPT:
            self._planned += 1
            heapq.heappush(
                planned, (received + timedelta(hours=3), self._planned, ("quality_check", inspection))
            )

    def _quality_check(self, when: datetime, inspection: PalletInspected, out: list) -> None:
        """A person looks at the held pallet: the damaged cartons are scrapped (as far as the
        quarantine still holds them), the rest released."""
        sku = self.catalog.skus[inspection.sku]
        held = sum(
            p.quarantined
            for batch, p in self.ledger.batches_at(inspection.location, sku.sku).items()
            if batch == inspection.batch or not sku.batch_managed  # without batches: the SKU's stock
        )
        common = {
            "occurred_at": when,
            "source": f"QA-{inspection.location}",
            "location": inspection.location,
            "sku": inspection.sku,
            "batch": inspection.batch,
        }
        scrap = min(held, inspection.damaged_cartons * sku.packs.get("case", 1))
        if scrap > 0:
            self._apply(
                QualityHold(
                    event_id=f"QS-{inspection.event_id}",
                    action=HoldAction.SCRAP,
                    qty=Decimal(scrap),
                    reason=f"{inspection.damaged_cartons} damaged carton(s) found by {inspection.inspection_id}",
                    **common,
                ),
                out,
            )
        if held > scrap:
            self._apply(
                QualityHold(
                    event_id=f"QR-{inspection.event_id}",
                    action=HoldAction.RELEASE,
                    reason=f"checked after {inspection.inspection_id}: the rest is sound",
                    **common,
                ),
                out,
            )

    def _in_transit(self, location: str, sku: str) -> int:
        return sum(p.in_transit for p in self.ledger.batches_at(location, sku).values())

    def _replenish(self, when: datetime, store: str, code: str, qty: int, out: list) -> None:
        wh = self.home_warehouse[store]
        qty = min(qty, self._stock(wh, code))
        if qty <= 0:
            return
        transfer_id = self._next_id("TR")
        common = {"transfer_id": transfer_id, "from_location": wh, "to_location": store, "sku": code}
        sku = self.catalog.skus[code]
        # Dispatch batch by batch (the scanner reads each pallet's batch label).
        remaining = qty
        for batch in sorted(
            self.ledger.batches_at(wh, code),
            key=lambda b: (self.ledger.batch_expiry(wh, code, b) or date.max, b),
        ):
            pos = self.ledger.position(PositionKey(wh, code, batch))
            take = min(remaining, pos.on_hand - pos.quarantined - pos.reserved)
            if take <= 0:
                continue
            out_ev = TransferOut(
                **self._common("TO", when, f"RF-{wh}"),
                **common,
                gtin=sku.gtin,
                batch=batch or None,
                qty=Decimal(take),
            )
            if self._apply(out_ev, out):
                arrive = when + timedelta(hours=self.rng.uniform(2, 5))
                arriving = self._common("TI", arrive, f"RF-{store}")
                arrival = TransferIn(
                    **arriving,
                    temperature_curve=self._curve(sku, when, arrive, arriving["event_id"]),
                    **common,
                    gtin=sku.gtin,
                    batch=batch or None,
                    qty=Decimal(take),
                )
                today, queue = self._today_queue
                if arrive.date() == today:
                    self._planned += 1
                    heapq.heappush(queue, (arrive, self._planned, arrival))
                else:
                    self._pending_transfers.append((arrive, arrival))
                remaining -= take
            if remaining <= 0:
                break

    def _sale(self, when: datetime, store: str, sig: DaySignals, out: list) -> None:
        rng = self.rng
        codes = self.assortment[store]
        weights = [
            self.popularity[c]
            * (1.8 if c in sig.promoted_skus else 1.0)
            * (1.0 + 0.02 * (sig.temperature_c - 18) if self.catalog.skus[c].is_cold_chain else 1.0)
            for c in codes
        ]
        lines: dict[str, int] = {}
        for code in rng.choices(codes, weights, k=rng.choice(_TICKET_LINES)):
            lines[code] = lines.get(code, 0) + rng.choice(_LINE_UNITS)
        sale_lines = []
        for code, qty in lines.items():
            sku = self.catalog.skus[code]
            available = self._stock(store, code)
            if sku.negative_stock is NegativeStockPolicy.REJECT:
                qty = min(qty, available)
            elif available <= 0 and rng.random() < 0.9:
                qty = 0  # mostly a lost sale; now and then the till sells what the books lack
            if qty > 0:
                price = self.price[code] * (Decimal("0.85") if code in sig.promoted_skus else 1)
                sale_lines.append(
                    PosLine(sku=code, gtin=sku.gtin, qty=Decimal(qty), unit_price=price.quantize(_CENT))
                )
        if not sale_lines:
            return
        channel = rng.choices(_SHOP_CHANNELS, [0.15, 0.2, 0.25, 0.4])[0]
        ticket = PosSale(
            **self._common("POS", when, f"POS-{store}-1"),
            store=store,
            ticket=self._next_id("T"),
            channel=channel,
            customer=rng.choice(list(self.catalog.customers)) if rng.random() < 0.1 else None,
            lines=sale_lines,
        )
        if self._apply(ticket, out) and rng.random() < 0.01:
            line = ticket.lines[0]
            back = PosReturn(
                **self._common("RET", when + timedelta(minutes=rng.randint(5, 90)), f"POS-{store}-1"),
                store=store,
                ticket=self._next_id("T"),
                original_ticket=ticket.ticket,
                channel=ticket.channel,
                lines=[PosLine(sku=line.sku, gtin=line.gtin, qty=Decimal(1), unit_price=line.unit_price)],
            )
            self._apply(back, out)

    def _b2b(self, when: datetime, wh: str, day: date, out: list) -> None:
        code = self.rng.choice([s.sku for s in self.skus if s.category != Category.CHILLED_FOOD])
        free = sum(p.unrestricted for p in self.ledger.batches_at(wh, code).values())
        qty = min(free, self.rng.randint(5, 40))
        if qty <= 0:
            return
        res = StockReservation(
            **self._common("RES", when, "ERP"),
            location=wh,
            sales_order=self._next_id("SO"),
            sku=code,
            qty=Decimal(qty),
        )
        if self._apply(res, out):
            self._open_orders.append((day + timedelta(days=1), res))

    def _pick(self, when: datetime, res: StockReservation, out: list) -> None:
        sku = self.catalog.skus[res.sku]
        self._apply(
            SalesIssue(
                **self._common("SI", when, f"RF-{res.location}"),
                location=res.location,
                sales_order=res.sales_order,
                customer=self.rng.choice(list(self.catalog.customers)),
                sku=res.sku,
                gtin=sku.gtin,
                qty=res.qty,
            ),
            out,
        )

    def _count(self, when: datetime, location: str, out: list) -> None:
        skus = self.ledger.skus_at(location)
        if not skus:
            return
        code = self.rng.choice(sorted(skus))
        batch = self.rng.choice(sorted(skus[code]))
        book = self.ledger.position(PositionKey(location, code, batch)).on_hand
        counted = book
        if self.rng.random() < 0.15:
            counted = max(0, book - self.rng.randint(1, 3))  # shrinkage
        count = CycleCount(
            **self._common("CC", when, f"RF-{location}"),
            location=location,
            count_id=self._next_id("CNT"),
            sku=code,
            batch=batch or None,
            counted_qty=Decimal(max(counted, 0)),
        )
        self._apply(count, out)  # its difference is booked by the reconciliation

    def _damage(self, when: datetime, location: str, out: list) -> None:
        skus = self.ledger.skus_at(location)
        candidates = sorted((c, b) for c, bs in skus.items() for b, p in bs.items() if p.unrestricted > 0)
        if not candidates:
            return
        code, batch = self.rng.choice(candidates)
        self._apply(
            StockAdjustment(
                **self._common("ADJ", when, f"RF-{location}"),
                location=location,
                sku=code,
                batch=batch or None,
                qty=Decimal(-1),
                reason="damage",
            ),
            out,
        )

    def _purchase(self, when: datetime, out: list) -> None:
        for wh in self.warehouses:
            for sku in self.skus:
                have = self._stock(wh.location, sku.sku) + self._on_order.get((wh.location, sku.sku), 0)
                if have < sku.reorder_point * 6:
                    qty = sku.reorder_point * 12
                    case = sku.packs.get("case", 1)
                    qty = math.ceil(qty / case) * case
                    lead = self.catalog.suppliers[self.supplier_of[sku.sku]].lead_time_days
                    arrive = when + timedelta(days=max(1, lead + self.rng.choice([-1, 0, 0, 1])), hours=-12)
                    po = self._next_id("PO")
                    self._apply(
                        PurchaseOrder(
                            **self._common("POE", when, "ERP"),
                            location=wh.location,
                            purchase_order=po,
                            supplier=self.supplier_of[sku.sku],
                            sku=sku.sku,
                            qty=Decimal(qty),
                            expected_date=(when + timedelta(days=lead)).date(),
                        ),
                        out,
                    )
                    ev = self._receipt(wh.location, sku, qty, arrive, po)
                    self._pending_receipts.append((arrive, ev))
                    self._on_order[(wh.location, sku.sku)] = (
                        self._on_order.get((wh.location, sku.sku), 0) + qty
                    )
        # Receipts already planned reduce what is on order once they land.
        landed = {(ev.location, ev.sku) for ev in out if isinstance(ev, GoodsReceipt)}
        for key in landed:
            self._on_order.pop(key, None)

    def _expire(self, when: datetime, out: list) -> None:
        """Write off at night what reaches its expiry day (in the SKU's base unit)."""
        for key, pos in sorted(self.ledger.positions()):
            expiry = self.ledger.batch_expiry(key.location, key.sku, key.batch)
            free = pos.on_hand - pos.quarantined - pos.reserved
            if expiry is not None and expiry <= when.date() and free > 0:
                self._apply(
                    StockAdjustment(
                        **self._common("ADJ", when, f"RF-{key.location}"),
                        location=key.location,
                        sku=key.sku,
                        batch=key.batch or None,
                        qty=Decimal(-free),
                        unit=self.catalog.skus[key.sku].base_unit,
                        reason="expired",
                    ),
                    out,
                )

    def _temperature(self, when: datetime, location: str, hot: bool, out: list) -> None:
        celsius = self.rng.uniform(7.5, 10.0) if hot else self.rng.gauss(2.8, 0.5)
        applied = self._apply(
            TemperatureReading(
                **self._common("TMP", when, f"TS-{location}-1"),
                sensor=f"TS-{location}-1",
                location=location,
                celsius=round(min(max(celsius, 0.2), 30.0), 2),
            ),
            out,
        )
        if not applied:
            return
        held = [
            mv for mv in self._last_movements if mv.event_type == "quality_hold" and mv.quarantined_delta > 0
        ]
        if held:
            self._excursion_held.setdefault(location, []).extend(held)
        elif not hot and location in self._excursion_held:
            self._release_after_excursion(when, location, out)

    def _release_after_excursion(self, when: datetime, location: str, out: list) -> None:
        """Back in range: quality checks the batches the excursion held (their core temperature
        stayed in range) and releases each whole batch. Whole, not a quantity: the stream
        interleaves its topics, so what it held may differ a little from what this ledger did."""
        for mv in self._excursion_held.pop(location):
            if self.ledger.position(mv.key).quarantined <= 0:
                continue
            self._apply(
                QualityHold(
                    event_id=f"QX-{mv.event_id}",
                    occurred_at=when,
                    source=f"QA-{location}",
                    location=location,
                    sku=mv.sku,
                    batch=mv.batch or None,
                    action=HoldAction.RELEASE,
                    unit=self.catalog.skus[mv.sku].base_unit,
                    reason=f"checked after the excursion that held it ({mv.event_id}): within range",
                ),
                out,
            )

    # ----------------------------------------------------------------- driving
    def expected_demand(self, day: date) -> dict[tuple[str, str], float]:
        """Units each store × SKU of its range is expected to sell on `day` with stock enough:
        the tills' ticket rate × lines per ticket × the SKU's share × units per line, driven by
        the same signals as `day()` (weekday, holiday, promotion, temperature)."""
        sig = self.signals(day)
        expected: dict[tuple[str, str], float] = {}
        for st in self.stores:
            tickets = (
                180
                * self.store_size[st.location]
                * sig.weekday_factor
                * sig.holiday_factor
                * self.demand_scale
            )
            codes = self.assortment[st.location]
            weights = [
                self.popularity[c]
                * (1.8 if c in sig.promoted_skus else 1.0)
                * (1.0 + 0.02 * (sig.temperature_c - 18) if self.catalog.skus[c].is_cold_chain else 1.0)
                for c in codes
            ]
            total = sum(weights)
            for code, weight in zip(codes, weights, strict=True):
                expected[(st.location, code)] = tickets * _LINES_PER_TICKET * weight / total * _UNITS_PER_LINE
        return expected

    def demand_history(self, start: date, days: int) -> dict[tuple[str, str], list[int]]:
        """Daily units sold per store × SKU over `days` days, as the tills would sell them with
        stock always there (Poisson around `expected_demand`): series to forecast and check."""
        rng = random.Random(self.seed * 104729 + start.toordinal())
        series: dict[tuple[str, str], list[int]] = {}
        for offset in range(days):
            for key, lam in self.expected_demand(start + timedelta(days=offset)).items():
                series.setdefault(key, []).append(_poisson(rng, lam))
        return series

    def history(self, start: date, days: int) -> Iterator:
        """Opening stock, then `days` days of events."""
        yield from self.opening_stock(start)
        for offset in range(days):
            yield from self.day(start + timedelta(days=offset))

    def live(self, first_day: date, now: Callable[[], datetime]) -> Iterator:
        """The days after the history, played now: each event re-stamped with `now()` and given
        an id unique to this run (the simulated clock runs faster than the wall clock)."""
        run = now().strftime("%y%m%d%H%M%S")
        day = first_day
        while True:
            for event in self.day(day):
                stamp = now()
                update: dict = {"event_id": f"{event.event_id}-{run}", "occurred_at": stamp}
                curve = getattr(event, "temperature_curve", None)
                if curve is not None and curve.readings:  # the logger's readings end at the hand-over
                    shift = stamp - event.occurred_at
                    readings = [r.model_copy(update={"at": r.at + shift}) for r in curve.readings]
                    update["temperature_curve"] = curve.model_copy(update={"readings": readings})
                yield event.model_copy(update=update)
            day += timedelta(days=1)

    def messages(self, events, bad_ratio: float = 0.0) -> Iterator[SimMessage]:
        """Wire messages for events, mixing in bad ones (and duplicates / late ones) at `bad_ratio`."""
        rng = random.Random(self.seed * 31 + 5)
        held: SimMessage | None = None
        recent: list[SimMessage] = []
        bad_kinds = list(MessageKind)[1:]
        for ev in events:
            msg = SimMessage(ev.topic.value, ev.location_id, encode_event(ev), MessageKind.OK, ev.event_id)
            if bad_ratio and rng.random() < bad_ratio:
                kind = rng.choice(bad_kinds)
                if kind is MessageKind.OUT_OF_ORDER and held is None:
                    held = SimMessage(msg.topic, msg.key, msg.value, MessageKind.OUT_OF_ORDER, msg.event_id)
                    continue
                if kind is MessageKind.DUPLICATE and recent:
                    yield msg
                    recent.append(msg)
                    orig = rng.choice(recent)
                    yield SimMessage(orig.topic, orig.key, orig.value, MessageKind.DUPLICATE, orig.event_id)
                    continue
                if kind in (MessageKind.MALFORMED_JSON, MessageKind.UNKNOWN_SKU, MessageKind.INVALID_GTIN):
                    yield msg
                    yield self._bad(msg, kind, rng)
                    continue
            yield msg
            recent.append(msg)
            del recent[:-500]
            if held is not None:
                yield held
                held = None
        if held is not None:
            yield held

    def _bad(self, msg: SimMessage, kind: MessageKind, rng: random.Random) -> SimMessage:
        data = json.loads(msg.value)
        data["event_id"] = self._next_id("BAD")
        if kind is MessageKind.MALFORMED_JSON:
            raw = json.dumps(data).encode()
            return SimMessage(msg.topic, msg.key, raw[: rng.randint(1, len(raw) - 2)], kind)
        target = data["lines"][0] if "lines" in data else data
        if kind is MessageKind.UNKNOWN_SKU or "sku" not in target:
            if "sku" in target:
                target["sku"] = f"NOSUCH-{rng.randint(1000, 9999)}"
                target.pop("gtin", None)
            else:  # temperature reading: an unknown location is the closest equivalent
                data["location"] = f"NOWHERE-{rng.randint(10, 99)}"
            return SimMessage(
                msg.topic, msg.key, json.dumps(data).encode(), MessageKind.UNKNOWN_SKU, data["event_id"]
            )
        gtin = self.catalog.skus[target["sku"]].gtin
        target["gtin"] = gtin[:-1] + str((int(gtin[-1]) + 1 + rng.randint(0, 8)) % 10)
        return SimMessage(
            msg.topic, msg.key, json.dumps(data).encode(), MessageKind.INVALID_GTIN, data["event_id"]
        )


#: the simulated dock camera's confidence, by its verdict (a range to draw from)
_CAMERA_CONFIDENCE = {
    InspectionVerdict.QUARANTINE: (0.6, 0.97),
    InspectionVerdict.MANUAL_REVIEW: (0.3, 0.5),
    InspectionVerdict.ACCEPT: (0.75, 0.98),
}


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1
