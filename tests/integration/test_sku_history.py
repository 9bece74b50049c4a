"""The warehouse keeps each SKU's versions: a tiny company whose SKU changes category and packs
between two months of sales and purchase orders, its master data recorded by the master-data
service (the change log), one full build. (A lake without a change log: test_warehouse.)"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from lake import LakeWriter
from stockflow.events import GoodsReceipt, PosLine, PosSale, PurchaseOrder
from stockflow.masterdata import Location, LocationKind, Sku, Supplier
from stockflow.masterdata_changes import Upsert, apply_change
from stockflow.processing import StockProcessor
from stockflow.services.masterdata import change_master_data
from stores import warehouse
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CREATED = NOW - timedelta(days=60)
CHANGED = NOW - timedelta(days=30)  # A moves from dry goods to drinks and gains an inner pack

SUPPLIER = Supplier(supplier="SUP1", name="Supplier 1")
STORE = Location(location="ST01", name="Store 1", kind=LocationKind.STORE, latitude=31.2, longitude=121.5)
SKU_A = Sku(
    sku="A", gtin="4006381333931", name="Sparkling water", category="dry_goods", packs={"case": 12},
    supplier="SUP1", standard_cost=Decimal("1.00"),
)  # fmt: skip
SKU_B = Sku(sku="B", gtin="5901234123457", name="Rice", category="dry_goods", supplier="SUP1")
SKU_A_CHANGED = SKU_A.model_copy(update={"category": "drinks", "packs": {"case": 12, "inner": 6}})


def query(var, sql):
    with duckdb.connect(str(warehouse.warehouse_path(var)), read_only=True) as con:
        return con.execute(sql).fetchall()


def month_of_trade(at: datetime, n: int, order_qty: int, unit: str, sold: int) -> list:
    """A purchase order for A, its receipt two days later, and a sale of A and B a week after."""
    return [
        PurchaseOrder(
            event_id=f"po-{n}", occurred_at=at, source="erp", location="ST01", purchase_order=f"PO{n}",
            supplier="SUP1", sku="A", qty=order_qty, unit=unit,
        ),
        GoodsReceipt(
            event_id=f"gr-{n}", occurred_at=at + timedelta(days=2), source="erp", location="ST01",
            purchase_order=f"PO{n}", supplier="SUP1", sku="A", qty=order_qty, unit=unit,
            unit_cost=Decimal("1.00"),
        ),
        GoodsReceipt(
            event_id=f"gr-b-{n}", occurred_at=at + timedelta(days=2), source="erp", location="ST01",
            purchase_order=f"PO{n}B", supplier="SUP1", sku="B", qty=10, unit_cost=Decimal("2.00"),
        ),
        PosSale(
            event_id=f"sale-{n}", occurred_at=at + timedelta(days=7), source="till-1", store="ST01",
            ticket=f"T{n}", channel="retail",
            lines=[PosLine(sku="A", qty=sold, unit_price=Decimal("3.00")),
                   PosLine(sku="B", qty=1, unit_price=Decimal("5.00"))],
        ),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """The company's master data through the master-data service (its change log), a month of
    trade, the change, another month; one full build."""
    var = tmp_path_factory.mktemp("sku-history") / "var"
    var.mkdir()
    store = MasterDataFiles(var / "masterdata.json", var / "lake")
    audit = AuditLog(var)

    def change(proposals, at):
        result = change_master_data(store, None, audit, proposals, actor="test", now=lambda: at)
        assert result.ok and result.changes, result.problems
        return result.changes

    change([Upsert(SUPPLIER), Upsert(STORE), Upsert(SKU_A), Upsert(SKU_B)], CREATED)
    catalog = store.load()
    processor = StockProcessor(catalog)
    writer = LakeWriter(var / "lake", "test")

    def land(events):
        for event in events:
            result = processor.process(event)
            writer.land_applied(event, b"", event.topic.value, 0, 0, result.movements, NOW)
        writer.flush()

    land(month_of_trade(CREATED + timedelta(days=5), 1, order_qty=2, unit="case", sold=3))
    for made in change([Upsert(SKU_A_CHANGED)], CHANGED):
        apply_change(catalog, made)  # the workers take the change in while they run
    processor.catalog_changed()
    land(month_of_trade(CHANGED + timedelta(days=5), 2, order_qty=4, unit="inner", sold=5))
    result = warehouse.build(var, store.load(), full=True)
    assert result.success, result.failures
    assert result.statuses.get("pass", 0) >= 10, result.statuses  # the data and unit tests ran
    return var, store


def test_a_changed_sku_has_both_versions_each_valid_until_the_next(company):
    var, _ = company
    rows = query(
        var,
        "SELECT sku_id, category, packs::varchar, min_pack_units, valid_from, valid_to, effective_from,"
        " is_current FROM dim_skus ORDER BY sku_id, sku_version",
    )
    beginning = datetime(1900, 1, 1, tzinfo=UTC)
    assert [(r[0], r[1], r[2], r[3], r[7]) for r in rows] == [
        ("A", "dry_goods", '{"case":12}', 12, False),
        ("A", "drinks", '{"case":12,"inner":6}', 6, True),
        ("B", "dry_goods", "{}", None, True),
    ]
    (a1, a2, b) = [tuple(v if v is None else v.astimezone(UTC) for v in r[4:7]) for r in rows]
    # valid_from: the change's time; valid_to: the next version's; the first one from the beginning
    assert a1 == (CREATED, CHANGED, beginning)
    assert a2 == (CHANGED, None, CHANGED)
    assert b == (CREATED, None, beginning)
    # the change log is there, in the warehouse, one row per change
    assert query(
        var, "SELECT count(*), count(*) FILTER (WHERE entity = 'sku') FROM stg_masterdata__changes"
    ) == [(5, 3)]


def test_old_facts_report_the_category_and_packs_of_their_time(company):
    var, _ = company
    # sales by month and category: last month's under last month's category
    by_category = query(
        var,
        "SELECT occurred_at < TIMESTAMPTZ '" + CHANGED.isoformat() + "' AS before_the_change, category,"
        " sum(-on_hand_delta) FROM fct_stock_movements WHERE event_type = 'pos_sale' GROUP BY ALL ORDER BY ALL",
    )
    assert by_category == [(False, "drinks", 5), (False, "dry_goods", 1), (True, "dry_goods", 4)]
    # each order line once, in the units of its day: 2 cases of 12, then 4 inner packs of 6
    assert query(
        var, "SELECT purchase_order_id, ordered_units, open_units FROM fct_purchase_orders ORDER BY 1"
    ) == [("PO1", 24, 0), ("PO2", 24, 0)]
