"""A deterministic simulated factory (离散制造): `stockflow up --company factory`.

恒远办公家具, an office-furniture maker in Suzhou: office chairs, desks, sit-stand desks and
filing cabinets made at its plant in Wuzhong (`P1`, a `LocationKind.PLANT`) from a few hundred
purchased components, kept in its finished-goods warehouse (`FG1`) and shipped from there to
dealers and companies. Frames and cabinet bodies are welded in house and powder-coated by a
subcontractor in Wujiang (`SC1`, a `LocationKind.SUBCONTRACTOR`): the welded frames are sent
there (issued to the painting order) and come back painted, with the painter's fee.

The day: the components the plant runs short of arrive from their suppliers (purchase orders
placed in the evening, received after the supplier's lead time, at its price); the morning's
plan releases work orders for the products that run low in the warehouse and, level by level,
for the sub-assemblies they need (seats, backs, chair bases, desk tops, welded and painted
frames, cabinet bodies, drawers, lifting columns). An order made in house takes its materials
in one issue (领料; a substitute when the main material is short), or is backflushed (倒冲:
chair bases, drawers, lifting columns) when its goods are received; its routing's operations
are reported with their hours (报工); its goods are received in two or three batches; it is
closed after its last receipt (a unit scrapped now and then: it closes short). A painting order
sends its welded frames and receives them back a day or two later with the service fee. In the
evening the day's finished goods go to the warehouse, whose shipments (`sales_issue`) fill the
customers' orders; at night a few components are counted (a box of screws a few short now and
then: the reconciliation posts the difference); each site has an ambient sensor.

`build_factory_catalog` makes the master data: purchased components (steel tube and sheet in
millimetres and square decimetres, boards, fabric and mesh, hardware in boxes, motors, cartons)
from eight suppliers with their lead times; sub-assemblies and products with their bills of
materials (2–3 levels, scrap factors, substitute groups with priority, ratio and validity) and
routings (hours per unit, labour and overhead per hour); the plant, the warehouse, the
subcontractor; customers. `FactorySimulation` plays it on the retail company's plumbing
(`simulator.company`): its own ledger as physical reality, the same wire messages with bad
ones mixed in (and a few production mistakes the ledger refuses: an over-issue, a material not
on the BOM, a receipt beyond the order), the live stream. Pure and deterministic from a seed:
no I/O, no clock.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

from simulator.company import TZ, DaySignals, MessageKind, SimMessage, Simulation, _phone, _poisson, make_gtin
from stockflow.events import (
    CycleCount,
    GoodsReceipt,
    MaterialIssued,
    OperationReported,
    ProductionReceipt,
    PurchaseOrder,
    SalesIssue,
    TemperatureReading,
    TransferIn,
    TransferOut,
    WorkOrderClosed,
    WorkOrderReleased,
    encode_event,
)
from stockflow.ledger import NO_BATCH, PositionKey, StockRejected
from stockflow.masterdata import (
    Bom,
    BomLine,
    BomOperation,
    BomSubstitute,
    Catalog,
    Customer,
    Location,
    LocationKind,
    NegativeStockPolicy,
    Sku,
    Supplier,
)
from stockflow.production import allowed_issue, explode, issued_as_line, line_of, substitutes_on
from stockflow.reconciliation import variance_adjustment
from stockflow.replenishment import HOLIDAY_DEMAND

COMPANY = "恒远办公家具"
PLANT = "P1"
WAREHOUSE = "FG1"
SUBCONTRACTOR = "SC1"
#: The day every BOM of the simulated factory is in effect from (before any simulated day).
BOMS_FROM = date(2020, 1, 1)
#: Substitutes valid from this day on (a second motor and a stronger gas lift approved), and
#: one that stopped being allowed before it (PVC tape in place of edge banding).
APPROVED_FROM = date(2025, 1, 1)
WITHDRAWN_AFTER = date(2023, 12, 31)
DEFAULT_COMPONENTS = 300
DEFAULT_PRODUCTS = 30
_CENT = Decimal("0.01")
_GTIN_COMPANY = 3000  # the retail company's GTINs use 1000–1096, the restaurant's 2000

# ------------------------------------------------------------------------------ master data
_SUPPLIERS = (  # code, name, lead time (days), payment terms (days)
    ("SUP-STEEL", "苏州钢联金属材料有限公司", 4, 60),
    ("SUP-BOARD", "常州大亚人造板有限公司", 5, 60),
    ("SUP-HARDWARE", "昆山永固五金紧固件厂", 2, 30),
    ("SUP-PLASTIC", "吴江华塑家具配件厂", 3, 45),
    ("SUP-FABRIC", "盛泽恒丰纺织面料有限公司", 3, 30),
    ("SUP-FOAM", "苏州软邦海绵制品厂", 3, 30),
    ("SUP-ELEC", "宁波凯迪驱动科技有限公司", 7, 60),
    ("SUP-PACK", "苏州华盛纸箱包装厂", 2, 30),
)
_CUSTOMERS = (  # dealers and companies that buy office furniture
    ("CUS-JD", "京东企业购（华东仓）"),
    ("CUS-SH-DEALER", "上海协和办公家具经销部"),
    ("CUS-HZ-DEALER", "杭州鑫达办公设备有限公司"),
    ("CUS-NJ-DEALER", "南京宏图办公家具城"),
    ("CUS-SIP-GOV", "苏州工业园区公共采购中心"),
    ("CUS-SUDA", "苏州大学后勤管理处"),
    ("CUS-HOTEL", "金鸡湖商务酒店"),
    ("CUS-NANO", "纳米城科技有限公司"),
)
_SITES = (  # code, name, kind, latitude, longitude, books
    (PLANT, f"{COMPANY} 吴中工厂", LocationKind.PLANT, 31.2371, 120.6343, "FACTORY"),
    (WAREHOUSE, f"{COMPANY} 成品仓（吴中）", LocationKind.WAREHOUSE, 31.2412, 120.6398, "FACTORY"),
    (
        SUBCONTRACTOR,
        "吴江亮彩喷涂加工厂（委外喷涂）",
        LocationKind.SUBCONTRACTOR,
        30.9148,
        120.6453,
        "FACTORY",
    ),
)


@dataclass(frozen=True, slots=True)
class _Part:
    """A purchased component: its base unit and packs, supplier and price per base unit."""

    code: str
    name: str
    category: str
    supplier: str
    cost: str
    unit: str = "each"
    packs: tuple[tuple[str, int], ...] = ()


def _p(
    code: str, name: str, category: str, supplier: str, cost: str, unit: str = "each", **packs: int
) -> _Part:
    return _Part(code, name, category, supplier, cost, unit, tuple(packs.items()))


_CHAIR_COLOURS = (("BK", "黑色"), ("GY", "灰色"), ("BL", "蓝色"))
_EXEC_COLOURS = (("BK", "黑色"), ("BR", "棕色"))
_TOP_COLOURS = (("WM", "白枫木"), ("WN", "胡桃木"), ("OK", "橡木"))
_FRAME_OF_TOP = {"WM": ("WH", "白色"), "WN": ("BK", "黑色"), "OK": ("BK", "黑色")}
_CABINET_COLOURS = (("GY", "灰色"), ("WH", "白色"))
_DESK_SIZES = (1200, 1400, 1600)
_LIFT_SIZES = (1400, 1600)
_CABINETS = (("DR2", "两门文件柜", 0), ("DW3", "三抽文件柜", 3), ("DW4", "四抽文件柜", 4))

#: The components the bills of materials name (the fasteners are drawn from a pool apart).
_PARTS: tuple[_Part, ...] = (
    # steel: tube in mm (6 m bars), sheet in dm² (1.25 × 2 m sheets)
    _p("ST-TUBE-40X40", "方管 40×40×1.5", "steel", "SUP-STEEL", "0.0180", "mm", m=1000, bar=6000),
    _p("ST-TUBE-40X20", "矩形管 40×20×1.2", "steel", "SUP-STEEL", "0.0110", "mm", m=1000, bar=6000),
    _p("ST-TUBE-60X30", "矩形管 60×30×1.5", "steel", "SUP-STEEL", "0.0210", "mm", m=1000, bar=6000),
    _p("ST-TUBE-R25", "圆管 Φ25×1.5", "steel", "SUP-STEEL", "0.0090", "mm", m=1000, bar=6000),
    _p("ST-SHEET-08", "冷轧钢板 0.8mm", "steel", "SUP-STEEL", "0.3800", "dm2", m2=100, sheet=250),
    _p("ST-SHEET-10", "冷轧钢板 1.0mm", "steel", "SUP-STEEL", "0.4600", "dm2", m2=100, sheet=250),
    _p("ST-SHEET-12", "冷轧钢板 1.2mm", "steel", "SUP-STEEL", "0.5400", "dm2", m2=100, sheet=250),
    _p("ST-PLATE-FOOT", "桌脚底板 冲压件", "steel", "SUP-STEEL", "4.20", box=50),
    _p("ST-PLATE-END", "桌架连接板", "steel", "SUP-STEEL", "2.60", box=50),
    # boards: cut panels per desk size and colour, edge banding in cm, glue in g
    *(
        _p(f"BD-PANEL-{size}-{c}", f"三聚氰胺板 {size}×700×25 {name}", "boards", "SUP-BOARD", cost)
        for size, cost in ((1200, "86.00"), (1400, "98.00"), (1600, "112.00"))
        for c, name in _TOP_COLOURS
    ),
    *(
        _p(f"BD-EDGE1-{c}", f"PVC封边条 1mm {name}", "boards", "SUP-BOARD", "0.0120", "cm", m=100, roll=20000)
        for c, name in _TOP_COLOURS
    ),
    *(
        _p(f"BD-EDGE2-{c}", f"PVC封边条 2mm {name}", "boards", "SUP-BOARD", "0.0180", "cm", m=100, roll=10000)
        for c, name in _TOP_COLOURS
    ),
    _p("BD-TAPE", "PVC封边胶带（旧）", "boards", "SUP-BOARD", "0.0080", "cm", m=100, roll=20000),
    _p("BD-GLUE", "封边热熔胶", "boards", "SUP-BOARD", "0.0260", "g", kg=1000, bag=20000),
    _p("BD-PLY-SEAT", "多层板座板 480×460", "boards", "SUP-BOARD", "14.50", box=20),
    # fabrics and foam
    *(
        _p(f"FB-FABRIC-{c}", f"椅面布 {name}", "fabrics", "SUP-FABRIC", "0.2200", "dm2", m2=100, roll=5000)
        for c, name in _CHAIR_COLOURS
    ),
    *(
        _p(f"FB-MESH-{c}", f"椅背网布 {name}", "fabrics", "SUP-FABRIC", "0.3100", "dm2", m2=100, roll=5000)
        for c, name in _CHAIR_COLOURS
    ),
    *(
        _p(f"FB-PU-{c}", f"PU皮革 {name}", "fabrics", "SUP-FABRIC", "0.4800", "dm2", m2=100, roll=3000)
        for c, name in _EXEC_COLOURS
    ),
    _p("FM-SEAT", "座垫定型海绵", "foam", "SUP-FOAM", "12.00", case=20),
    _p("FM-EXEC", "大班椅高回弹海绵", "foam", "SUP-FOAM", "26.00", case=10),
    # plastics: bases, casters, backs, armrests
    _p("PL-BASE-NY", "尼龙五星脚 Φ640", "plastics", "SUP-PLASTIC", "28.00", case=10),
    _p("PL-BASE-AL", "铝合金五星脚 Φ680", "plastics", "SUP-PLASTIC", "68.00", case=10),
    _p("PL-CASTER-50N", "尼龙脚轮 50mm", "plastics", "SUP-PLASTIC", "2.40", box=100),
    _p("PL-CASTER-50P", "PU静音脚轮 50mm", "plastics", "SUP-PLASTIC", "3.10", box=100),
    _p("PL-CASTER-60P", "PU静音脚轮 60mm", "plastics", "SUP-PLASTIC", "4.60", box=100),
    _p("PL-BACK-FRAME", "网椅背框", "plastics", "SUP-PLASTIC", "18.50", case=20),
    _p("PL-BACK-SHELL", "布椅背壳", "plastics", "SUP-PLASTIC", "15.00", case=20),
    _p("PL-LUMBAR", "腰托", "plastics", "SUP-PLASTIC", "6.80", case=50),
    _p("PL-HEADREST", "头枕", "plastics", "SUP-PLASTIC", "22.00", case=20),
    _p("PL-ARM-FIX", "固定扶手（对）", "plastics", "SUP-PLASTIC", "16.00", case=20),
    _p("PL-ARM-3D", "3D升降扶手（对）", "plastics", "SUP-PLASTIC", "42.00", case=10),
    _p("PL-CAP-25", "圆管堵头 Φ25", "plastics", "SUP-PLASTIC", "0.12", box=500),
    _p("PL-GLIDE", "椅脚防滑垫", "plastics", "SUP-PLASTIC", "0.35", box=500),
    _p("PL-LEVELER", "调节脚垫 M8", "plastics", "SUP-PLASTIC", "0.90", box=200),
    _p("PL-CABLE-TRAY", "桌下走线槽", "plastics", "SUP-PLASTIC", "9.50", case=20),
    # hardware
    _p("HW-GASLIFT-3", "气压棒 三级", "hardware", "SUP-HARDWARE", "19.00", case=20),
    _p("HW-GASLIFT-4", "气压棒 四级", "hardware", "SUP-HARDWARE", "26.00", case=20),
    _p("HW-MECH-TILT", "单点底盘", "hardware", "SUP-HARDWARE", "24.00", case=10),
    _p("HW-MECH-SYNC", "多功能同步底盘", "hardware", "SUP-HARDWARE", "58.00", case=10),
    _p("HW-STAPLE", "码钉 1013J", "hardware", "SUP-HARDWARE", "0.01", box=5000),
    _p("HW-TNUT-M8", "四爪螺母 M8", "hardware", "SUP-HARDWARE", "0.15", box=1000),
    _p("HW-SLIDE-350", "三节滑轨 350mm（对）", "hardware", "SUP-HARDWARE", "11.50", box=20),
    _p("HW-SLIDE-450", "三节滑轨 450mm（对）", "hardware", "SUP-HARDWARE", "13.80", box=20),
    _p("HW-LOCK", "文件柜锁", "hardware", "SUP-HARDWARE", "8.60", box=50),
    _p("HW-HANDLE-S", "拉手 96mm", "hardware", "SUP-HARDWARE", "2.30", box=100),
    _p("HW-HANDLE-L", "拉手 160mm", "hardware", "SUP-HARDWARE", "3.40", box=100),
    _p("HW-HINGE", "柜门铰链", "hardware", "SUP-HARDWARE", "1.60", box=200),
    _p("HW-SHELF-PIN", "层板托", "hardware", "SUP-HARDWARE", "0.08", box=1000),
    # electrical: sit-stand desks
    _p("EL-MOTOR-A", "升降电机（凯迪）", "electrical", "SUP-ELEC", "118.00", case=6),
    _p("EL-MOTOR-B", "升降电机（捷昌）", "electrical", "SUP-ELEC", "126.00", case=6),
    _p("EL-COLUMN-KIT", "升降立柱管组", "electrical", "SUP-ELEC", "96.00", case=4),
    _p("EL-CONTROLLER", "升降桌控制盒", "electrical", "SUP-ELEC", "88.00", case=10),
    _p("EL-HANDSET", "升降桌手控器", "electrical", "SUP-ELEC", "32.00", case=20),
    _p("EL-CABLE", "电机连接线", "electrical", "SUP-ELEC", "6.50", box=50),
    # packaging
    _p("PK-CHAIR", "办公椅纸箱", "packaging", "SUP-PACK", "11.00", bundle=20),
    _p("PK-EXEC", "大班椅纸箱", "packaging", "SUP-PACK", "16.00", bundle=10),
    *(
        _p(f"PK-DESK-{size}", f"办公桌纸箱 {size}", "packaging", "SUP-PACK", "18.00", bundle=10)
        for size in _DESK_SIZES
    ),
    _p("PK-CAB", "文件柜纸箱", "packaging", "SUP-PACK", "22.00", bundle=10),
    _p("PK-CORNER", "泡沫护角", "packaging", "SUP-PACK", "0.30", bag=200),
    _p("PK-MANUAL", "安装说明书", "packaging", "SUP-PACK", "0.40", bundle=500),
)
#: The fastener families the pool of the remaining components is drawn from: code, name,
#: sizes, lengths (mm), price per piece.
_FASTENERS = (
    (
        "FS-HEX",
        "内六角圆柱头螺钉",
        ("M5", "M6", "M8", "M10"),
        (10, 12, 16, 20, 25, 30, 35, 40, 50, 60),
        "0.06",
    ),
    ("FS-FURN", "家具连接螺丝", ("M6", "M8"), (15, 20, 25, 30, 35, 40, 45, 50), "0.09"),
    ("FS-TAP", "自攻螺钉", ("ST3.5", "ST4.2", "ST4.8"), (13, 16, 19, 22, 25, 32, 38), "0.02"),
    ("FS-BOLT", "外六角螺栓", ("M6", "M8", "M10"), (20, 25, 30, 40, 50, 60), "0.11"),
    ("FS-NUT", "法兰螺母", ("M5", "M6", "M8", "M10"), (0,), "0.04"),
    ("FS-WASHER", "平垫圈", ("M5", "M6", "M8", "M10"), (0,), "0.01"),
)
_FINISHES = (("ZN", "镀锌"), ("BK", "发黑"), ("SS", "不锈钢"))


def _fastener_pool(count: int) -> list[_Part]:
    """`count` fasteners: each family's sizes × lengths in zinc-plated, then black, then
    stainless (dearer) finishes, interleaved so that a short pool still has every family."""
    by_family: list[list[_Part]] = []
    for code, name, sizes, lengths, price in _FASTENERS:
        parts = []
        for (finish, finish_name), factor in zip(_FINISHES, ("1", "1.3", "3.2"), strict=True):
            for size in sizes:
                for length in lengths:
                    spec = f"{size}×{length}" if length else size
                    cost = (Decimal(price) * Decimal(factor) * (1 + Decimal(length) / 100)).quantize(
                        Decimal("0.001")
                    )
                    parts.append(
                        _p(
                            f"{code}-{size.replace('.', '')}{f'X{length}' if length else ''}-{finish}",
                            f"{name} {spec} {finish_name}",
                            "fasteners",
                            "SUP-HARDWARE",
                            str(cost),
                            box=1000 if Decimal(price) < Decimal("0.05") else 500,
                        )
                    )
        by_family.append(parts)
    pool: list[_Part] = []
    depth = 0
    while len(pool) < count:
        added = False
        for parts in by_family:
            if depth < len(parts) and len(pool) < count:
                pool.append(parts[depth])
                added = True
        if not added:
            raise ValueError(f"the fastener families hold {len(pool)} parts, not {count}")
        depth += 1
    return pool


# ------------------------------------------------------------------------------ routings
@dataclass(frozen=True, slots=True)
class _Op:
    code: str
    name: str
    labour: str  # per hour
    overhead: str  # per hour


_OPS = {
    "CUT": _Op("CUT", "开料", "32", "45"),
    "EDGE": _Op("EDGE", "封边", "32", "40"),
    "WELD": _Op("WELD", "焊接", "38", "30"),
    "STAMP": _Op("STAMP", "冲压", "32", "55"),
    "BEND": _Op("BEND", "折弯", "32", "40"),
    "SEW": _Op("SEW", "裁布包布", "30", "12"),
    "PRESS": _Op("PRESS", "压装", "28", "15"),
    "ASSY": _Op("ASSY", "总装", "30", "15"),
    "PACK": _Op("PACK", "检验包装", "26", "8"),
}


def _route(*steps: tuple[str, str]) -> list[BomOperation]:
    out = []
    for code, hours in steps:
        op = _OPS[code]
        out.append(
            BomOperation(
                operation=op.code,
                name=op.name,
                hours_per_unit=Decimal(hours),
                labour_rate=Decimal(op.labour),
                overhead_rate=Decimal(op.overhead),
            )
        )
    return out


def _l(sku: str, qty: str, scrap: str = "0", unit: str | None = None, *subs: BomSubstitute) -> BomLine:
    return BomLine(sku=sku, qty=Decimal(qty), unit=unit, scrap_rate=Decimal(scrap), substitutes=list(subs))


def _sub(
    sku: str,
    priority: int = 1,
    ratio: str = "1",
    valid_from: date | None = None,
    valid_to: date | None = None,
):
    return BomSubstitute(
        sku=sku, priority=priority, ratio=Decimal(ratio), valid_from=valid_from, valid_to=valid_to
    )


#: How a made item is made: in house with one issue, in house backflushed, or painted by the
#: subcontractor (its materials sent, its goods back with the fee).
class MakeMode(StrEnum):
    ISSUE = "issue"
    BACKFLUSH = "backflush"
    SUBCONTRACT = "subcontract"


@dataclass(frozen=True, slots=True)
class _Made:
    """A sub-assembly or product: its name, BOM lines and routing, how it is made, its lot
    size, and (products) its daily demand and customers' packaging."""

    code: str
    name: str
    lines: tuple[BomLine, ...]
    route: tuple[BomOperation, ...]
    mode: MakeMode
    lot: int
    fee: Decimal = Decimal(0)  # per unit, painting orders
    daily: float = 0.0  # products: units a day on an ordinary working day


