"""A factory's week of work orders at plant P1 (`a_week_at_plant_p1`), and the industry
editions' warehouse: that week and a restaurant's day landed the way the stream lands them,
posted to the books and built once (`build_editions_warehouse`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from stockflow.events import (
    MaterialIssued,
    OperationReported,
    ProductionReceipt,
    PurchaseOrder,
    WorkOrderClosed,
    WorkOrderReleased,
)
from stockflow.masterdata import Catalog
from stores import warehouse
from stores.books import Books
from tests.support.factory import DAY, PLANT, SUBCONTRACTOR, at, factory_catalog, stock_in
from tests.support.restaurant_lake import write_restaurant_lake


def _ev(cls: type, event_id: str, minute: int, **kw: object) -> object:
    return cls(event_id=event_id, occurred_at=at(minute), source="mes", location=PLANT, **kw)


def a_week_at_plant_p1() -> list[object]:
    """Stock in; BASE-1 (10 bases, issued by hand, pressed, received in two lots, closed);
    SC-1 (4 bases painted by the subcontractor: sent, back with a fee of 60.00, closed);
    LAMP-1 (6 lamps, backflushed, 4 received, still open); LAMP-2 (20 lamps, released, nothing
    yet) and a purchase order of 10 shades due before LAMP-2."""
    q = Decimal
    return [
        stock_in("in-steel", "STEEL", "2000", "0.04", unit="dm2"),
        stock_in("in-screw", "SCREW", "200", "0.02"),
        stock_in("in-cable", "CABLE", "20", "3.00"),
        stock_in("in-shade", "SHADE", "10", "8.00"),
        stock_in("in-bulb", "BULB", "10", "2.00"),
        _ev(
            WorkOrderReleased, "rel-base-1", 10, work_order="BASE-1", product="BASE", qty=q(10), due_date=DAY
        ),
        _ev(MaterialIssued, "iss-1", 11, work_order="BASE-1", sku="STEEL", qty=q(275), unit="dm2"),
        _ev(MaterialIssued, "iss-2", 12, work_order="BASE-1", sku="SCREW", qty=q(42)),
        _ev(MaterialIssued, "iss-3", 13, work_order="BASE-1", sku="CABLE", qty=q(10)),
        _ev(OperationReported, "op-1", 14, work_order="BASE-1", operation="PRESS", good_qty=10, hours=q(2)),
        _ev(ProductionReceipt, "rc-1", 15, work_order="BASE-1", qty=q(4), batch="B-1"),
        _ev(ProductionReceipt, "rc-2", 16, work_order="BASE-1", qty=q(6), batch="B-2"),
        _ev(WorkOrderClosed, "cl-1", 17, work_order="BASE-1"),
        _ev(
            WorkOrderReleased,
            "rel-sc-1",
            20,
            work_order="SC-1",
            product="BASE",
            qty=q(4),
            due_date=DAY,
            subcontractor=SUBCONTRACTOR,
        ),
        _ev(MaterialIssued, "sc-iss-1", 21, work_order="SC-1", sku="STEEL", qty=q(110), unit="dm2"),
        _ev(MaterialIssued, "sc-iss-2", 22, work_order="SC-1", sku="SCREW", qty=q(17)),
        _ev(MaterialIssued, "sc-iss-3", 23, work_order="SC-1", sku="CABLE", qty=q(4)),
        _ev(ProductionReceipt, "sc-rc", 24, work_order="SC-1", qty=q(4), batch="B-SC", service_fee=q(60)),
        _ev(WorkOrderClosed, "sc-cl", 25, work_order="SC-1"),
        _ev(
            WorkOrderReleased,
            "rel-lamp-1",
            30,
            work_order="LAMP-1",
            product="LAMP",
            qty=q(6),
            due_date=DAY,
            backflush=True,
        ),
        _ev(OperationReported, "op-2", 31, work_order="LAMP-1", operation="ASSY", good_qty=4, hours=q(2)),
        _ev(ProductionReceipt, "rc-lamp", 32, work_order="LAMP-1", qty=q(4), batch="L-1"),
        _ev(
            WorkOrderReleased, "rel-lamp-2", 40, work_order="LAMP-2", product="LAMP", qty=q(20), due_date=DAY
        ),
        PurchaseOrder(
            event_id="po-shade",
            occurred_at=at(41),
            source="erp",
            location=PLANT,
            purchase_order="PO-9",
            supplier="STEELCO",
            sku="SHADE",
            qty=q(10),
            expected_date=DAY,
        ),
    ]


def build_editions_warehouse(var: Path) -> Catalog:
    """Store R1's restaurant day (`tests.support.restaurant_lake.a_day_at_store_r1`) and plant
    P1's week, one company's master data and one lake, posted and built once: the industry
    editions' marts and pages read it (their locations, SKUs and days are apart)."""
    from tests.support.restaurant import restaurant_catalog
    from tests.support.restaurant_lake import a_day_at_store_r1

    catalog = restaurant_catalog()
    factory = factory_catalog()
    catalog.skus.update(factory.skus)
    catalog.locations.update(factory.locations)
    catalog.suppliers.update(factory.suppliers)
    catalog.boms.update(factory.boms)
    write_restaurant_lake(var, catalog, [*a_day_at_store_r1(), *a_week_at_plant_p1()])
    Books(var, catalog).post_new_movements()
    result = warehouse.build(var, catalog, full=True)
    assert result.success, result.failures
    return catalog