#: The painter's fee per unit, excluding VAT, by what it paints.
SUBCONTRACT_FEES = {
    "SA-FRAME-P": Decimal("38.00"),
    "SA-LIFTFRAME-P": Decimal("46.00"),
    "SA-CAB-P": Decimal("62.00"),
    "SA-SLED-P": Decimal("18.00"),
}


def _products() -> list[list[_Made]]:
    """Every product the factory can make, by family (chairs, desks, sit-stand desks, filing
    cabinets); their sub-assemblies come from `_sub_assemblies`."""
    chairs, desks, lifts, cabinets = [], [], [], []
    for c, name in _CHAIR_COLOURS:
        chairs.append(
            _Made(
                f"CHR-MESH-{c}",
                f"人体工学网布椅 {name}",
                (
                    _l(f"SA-SEAT-FAB-{c}", "1"),
                    _l(f"SA-BACK-MESH-{c}", "1"),
                    _l("SA-BASE-NY", "1"),
                    _l("HW-MECH-SYNC", "1"),
                    _l("PL-ARM-3D", "1"),
                    _l("PK-CHAIR", "1"),
                    _l("PK-MANUAL", "1"),
                ),
                tuple(_route(("ASSY", "0.35"), ("PACK", "0.08"))),
                MakeMode.ISSUE,
                20,
                daily=6.0,
            )
        )
        chairs.append(
            _Made(
                f"CHR-MESH-H-{c}",
                f"人体工学网布椅（带头枕） {name}",
                (
                    _l(f"SA-SEAT-FAB-{c}", "1"),
                    _l(f"SA-BACK-MESH-{c}", "1"),
                    _l("SA-BASE-AL", "1"),
                    _l("HW-MECH-SYNC", "1"),
                    _l("PL-ARM-3D", "1"),
                    _l("PL-HEADREST", "1"),
                    _l("PK-CHAIR", "1"),
                    _l("PK-MANUAL", "1"),
                ),
                tuple(_route(("ASSY", "0.42"), ("PACK", "0.08"))),
                MakeMode.ISSUE,
                10,
                daily=3.0,
            )
        )
        chairs.append(
            _Made(
                f"CHR-TASK-{c}",
                f"布艺职员椅 {name}",
                (
                    _l(f"SA-SEAT-FAB-{c}", "1"),
                    _l(f"SA-BACK-FAB-{c}", "1"),
                    _l("SA-BASE-NY", "1"),
                    _l("HW-MECH-TILT", "1"),
                    _l("PL-ARM-FIX", "1"),
                    _l("PK-CHAIR", "1"),
                ),
                tuple(_route(("ASSY", "0.25"), ("PACK", "0.06"))),
                MakeMode.ISSUE,
                20,
                daily=7.0,
            )
        )
        chairs.append(
            _Made(
                f"CHR-CONF-{c}",
                f"弓形会议椅 {name}",
                (
                    _l(f"SA-SEAT-FAB-{c}", "1"),
                    _l(f"SA-BACK-FAB-{c}", "1"),
                    _l("SA-SLED-P", "1"),
                    _l("PL-GLIDE", "4", "0.02"),
                    _l("PK-CHAIR", "1"),
                ),
                tuple(_route(("ASSY", "0.2"), ("PACK", "0.06"))),
                MakeMode.ISSUE,
                20,
                daily=4.0,
            )
        )
    for c, name in _EXEC_COLOURS:
        chairs.append(
            _Made(
                f"CHR-EXEC-{c}",
                f"大班椅 {name}",
                (
                    _l(f"SA-SEAT-PU-{c}", "1"),
                    _l(f"SA-BACK-PU-{c}", "1"),
                    _l("SA-BASE-AL", "1"),
                    _l("HW-MECH-SYNC", "1"),
                    _l("PL-ARM-FIX", "1"),
                    _l("PK-EXEC", "1"),
                    _l("PK-MANUAL", "1"),
                ),
                tuple(_route(("ASSY", "0.5"), ("PACK", "0.1"))),
                MakeMode.ISSUE,
                10,
                daily=1.5,
            )
        )
    for size in _DESK_SIZES:
        for c, name in _TOP_COLOURS:
            frame = _FRAME_OF_TOP[c][0]
            desks.append(
                _Made(
                    f"DSK-{size}-{c}",
                    f"办公桌 {size} {name}",
                    (
                        _l(f"SA-TOP-{size}-{c}", "1"),
                        _l(f"SA-FRAME-P-{size}-{frame}", "1"),
                        _l("PL-LEVELER", "4"),
                        _l("PL-CABLE-TRAY", "1"),
                        _l(f"PK-DESK-{size}", "1"),
                        _l("PK-CORNER", "8", "0.05"),
                        _l("PK-MANUAL", "1"),
                    ),
                    tuple(_route(("ASSY", "0.3"), ("PACK", "0.15"))),
                    MakeMode.ISSUE,
                    10,
                    daily=2.5 if size == 1400 else 1.5,
                )
            )
    for size in _LIFT_SIZES:
        for c, name in _TOP_COLOURS[:2]:
            frame = _FRAME_OF_TOP[c][0]
            lifts.append(
                _Made(
                    f"DSK-LIFT-{size}-{c}",
                    f"电动升降桌 {size} {name}",
                    (
                        _l(f"SA-TOP-{size}-{c}", "1"),
                        _l(f"SA-LIFTFRAME-P-{frame}", "1"),
                        _l("SA-COLUMN", "2"),
                        _l("EL-CONTROLLER", "1"),
                        _l("EL-HANDSET", "1"),
                        _l("PL-LEVELER", "2"),
                        _l(f"PK-DESK-{size}", "1"),
                        _l("PK-CORNER", "8", "0.05"),
                        _l("PK-MANUAL", "1"),
                    ),
                    tuple(_route(("ASSY", "0.6"), ("PACK", "0.15"))),
                    MakeMode.ISSUE,
                    6,
                    daily=1.0,
                )
            )
    for kind, name, drawers in _CABINETS:
        for c, colour in _CABINET_COLOURS:
            lines = [
                _l(f"SA-CAB-P-{kind}-{c}", "1"),
                _l("HW-LOCK", "1"),
                _l("PL-LEVELER", "4"),
                _l("PK-CAB", "1"),
                _l("PK-CORNER", "8", "0.05"),
            ]
            if drawers:
                lines += [_l("SA-DRAWER", str(drawers)), _l("HW-HANDLE-S", str(drawers))]
            else:
                lines += [
                    _l("HW-HINGE", "4", "0.02"),
                    _l("HW-HANDLE-L", "2"),
                    _l("HW-SHELF-PIN", "8", "0.05"),
                ]
            cabinets.append(
                _Made(
                    f"CAB-{kind}-{c}",
                    f"{name} {colour}",
                    tuple(lines),
                    tuple(_route(("ASSY", "0.4"), ("PACK", "0.12"))),
                    MakeMode.ISSUE,
                    10,
                    daily=1.2,
                )
            )
    return [chairs, desks, lifts, cabinets]


def _sub_assemblies() -> dict[str, _Made]:
    """Every sub-assembly a product may need, by code."""
    made: list[_Made] = []
    for c, name in _CHAIR_COLOURS:
        made.append(
            _Made(
                f"SA-SEAT-FAB-{c}",
                f"布艺座垫总成 {name}",
                (
                    _l("BD-PLY-SEAT", "1"),
                    _l("FM-SEAT", "1"),
                    _l(f"FB-FABRIC-{c}", "0.42", "0.10", "m2"),
                    _l("HW-STAPLE", "60", "0.05"),
                    _l("HW-TNUT-M8", "4", "0.02"),
                ),
                tuple(_route(("SEW", "0.18"))),
                MakeMode.ISSUE,
                30,
            )
        )
        made.append(
            _Made(
                f"SA-BACK-MESH-{c}",
                f"网布椅背总成 {name}",
                (
                    _l("PL-BACK-FRAME", "1"),
                    _l(f"FB-MESH-{c}", "0.36", "0.12", "m2"),
                    _l("PL-LUMBAR", "1"),
                ),
                tuple(_route(("SEW", "0.15"))),
                MakeMode.ISSUE,
                30,
            )
        )
        made.append(
            _Made(
                f"SA-BACK-FAB-{c}",
                f"布艺椅背总成 {name}",
                (
                    _l("PL-BACK-SHELL", "1"),
                    _l(f"FB-FABRIC-{c}", "0.38", "0.10", "m2"),
                    _l("FM-SEAT", "1"),
                    _l("HW-STAPLE", "50", "0.05"),
                ),
                tuple(_route(("SEW", "0.16"))),
                MakeMode.ISSUE,
                30,
            )
        )
    for c, name in _EXEC_COLOURS:
        for part, part_name, area in (("SEAT", "座垫", "0.55"), ("BACK", "椅背", "0.70")):
            made.append(
                _Made(
                    f"SA-{part}-PU-{c}",
                    f"大班椅{part_name}总成 {name}",
                    (
                        *((_l("BD-PLY-SEAT", "1"),) if part == "SEAT" else (_l("PL-BACK-SHELL", "1"),)),
                        _l("FM-EXEC", "1"),
                        _l(f"FB-PU-{c}", area, "0.12", "m2"),
                        _l("HW-STAPLE", "80", "0.05"),
                    ),
                    tuple(_route(("SEW", "0.3"))),
                    MakeMode.ISSUE,
                    10,
                )
            )
    for kind, base, caster in (("NY", "PL-BASE-NY", "PL-CASTER-50N"), ("AL", "PL-BASE-AL", "PL-CASTER-60P")):
        caster_subs = (_sub("PL-CASTER-50P"),) if caster == "PL-CASTER-50N" else ()
        made.append(
            _Made(
                f"SA-BASE-{kind}",
                f"五星脚总成（{'尼龙' if kind == 'NY' else '铝合金'}）",
                (
                    _l(base, "1"),
                    _l(caster, "5", "0.01", None, *caster_subs),
                    _l("HW-GASLIFT-3", "1", "0", None, _sub("HW-GASLIFT-4", valid_from=APPROVED_FROM)),
                ),
                tuple(_route(("PRESS", "0.04"))),
                MakeMode.BACKFLUSH,
                40,
            )
        )
    made.append(
        _Made(
            "SA-SLED-W",
            "弓形椅架（焊接）",
            (_l("ST-TUBE-R25", "3.2", "0.04", "m"), _l("PL-CAP-25", "4", "0.02")),
            tuple(_route(("CUT", "0.05"), ("WELD", "0.2"))),
            MakeMode.ISSUE,
            40,
        )
    )
    made.append(
        _Made(
            "SA-SLED-P",
            "弓形椅架（喷涂黑色）",
            (_l("SA-SLED-W", "1"),),
            (),
            MakeMode.SUBCONTRACT,
            40,
            SUBCONTRACT_FEES["SA-SLED-P"],
        )
    )
    for size in _DESK_SIZES:
        for c, name in _TOP_COLOURS:
            made.append(
                _Made(
                    f"SA-TOP-{size}-{c}",
                    f"桌面板 {size} {name}",
                    (
                        _l(f"BD-PANEL-{size}-{c}", "1", "0.01"),
                        _l(
                            f"BD-EDGE1-{c}",
                            str(Decimal(2 * (size + 700)) / 1000),
                            "0.05",
                            "m",
                            _sub(f"BD-EDGE2-{c}", 1),
                            _sub("BD-TAPE", 2, valid_to=WITHDRAWN_AFTER),
                        ),
                        _l("BD-GLUE", "40", "0.1"),
                    ),
                    tuple(_route(("CUT", "0.06"), ("EDGE", "0.1"))),
                    MakeMode.ISSUE,
                    20,
                )
            )
        made.append(
            _Made(
                f"SA-FRAME-W-{size}",
                f"办公桌架 {size}（焊接）",
                (
                    _l("ST-TUBE-40X40", "2.88", "0.03", "m"),
                    _l("ST-TUBE-40X20", str(Decimal(2 * size - 200) / 1000 + Decimal("1.2")), "0.03", "m"),
                    _l("ST-PLATE-FOOT", "2"),
                    _l("ST-PLATE-END", "2"),
                ),
                tuple(_route(("CUT", "0.08"), ("WELD", "0.4"))),
                MakeMode.ISSUE,
                20,
            )
        )
        for frame, frame_name in (("WH", "白色"), ("BK", "黑色")):
            made.append(
                _Made(
                    f"SA-FRAME-P-{size}-{frame}",
                    f"办公桌架 {size}（喷涂{frame_name}）",
                    (_l(f"SA-FRAME-W-{size}", "1"),),
                    (),
                    MakeMode.SUBCONTRACT,
                    20,
                    SUBCONTRACT_FEES["SA-FRAME-P"],
                )
            )
    made.append(
        _Made(
            "SA-LIFTFRAME-W",
            "升降桌架（焊接）",
            (_l("ST-TUBE-60X30", "2.6", "0.03", "m"), _l("ST-PLATE-FOOT", "2"), _l("ST-PLATE-END", "2")),
            tuple(_route(("CUT", "0.08"), ("WELD", "0.45"))),
            MakeMode.ISSUE,
            12,
        )
    )
    for frame, frame_name in (("WH", "白色"), ("BK", "黑色")):
        made.append(
            _Made(
                f"SA-LIFTFRAME-P-{frame}",
                f"升降桌架（喷涂{frame_name}）",
                (_l("SA-LIFTFRAME-W", "1"),),
                (),
                MakeMode.SUBCONTRACT,
                12,
                SUBCONTRACT_FEES["SA-LIFTFRAME-P"],
            )
        )
    made.append(
        _Made(
            "SA-COLUMN",
            "升降立柱总成",
            (
                _l("EL-COLUMN-KIT", "1"),
                _l("EL-MOTOR-A", "1", "0", None, _sub("EL-MOTOR-B", valid_from=APPROVED_FROM)),
                _l("EL-CABLE", "1", "0.02"),
            ),
            tuple(_route(("ASSY", "0.25"))),
            MakeMode.BACKFLUSH,
            12,
        )
    )
    made.append(
        _Made(
            "SA-DRAWER",
            "抽屉总成",
            (_l("ST-SHEET-08", "0.42", "0.06", "m2"), _l("HW-SLIDE-450", "1")),
            tuple(_route(("STAMP", "0.05"), ("BEND", "0.06"), ("ASSY", "0.08"))),
            MakeMode.BACKFLUSH,
            40,
        )
    )
    for kind, name, drawers in _CABINETS:
        area = "2.9" if drawers else "3.4"
        made.append(
            _Made(
                f"SA-CAB-W-{kind}",
                f"{name}柜体（焊接）",
                (
                    _l(
                        "ST-SHEET-10",
                        area,
                        "0.06",
                        "m2",
                        _sub("ST-SHEET-12", 1),
                    ),
                    *((_l("ST-SHEET-08", "1.1", "0.06", "m2"),) if not drawers else ()),
                ),
                tuple(_route(("STAMP", "0.1"), ("BEND", "0.12"), ("WELD", "0.3"))),
                MakeMode.ISSUE,
                10,
            )
        )
        for c, colour in _CABINET_COLOURS:
            made.append(
                _Made(
                    f"SA-CAB-P-{kind}-{c}",
                    f"{name}柜体（喷涂{colour}）",
                    (_l(f"SA-CAB-W-{kind}", "1"),),
                    (),
                    MakeMode.SUBCONTRACT,
                    10,
                    SUBCONTRACT_FEES["SA-CAB-P"],
                )
            )
    return {m.code: m for m in made}


def _chosen_products(n_products: int) -> list[_Made]:
    """`n_products` products, taken from the families in turn."""
    families = _products()
    total = sum(len(f) for f in families)
    if not 1 <= n_products <= total:
        raise ValueError(f"the factory makes between 1 and {total} products, not {n_products}")
    chosen: list[_Made] = []
    depth = 0
    while len(chosen) < n_products:
        for family in families:
            if depth < len(family) and len(chosen) < n_products:
                chosen.append(family[depth])
        depth += 1
    return chosen


def _made_items(n_products: int) -> list[_Made]:
    """The chosen products and every sub-assembly they need, level by level."""
    subs = _sub_assemblies()
    out = _chosen_products(n_products)
    seen = {m.code for m in out}
    frontier = list(out)
    while frontier:
        nxt = []
        for item in frontier:
            for line in item.lines:
                if line.sku in subs and line.sku not in seen:
                    seen.add(line.sku)
                    nxt.append(subs[line.sku])
        out += nxt
        frontier = nxt
    return out


# ------------------------------------------------------------------------------ the catalogue
def build_factory_catalog(
    seed: int = 7, n_components: int = DEFAULT_COMPONENTS, n_products: int = DEFAULT_PRODUCTS
) -> Catalog:
    """The factory's master data, the same for the same seed: `n_components` purchased
    components (the BOMs' own, then fasteners, each BOM drawing its screws and nuts from
    them), `n_products` products and their sub-assemblies with BOMs and routings
    (`Catalog.boms`), the plant, the warehouse and the subcontractor, suppliers, customers."""
    rng = random.Random(f"factory:{seed}")
    if n_components < len(_PARTS) + 20:
        raise ValueError(f"the factory needs at least {len(_PARTS) + 20} components, not {n_components}")
    parts = [*_PARTS, *_fastener_pool(n_components - len(_PARTS))]
    fasteners = [p.code for p in parts if p.category == "fasteners"]
    suppliers = [
        Supplier(supplier=code, name=name, lead_time_days=lead, phone=_phone(rng), payment_terms_days=terms)
        for code, name, lead, terms in _SUPPLIERS
    ]
    customers = [
        Customer(customer=code, name=name, phone=_phone(rng), payment_terms_days=rng.choice([30, 60]))
        for code, name in _CUSTOMERS
    ]
    locations = [
        Location(
            location=code,
            name=name,
            kind=kind,
            latitude=lat,
            longitude=lon,
            city="Suzhou",
            accounting_unit=books,
        )
        for code, name, kind, lat, lon, books in _SITES
    ]
    number = iter(range(1, 100_000))
    skus = [
        Sku(
            sku=p.code,
            gtin=make_gtin(_GTIN_COMPANY, next(number)),
            name=p.name,
            category=p.category,
            base_unit=p.unit,
            packs=dict(p.packs),
            supplier=p.supplier,
            moq=max(dict(p.packs).values(), default=1) if p.unit == "each" else 0,
            negative_stock=NegativeStockPolicy.REJECT,
            standard_cost=Decimal(p.cost),
            vat_rate=Decimal("0.13"),
        )
        for p in parts
    ]
    made = _made_items(n_products)
    boms = []
    for item in made:
        lines = list(item.lines)
        if item.mode is not MakeMode.SUBCONTRACT:  # its screws, nuts and washers
            for code in rng.sample(fasteners, k=rng.randint(1, 3)):
                lines.append(_l(code, str(rng.choice([2, 4, 4, 6, 8, 12])), "0.02"))
        boms.append(
            Bom(
                product=item.code,
                effective_from=BOMS_FROM,
                lines=lines,
                operations=list(item.route),
                name=item.name,
            )
        )
    for item in made:
        product = item.code.startswith(("CHR-", "DSK-", "CAB-"))
        skus.append(
            Sku(
                sku=item.code,
                gtin=make_gtin(_GTIN_COMPANY, next(number)),
                name=item.name,
                category="finished_goods" if product else "sub_assemblies",
                batch_managed=product,  # a production lot on every finished carton
                negative_stock=NegativeStockPolicy.REJECT,
                vat_rate=Decimal("0.13"),
            )
        )
    draft = Catalog.build(skus, locations, suppliers, customers)
    draft = draft.model_copy(update={"boms": {b.key: b for b in boms}})
    fees = {m.code: m.fee for m in made}
    costs: dict[str, Decimal] = {}

    def cost_of(code: str) -> Decimal:
        if code in costs:
            return costs[code]
        bom = draft.bom_for(code, BOMS_FROM)
        if bom is None:
            return draft.skus[code].standard_cost
        total = Fraction(fees.get(code, Decimal(0)))
        for line in bom.lines:
            factor = draft.skus[line.sku].units()[line.unit or draft.skus[line.sku].base_unit]
            per = Fraction(line.qty) * factor / Fraction(bom.base_qty) * (1 + Fraction(line.scrap_rate))
            total += per * Fraction(cost_of(line.sku))
        for op in bom.operations:
            total += Fraction(op.hours_per_unit) * Fraction(op.labour_rate + op.overhead_rate)
        costs[code] = (Decimal(total.numerator) / Decimal(total.denominator)).quantize(_CENT)
        return costs[code]

    final = []
    for sku in skus:
        if draft.has_bom(sku.sku):
            cost = cost_of(sku.sku)
            update: dict[str, object] = {"standard_cost": cost}
            if sku.category == "finished_goods":
                update["wholesale_price"] = (cost * Decimal("1.6")).quantize(_CENT)
            sku = sku.model_copy(update=update)
        final.append(sku)
    catalog = Catalog.build(final, locations, suppliers, customers)
    return catalog.model_copy(update={"boms": {b.key: b for b in boms}})


@lru_cache(maxsize=1)
def _made_by_code() -> dict[str, _Made]:
    """Every product and sub-assembly the factory can make, by code."""
    return {m.code: m for family in _products() for m in family} | _sub_assemblies()


def make_mode(code: str) -> MakeMode:
    """How a made item is made (one issue, backflushed, painted by the subcontractor)."""
    return _made_by_code()[code].mode


def daily_demand(catalog: Catalog) -> dict[str, float]:
    """Units of each product of the catalogue the customers order on an ordinary working day."""
    made = _made_by_code()
    return {code: made[code].daily for code in sorted(catalog.skus) if code in made and made[code].daily}


# ------------------------------------------------------------------------------ the simulation
#: What the factory sells by weekday, Monday..Sunday (Sunday: neither orders nor shipments).
_WEEKDAY = [1.1, 1.05, 1.0, 1.0, 1.05, 0.6, 0.0]
#: The days of cover the morning plan keeps of a product (in stock and in production), and
#: what a new order adds at least.
_PRODUCT_COVER = 4.0
#: Customers' orders on an ordinary working day (each of a few units of one product).
_ORDERS_A_DAY = 24
_PRODUCT_RUN = 3.0
#: Days of use a component is reordered at (beyond its lead time) and bought up to; the main
#: material of a line with substitutes is bought tighter (its substitutes stand in when short).
_REORDER_DAYS, _ORDER_UP_TO_DAYS = 3, 9
_TIGHT_REORDER_DAYS, _TIGHT_ORDER_UP_TO_DAYS = 0, 3
#: Where a quantity is drawn from: every working hour the plant retries what waited.
_RETRY = timedelta(hours=1)
_SHIFT_START, _SHIFT_END = time(7, 15), time(20, 0)
#: Events that nothing waits on: the only ones a message may be held back and sent late.
_NOTHING_WAITS_ON = frozenset({"purchase_order", "temperature_reading"})


class ProductionMistake(StrEnum):
    """Production messages that are wrong on purpose, each named after the ledger's refusal."""

    OVER_ISSUE = "over_issue"
    NOT_ON_BOM = "not_on_bom"
    COMPLETION_BEYOND_ORDER = "completion_beyond_order"


@dataclass(frozen=True, slots=True)
class FactoryMessage(SimMessage):
    """A wire message of the factory: bad also when it is a `ProductionMistake`."""

    @property
    def is_bad(self) -> bool:
        return isinstance(self.kind, ProductionMistake) or SimMessage.is_bad.fget(self)  # type: ignore[attr-defined]


@dataclass
class _Job:
    """A work order as the plant runs it."""

    work_order: str
    product: str
    qty: int
    mode: MakeMode
    day: date
    batches: list[int]
    issued: bool = False
    received: int = 0
    scrapped: int = 0
    closed: bool = False

    @property
    def done(self) -> int:
        return self.received + self.scrapped

    @property
    def remaining(self) -> int:
        return 0 if self.closed else self.qty - self.done


@dataclass
class _Order:
    sales_order: str
    customer: str
    sku: str
    qty: int


@dataclass
class FactorySimulation(Simulation):
    """The factory's days (see the module docstring), on the retail `Simulation`'s plumbing:
    its ledger, ids, running numbers, wire messages and live mode.

    `count_variances` holds, by the id of the count that found it, the count-variance
    adjustment the reconciliation will post: the simulator books it in its own ledger (physical
    reality) without sending it. `refused`: the simulator's own events the ledger refused (none
    are meant to be)."""

    count_variances: dict[str, object] = field(default_factory=dict, init=False)
    refused: list[tuple[object, StockRejected]] = field(default_factory=list, init=False)
    jobs: dict[str, _Job] = field(default_factory=dict, init=False)
    _heap: list = field(default_factory=list, init=False)
    _day: date = field(default=date.min, init=False)
    _later: list = field(default_factory=list, init=False)
    _po_units: dict[str, tuple[str, int]] = field(default_factory=dict, init=False)
    _backlog: list[_Order] = field(default_factory=list, init=False)
    _wo_number: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._start_books()
        self.rng = random.Random(f"factory:{self.seed}:days")
        locations = sorted(self.catalog.locations.values(), key=lambda loc: loc.location)
        self.plant = next(loc.location for loc in locations if loc.kind is LocationKind.PLANT)
        self.warehouses = [loc for loc in locations if loc.kind is LocationKind.WAREHOUSE]
        self.warehouse = self.warehouses[0].location
        self.subcontractor = next(loc.location for loc in locations if loc.kind is LocationKind.SUBCONTRACTOR)
        self.sites = [loc.location for loc in locations]
        self.stores = []
        self.docks = frozenset()
        self.skus = sorted(self.catalog.skus.values(), key=lambda s: s.sku)
        self.demand = daily_demand(self.catalog)
        self.products = sorted(self.demand)
        self.made = sorted(code for code in self.catalog.skus if self.catalog.has_bom(code))
        self.purchased = [s.sku for s in self.skus if not self.catalog.has_bom(s.sku)]
        self.supplier_of = {s.sku: s.supplier or "" for s in self.skus}
        self.assortment = {}
        self.pallet_damage = {}
        self.price = {code: self.catalog.skus[code].wholesale_price or Decimal(0) for code in self.products}
        self.popularity = dict(self.demand)
        # what an ordinary working day takes of each component, and which are main materials
        # of a line with substitutes (bought tighter) or substitutes (kept a little of)
        self.usage: dict[str, float] = {}
        for product, units in self.demand.items():
            for code, need in explode(self.catalog, product, 1, BOMS_FROM).items():
                self.usage[code] = self.usage.get(code, 0.0) + units * float(need)
        self.tight: set[str] = set()
        self.standby: dict[str, float] = {}
        day = date(2100, 1, 1)  # substitutes in effect from then on (and their main lines)
        for bom in self.catalog.boms.values():
            for line in bom.lines:
                valid = [s for s, _r in substitutes_on(line, day)]
                if valid and line.sku in self.usage:
                    self.tight.add(line.sku)
                    for code in valid:
                        self.standby[code] = self.standby.get(code, 0.0) + self.usage[line.sku] * 0.5
        self.counted = sorted(code for code in self.usage if self.catalog.skus[code].base_unit == "each")

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self.seed}-F{self._ids:08d}"

    # ------------------------------------------------------------------ signals and demand
    def signals(self, day: date) -> DaySignals:
        rng = random.Random(f"factory:{self.seed}:{day.toordinal()}")
        doy = day.timetuple().tm_yday
        temperature = 17 + 12 * math.sin((doy - 105) / 365 * 2 * math.pi) + rng.gauss(0, 3)
        return DaySignals(
            day,
            HOLIDAY_DEMAND.get((day.month, day.day), 1.0),
            _WEEKDAY[day.weekday()],
            round(temperature, 1),
            frozenset(),
        )

    def _works(self, day: date) -> bool:
        """Whether the customers order and the plant plans on `day` (not Sundays nor public
        holidays)."""
        return day.weekday() != 6 and (day.month, day.day) not in HOLIDAY_DEMAND

    def expected_demand(self, day: date) -> dict[tuple[str, str], float]:
        """Units of each product the warehouse is expected to ship on `day` with stock enough."""
        sig = self.signals(day)
        factor = sig.weekday_factor * self.demand_scale if self._works(day) else 0.0
        return {(self.warehouse, code): rate * factor for code, rate in self.demand.items()}

    # ------------------------------------------------------------------ helpers
    def _refused(self, event: object, exc: StockRejected) -> None:
        """Remembered (`refused`): the simulator's own events are all meant to be taken."""
        self.refused.append((event, exc))

    def _plan(self, when: datetime, what: object) -> None:
        self._planned += 1
        if when.astimezone(TZ).date() <= self._day:
            heapq.heappush(self._heap, (when, self._planned, what))
        else:
            self._later.append((when, self._planned, what))

    def _retry(self, when: datetime, what: object) -> None:
        """Plan `what` again within the shift: in an hour, or first thing the next morning."""
        later = when + _RETRY
        if later.timetz().replace(tzinfo=None) > _SHIFT_END:
            later = datetime.combine(when.date() + timedelta(days=1), _SHIFT_START, TZ)
        self._plan(later, what)

    def _free(self, location: str, sku: str) -> int:
        return sum(max(p.unrestricted, 0) for p in self.ledger.batches_at(location, sku).values())

    def _big(self, sku: Sku, units: int) -> tuple[Decimal, str]:
        """`units` base units in the largest pack they fill exactly (else in base units)."""
        for unit, size in sorted(sku.packs.items(), key=lambda item: -item[1]):
            if size > 1 and units % size == 0:
                return Decimal(units // size), unit
        return Decimal(units), sku.base_unit

    def _step(self, sku: Sku) -> int:
        """What the component is bought in: its smallest pack (a metre, a box)."""
        return sku.min_pack_units or 1

    # ------------------------------------------------------------------ opening stock
    def opening_stock(self, day: date) -> list:
        """Receipts that stock the plant's stores with components the evening before the first
        day."""
        when = datetime.combine(day - timedelta(days=1), time(18, 0), TZ)
        events: list = []
        for code in self.purchased:
            sku = self.catalog.skus[code]
            lead = self.catalog.suppliers[sku.supplier or ""].lead_time_days
            use = self.usage.get(code, 0.0)
            units = use * (lead + _ORDER_UP_TO_DAYS) + self.standby.get(code, 0.0) * 4
            if units <= 0:
                continue
            step = self._step(sku)
            events.append(
                self._receipt(sku, max(step, math.ceil(units / step) * step), when, f"OPEN-{self.plant}")
            )
        applied: list = []
        for ev in events:
            self._apply(ev, applied)
        return applied

    def _receipt(self, sku: Sku, units: int, when: datetime, po: str) -> GoodsReceipt:
        qty, unit = self._big(sku, units)
        price = sku.standard_cost * sku.units()[unit] * Decimal(str(self.rng.uniform(0.96, 1.04)))
        return GoodsReceipt(
            **self._common("GR", when, f"RF-{self.plant}"),
            location=self.plant,
            purchase_order=po,
            supplier=sku.supplier or "",
            sku=sku.sku,
            gtin=sku.gtin,
            qty=qty,
            unit=unit,
            unit_cost=price.quantize(Decimal("0.0001")),
        )

    # ------------------------------------------------------------------ the day
    def day(self, day: date) -> list:
        """All events of one simulated day, in time order, already applied to the sim's ledger."""
        sig = self.signals(day)
        rng = self.rng
        self._day = day
        self._heap = []

        def at(hour: int, minute: int = 0) -> datetime:
            return datetime.combine(day, time(hour, minute), TZ)

        waiting, self._later = self._later, []
        for when, seq, what in waiting:
            if when.astimezone(TZ).date() <= day:
                heapq.heappush(self._heap, (max(when, at(0)), seq, what))
            else:
                self._later.append((when, seq, what))
        if self._works(day):
            self._plan(at(7, 30), ("plan",))
            for _ in range(_poisson(rng, _ORDERS_A_DAY * sig.weekday_factor * sig.holiday_factor)):
                self._plan(at(8) + timedelta(minutes=rng.randint(0, 480)), ("order",))
            self._plan(at(16, 0), ("ship",))
        self._plan(at(17, 30), ("to_warehouse",))
        self._plan(at(20, 0), ("purchase",))
        self._plan(at(21, 30), ("count",))
        for site in self.sites:
            for slot in range(48):
                self._plan(at(0) + timedelta(minutes=30 * slot, seconds=rng.randint(0, 20)), ("temp", site))

        out: list = []
        heap = self._heap
        while heap:
            when, _, what = heapq.heappop(heap)
            if not isinstance(what, tuple):
                if self._apply(what, out) and isinstance(what, GoodsReceipt):
                    self._po_units.pop(what.purchase_order, None)
                continue
            kind = what[0]
            if kind == "plan":
                self._plan_production(when, out)
            elif kind == "issue":
                self._issue(when, what[1], out)
            elif kind == "batch":
                self._batch(when, what[1], out)
            elif kind == "close":
                self._close(when, what[1], out)
            elif kind == "order":
                self._take_order()
            elif kind == "ship":
                self._ship(when)
            elif kind == "ship_order":
                self._ship_order(when, what[1], out)
            elif kind == "to_warehouse":
                self._to_warehouse(when, out)
            elif kind == "purchase":
                self._purchase(when, day, out)
            elif kind == "count":
                self._count_components(when, out)
            elif kind == "temp":
                self._ambient(when, what[1], sig, out)
        return out

    # ------------------------------------------------------------------ planning (MRP-lite)
    def _open_supply(self, sku: str) -> int:
        return sum(job.remaining for job in self.jobs.values() if job.product == sku)

    def _committed(self, sku: str) -> int:
        """What open orders still take of a made item (their requirement less what they were
        issued, substitutes counted at their ratio)."""
        total = 0
        for job in self.jobs.values():
            if job.closed or job.issued:
                continue
            bom = self.catalog.bom_for(job.product, job.day)
            line = bom.line(sku) if bom is not None else None
            if line is None:
                continue
            wo = self.ledger.work_order(job.work_order)
            done = issued_as_line(bom, wo.issued if wo else {}, job.day)[sku]
            total += allowed_issue(self.catalog, bom, line, job.qty) - math.ceil(done)
        return total

    def _plan_production(self, when: datetime, out: list) -> None:
        """The morning plan: an order for each product that runs low (stock in the warehouse
        and the plant, and in production, against the backlog and a few days' demand), then,
        level by level, orders for the sub-assemblies the open orders lack."""
        backlog: dict[str, int] = {}
        for order in self._backlog:
            backlog[order.sku] = backlog.get(order.sku, 0) + order.qty
        lots = {m.code: m.lot for m in _made_by_code().values()}
        for code in self.products:
            rate = self.demand[code] * self.demand_scale
            have = self._free(self.warehouse, code) + self._free(self.plant, code) + self._open_supply(code)
            have += sum(p.in_transit for p in self.ledger.batches_at(self.warehouse, code).values())
            want = backlog.get(code, 0) + rate * _PRODUCT_COVER
            if have < want:
                qty = max(math.ceil(want - have + rate * _PRODUCT_RUN), lots[code] // 2)
                self._release(when, code, qty, out)
        for _level in range(4):
            released = False
            for code in self.made:
                if code in self.demand:
                    continue
                short = self._committed(code) - self._free(self.plant, code) - self._open_supply(code)
                if short > 0:
                    lot = lots[code]
                    self._release(when, code, max(lot, math.ceil(short / 5) * 5), out)
                    released = True
            if not released:
                break

    def _release(self, when: datetime, product: str, qty: int, out: list) -> None:
        rng = self.rng
        mode = make_mode(product)
        self._wo_number += 1
        code = f"WO-{when:%y%m%d}-{self._wo_number:05d}"
        released = WorkOrderReleased(
            **self._common("WOR", when, "MES"),
            location=self.plant,
            work_order=code,
            product=product,
            qty=Decimal(qty),
            due_date=when.date() + timedelta(days=3 if mode is MakeMode.SUBCONTRACT else 1),
            backflush=mode is MakeMode.BACKFLUSH,
            subcontractor=self.subcontractor if mode is MakeMode.SUBCONTRACT else None,
        )
        if not self._apply(released, out):
            return
        parts = 1 if qty < 8 else rng.choice([2, 2, 3])
        batches = [qty // parts + (1 if i < qty % parts else 0) for i in range(parts)]
        job = _Job(code, product, qty, mode, self.ledger.work_order(code).bom_day, batches)
        self.jobs[code] = job
        if mode is MakeMode.BACKFLUSH:
            self._plan(when + timedelta(minutes=rng.randint(60, 150)), ("batch", job))
        else:
            self._plan(when + timedelta(minutes=rng.randint(10, 30)), ("issue", job))

    # ------------------------------------------------------------------ the shop floor
    def _cover(self, job: _Job, upto: int) -> dict[str, int] | None:
        """What to issue to `job` so that its materials for `upto` units are there: per SKU,
        the line's own material as far as the plant has it, the rest from its substitutes
        valid on the order's day (by priority, at their ratio); None when the plant lacks
        them. A backflushed order is issued only what substitutes stand in for (the receipt
        takes the rest)."""
        bom = self.catalog.bom_for(job.product, job.day)
        wo = self.ledger.work_order(job.work_order)
        done = issued_as_line(bom, wo.issued, job.day)
        plan: dict[str, int] = {}
        for line in bom.lines:
            need = allowed_issue(self.catalog, bom, line, upto) - math.ceil(done[line.sku])
            if need <= 0:
                continue
            own = min(need, self._free(self.plant, line.sku))
            short = Fraction(need - own)
            if job.mode is not MakeMode.BACKFLUSH and own:
                plan[line.sku] = own
            for sku, ratio in substitutes_on(line, job.day):
                if short <= 0:
                    break
                take = min(math.floor(short * ratio), self._free(self.plant, sku))
                if take > 0:
                    plan[sku] = take
                    short -= take / ratio
            if short >= 1 or (short > 0 and job.mode is MakeMode.BACKFLUSH):
                return None
        return plan

    def _issue_all(self, when: datetime, job: _Job, plan: dict[str, int], out: list) -> None:
        for sku, units in sorted(plan.items()):
            qty, unit = self._big(self.catalog.skus[sku], units)
            self._apply(
                MaterialIssued(
                    **self._common("MI", when, f"RF-{self.plant}"),
                    location=self.plant,
                    work_order=job.work_order,
                    sku=sku,
                    gtin=self.catalog.skus[sku].gtin,
                    qty=qty,
                    unit=unit,
                ),
                out,
            )

    def _issue(self, when: datetime, job: _Job, out: list) -> None:
        """The order's materials in one issue (sent to the painter for a painting order), once
        the plant has them all; then its batches."""
        plan = self._cover(job, job.qty)
        if plan is None:
            self._retry(when, ("issue", job))
            return
        self._issue_all(when, job, plan, out)
        job.issued = True
        rng = self.rng
        if job.mode is MakeMode.SUBCONTRACT:  # back from the painter in a day or two
            back = datetime.combine(when.date() + timedelta(days=rng.choice([1, 2, 2])), time(10), TZ)
            self._plan(back + timedelta(minutes=rng.randint(0, 300)), ("batch", job))
        else:
            self._plan(when + timedelta(minutes=rng.randint(60, 150)), ("batch", job))

    def _batch(self, when: datetime, job: _Job, out: list) -> None:
        """A batch of the order done: its operations reported, its goods received (a
        backflushed order's materials first, a substitute issued where the main one is
        short), the next batch or the closing planned."""
        rng = self.rng
        size = job.batches[0]
        if job.mode is MakeMode.BACKFLUSH:
            plan = self._cover(job, job.done + size)
            if plan is None:
                self._retry(when, ("batch", job))
                return
            self._issue_all(when, job, plan, out)
        bom = self.catalog.bom_for(job.product, job.day)
        scrap = 1 if bom.operations and size > 2 and rng.random() < 0.04 else 0
        for i, op in enumerate(bom.operations):
            last = i == len(bom.operations) - 1
            units = size - (scrap if last else 0)
            hours = op.hours_per_unit * size * Decimal(str(rng.uniform(0.9, 1.2)))
            self._apply(
                OperationReported(
                    **self._common("OP", when, "MES"),
                    location=self.plant,
                    work_order=job.work_order,
                    operation=op.operation,
                    good_qty=units,
                    scrap_qty=scrap if last else 0,
                    hours=hours.quantize(Decimal("0.01")),
                ),
                out,
            )
        good = size - scrap
        product = self.catalog.skus[job.product]
        received = ProductionReceipt(
            **self._common("PR", when, f"RF-{self.plant}"),
            location=self.plant,
            work_order=job.work_order,
            qty=Decimal(good),
            batch=f"L{when:%y%m%d}-{job.work_order[-5:]}-{len(job.batches)}"
            if product.batch_managed
            else None,
            service_fee=(SUBCONTRACT_FEES[_fee_key(job.product)] * good)
            if job.mode is MakeMode.SUBCONTRACT
            else 0,
        )
        if good and not self._apply(received, out):
            self._retry(when, ("batch", job))
            return
        job.received += good
        job.scrapped += scrap
        job.batches.pop(0)
        if job.batches:
            gap = (
                timedelta(hours=rng.uniform(1, 2.5))
                if job.mode is not MakeMode.SUBCONTRACT
                else timedelta(hours=3)
            )
            self._plan(when + gap, ("batch", job))
        else:
            self._plan(when + timedelta(minutes=rng.randint(15, 60)), ("close", job))

    def _close(self, when: datetime, job: _Job, out: list) -> None:
        """After the order's last receipt: closed (what its cost still holds is its variance)."""
        if self._apply(
            WorkOrderClosed(
                **self._common("WOC", when, "MES"), location=self.plant, work_order=job.work_order
            ),
            out,
        ):
            job.closed = True

    def _to_warehouse(self, when: datetime, out: list) -> None:
        """The day's finished goods to the warehouse, lot by lot; there half an hour later."""
        for code in self.products:
            for batch, pos in sorted(self.ledger.batches_at(self.plant, code).items()):
                if pos.unrestricted <= 0:
                    continue
                common = {
                    "transfer_id": self._next_id("TR"),
                    "from_location": self.plant,
                    "to_location": self.warehouse,
                    "sku": code,
                    "gtin": self.catalog.skus[code].gtin,
                    "batch": batch or None,
                    "qty": Decimal(pos.unrestricted),
                }
                if self._apply(TransferOut(**self._common("TO", when, f"RF-{self.plant}"), **common), out):
                    arrive = when + timedelta(minutes=self.rng.randint(25, 45))
                    self._plan(
                        arrive, TransferIn(**self._common("TI", arrive, f"RF-{self.warehouse}"), **common)
                    )

    # ------------------------------------------------------------------ customers
    def _take_order(self) -> None:
        """A customer's order of one product: the products by their share of the demand, a
        few units each (the day's orders add up to the day's demand)."""
        rng = self.rng
        weights = [self.demand[c] for c in self.products]
        code = rng.choices(self.products, weights)[0]
        per_order = sum(self.demand.values()) * self.demand_scale / _ORDERS_A_DAY
        qty = 1 + _poisson(rng, max(per_order - 1, 0.0))
        self._backlog.append(
            _Order(self._next_id("SO"), rng.choice(sorted(self.catalog.customers)), code, qty)
        )

    def _ship(self, when: datetime) -> None:
        """The afternoon's shipments: the open orders, oldest first, a couple of minutes apart."""
        for i, order in enumerate(self._backlog):
            self._plan(
                when + timedelta(minutes=2 * i, seconds=self.rng.randint(0, 59)), ("ship_order", order)
            )

    def _ship_order(self, when: datetime, order: _Order, out: list) -> None:
        """An order shipped as far as the warehouse has its product (the rest waits)."""
        qty = min(order.qty, self._free(self.warehouse, order.sku))
        if qty > 0 and self._apply(
            SalesIssue(
                **self._common("SI", when, f"RF-{self.warehouse}"),
                location=self.warehouse,
                sales_order=order.sales_order,
                customer=order.customer,
                sku=order.sku,
                gtin=self.catalog.skus[order.sku].gtin,
                qty=Decimal(qty),
            ),
            out,
        ):
            order.qty -= qty
        if order.qty <= 0:
            self._backlog.remove(order)

    # ------------------------------------------------------------------ purchasing
    def _purchase(self, when: datetime, day: date, out: list) -> None:
        """The evening's purchase orders: each component the plant runs low on (stock and on
        order against its lead time's use and a few days more, a little more for open orders
        waiting for it), bought up to its cover in its packs; received after the supplier's
        lead time in the morning, a day late now and then."""
        rng = self.rng
        on_order: dict[str, int] = {}
        for code, units in self._po_units.values():
            on_order[code] = on_order.get(code, 0) + units
        for code in self.purchased:
            use = self.usage.get(code, 0.0) * self.demand_scale
            standby = self.standby.get(code, 0.0) * self.demand_scale
            if use <= 0 and standby <= 0:
                continue
            sku = self.catalog.skus[code]
            supplier = self.catalog.suppliers[sku.supplier or ""]
            lead = max(1, supplier.lead_time_days)
            have = self._free(self.plant, code) + on_order.get(code, 0) - self._waiting_for(code)
            if code in self.tight:
                reorder, upto = use * (lead + _TIGHT_REORDER_DAYS), use * (lead + _TIGHT_ORDER_UP_TO_DAYS)
            elif use > 0:
                reorder, upto = use * (lead + _REORDER_DAYS), use * (lead + _ORDER_UP_TO_DAYS)
            else:
                reorder, upto = standby * lead, standby * (lead + 4)
            if have >= reorder:
                continue
            step = self._step(sku)
            units = max(step, math.ceil((upto - have) / step) * step, sku.moq)
            po = self._next_id("PO")
            qty, unit = self._big(sku, units)
            due = day + timedelta(days=lead + (1 if rng.random() < 0.08 else 0))
            if self._apply(
                PurchaseOrder(
                    **self._common("POE", when, "ERP"),
                    location=self.plant,
                    purchase_order=po,
                    supplier=supplier.supplier,
                    sku=code,
                    qty=qty,
                    unit=unit,
                    expected_date=day + timedelta(days=lead),
                ),
                out,
            ):
                arrive = datetime.combine(due, time(8), TZ) + timedelta(minutes=rng.randint(0, 180))
                self._plan(arrive, self._receipt(sku, units, arrive, po))
                self._po_units[po] = (code, units)

    def _waiting_for(self, sku: str) -> int:
        """What open orders not yet issued still need of a component."""
        total = 0
        for job in self.jobs.values():
            if job.closed or (job.issued and job.mode is not MakeMode.BACKFLUSH):
                continue
            bom = self.catalog.bom_for(job.product, job.day)
            line = bom.line(sku) if bom is not None else None
            if line is not None:
                total += allowed_issue(self.catalog, bom, line, job.qty - job.done)
        return total

    # ------------------------------------------------------------------ counts and sensors
    def _count_components(self, when: datetime, out: list) -> None:
        """The nightly count of a few components in the plant's stores: now and then a few
        screws or small parts short of the book (the reconciliation posts the difference)."""
        rng = self.rng
        stocked = [code for code in self.counted if self._free(self.plant, code) > 0]
        for code in rng.sample(stocked, k=min(4, len(stocked))):
            sku = self.catalog.skus[code]
            key = PositionKey(self.plant, code, NO_BATCH)
            book = self.ledger.position(key).on_hand
            delta = -rng.randint(1, 5) if sku.category == "fasteners" and rng.random() < 0.3 else 0
            count = CycleCount(
                **self._common("CC", when, f"RF-{self.plant}"),
                location=self.plant,
                count_id=self._next_id("CNT"),
                sku=code,
                gtin=sku.gtin,
                counted_qty=Decimal(max(book + delta, 0)),
            )
            if self._apply(count, out) and delta:
                record = self.ledger.counted_after(key, when - timedelta(microseconds=1))
                if record is not None and record.event_id == count.event_id and record.variance:
                    adjustment = variance_adjustment(record, when, unit=sku.base_unit)
                    self.ledger.apply(adjustment)  # a count variance is never refused
                    self.count_variances[count.event_id] = adjustment

    def _ambient(self, when: datetime, site: str, sig: DaySignals, out: list) -> None:
        """The site's ambient sensor (nothing the factory keeps needs a cold chain)."""
        hour = when.astimezone(TZ).hour + when.astimezone(TZ).minute / 60
        celsius = sig.temperature_c + 4 * math.sin((hour - 9) / 24 * 2 * math.pi) + self.rng.gauss(0, 0.4)
        self._apply(
            TemperatureReading(
                **self._common("TMP", when, f"TS-{site}-1"),
                sensor=f"TS-{site}-1",
                location=site,
                celsius=round(celsius, 2),
            ),
            out,
        )

    # ------------------------------------------------------------------ wire messages
    def messages(self, events, bad_ratio: float = 0.0):
        """Wire messages for events, mixing in bad ones at `bad_ratio` as `Simulation.messages`
        does (malformed, unknown SKU or location, invalid GTIN, duplicates, late ones: only
        those nothing waits on are held back), and production mistakes after a share of the
        issues and receipts: an over-issue, a material not on the BOM, a receipt beyond the
        order."""
        rng = random.Random(f"factory:{self.seed}:messages")
        held: SimMessage | None = None
        recent: list[SimMessage] = []
        bad_kinds = list(MessageKind)[1:]
        for ev in events:
            msg = FactoryMessage(
                ev.topic.value, ev.location_id, encode_event(ev), MessageKind.OK, ev.event_id
            )
            sent = False
            if bad_ratio and rng.random() < bad_ratio:
                kind = rng.choice(bad_kinds)
                if kind is MessageKind.OUT_OF_ORDER and held is None and ev.event_type in _NOTHING_WAITS_ON:
                    held = FactoryMessage(
                        msg.topic, msg.key, msg.value, MessageKind.OUT_OF_ORDER, msg.event_id
                    )
                    continue
                if kind is MessageKind.DUPLICATE and recent:
                    yield msg
                    recent.append(msg)
                    orig = rng.choice(recent)
                    yield FactoryMessage(
                        orig.topic, orig.key, orig.value, MessageKind.DUPLICATE, orig.event_id
                    )
                    sent = True
                elif kind in (MessageKind.MALFORMED_JSON, MessageKind.UNKNOWN_SKU, MessageKind.INVALID_GTIN):
                    yield msg
                    bad = self._bad(msg, kind, rng)
                    yield FactoryMessage(bad.topic, bad.key, bad.value, bad.kind, bad.event_id)
                    sent = True
            if not sent:
                yield msg
                recent.append(msg)
                del recent[:-500]
                if held is not None:
                    yield held
                    held = None
            if bad_ratio and ev.event_type in ("material_issued", "production_receipt"):
                if rng.random() < bad_ratio:
                    mistake = self._mistake(ev, rng)
                    if mistake is not None:
                        yield mistake
        if held is not None:
            yield held

    def _mistake(self, ev, rng: random.Random) -> FactoryMessage | None:
        """A wrong copy of an issue or a receipt the ledger must refuse."""
        job = self.jobs.get(ev.work_order)
        if job is None:
            return None
        bom = self.catalog.bom_for(job.product, job.day)
        data = json.loads(encode_event(ev))
        data["event_id"] = self._next_id("BAD")
        data.pop("source_seq", None)
        if ev.event_type == "production_receipt":
            kind = ProductionMistake.COMPLETION_BEYOND_ORDER
            data["qty"] = str(job.qty)  # the whole order again
        elif rng.random() < 0.5:
            kind = ProductionMistake.OVER_ISSUE
            found = line_of(bom, ev.sku, job.day)
            if found is None:
                return None
            line = found[0]
            main = self.catalog.skus[line.sku]
            data.update(sku=main.sku, gtin=main.gtin, unit=main.base_unit)
            data["qty"] = str(allowed_issue(self.catalog, bom, line, job.qty) + 1)
        else:
            kind = ProductionMistake.NOT_ON_BOM
            on_bom = {line.sku for line in bom.lines} | {
                s.sku for line in bom.lines for s in line.substitutes
            }
            strangers = [code for code in self.purchased if code not in on_bom]
            other = self.catalog.skus[rng.choice(strangers)]
            data.update(sku=other.sku, gtin=other.gtin, unit=other.base_unit, qty="1")
        return FactoryMessage(
            ev.topic.value, ev.location_id, json.dumps(data).encode(), kind, data["event_id"]
        )


def _fee_key(product: str) -> str:
    """The painter's fee that applies to a painted sub-assembly."""
    return next(key for key in SUBCONTRACT_FEES if product.startswith(key))
