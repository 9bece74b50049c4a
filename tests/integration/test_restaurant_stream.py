"""The industry editions through a real worker and the embedded broker. The restaurant: dishes
sold at the till and through a delivery platform take their ingredients, a prep makes a batch,
and a channel's quota running out is published on ``menu_availability`` and raised as an
alert. The factory: a work order's steps land with their cost rows, and the steps the ledger
refuses (over-issue, a material not on the BOM, a receipt beyond the order) are dead-lettered
while the stream goes on.

One module broker and one worker (a worker start costs a group join), started once over the
test restaurant's master data (`tests.support.restaurant`) with Meituan's codes for store R1
and its dumplings, and the test factory's (`tests.support.factory`: its plant, BOMs and
materials). The tests keep apart by event ids, locations and SKUs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from aiokafka import AIOKafkaConsumer

from lake import read_table
from stockflow.delivery_platforms import Platform
from stockflow.events import ChannelQuota, MaterialIssued, ProductionReceipt, encode_event
from stockflow.masterdata import Alias
from streams.broker import ensure_topics
from tests.support import Worker, free_port, post_json, settings_for, wait_until
from tests.support.factory import PLANT, factory_catalog
from tests.support.factory import stock_in as material_in
from tests.support.factory_lake import a_week_at_plant_p1
from tests.support.network import auth_headers, call
from tests.support.platforms import meituan_order, signed
from tests.support.restaurant import prep, restaurant_catalog, stock_in, ticket

pytestmark = pytest.mark.integration

SECRET = "meituan-secret-of-the-restaurant-tests"
EAST_EIGHT = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def worker(module_broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("restaurant")
    settings = settings_for(tmp / "var", module_broker.port, free_port())
    factory = factory_catalog()
    catalog = restaurant_catalog()
    catalog.skus.update(factory.skus)
    catalog.locations.update(factory.locations)
    catalog.suppliers.update(factory.suppliers)
    catalog.boms.update(factory.boms)
    for alias in (
        Alias(system="meituan", code="MT-SHOP-R1", kind="location", target="R1"),
        Alias(system="meituan", code="MT-DUMPLINGS", kind="sku", target="DUMPLINGS"),
    ):
        catalog.aliases[alias.key] = alias
    catalog.save(settings.masterdata_path)
    ensure_topics(module_broker.bootstrap, settings.topic_partitions)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STOCKFLOW_MEITUAN_APP_SECRET", SECRET)
        started = Worker(settings, settings.web_port, tmp).start()
    yield started
    started.stop()


def send(worker, *events) -> None:
    status, body = post_json(f"{worker.url}/events", [json.loads(encode_event(e)) for e in events])
    assert status == 202, body


def stock(worker, sku: str) -> dict:
    """The served position of a SKU at R1 (None before the worker has seen it)."""
    status, body = call(f"{worker.url}/stock/R1/{sku}", None, auth_headers())
    return body if status == 200 else {"on_hand": None, "reserved": None}


def landed(worker, event_ids: set[str]) -> list[dict]:
    table = read_table(worker.settings.lake_dir, "inventory_changed")
    return [r for r in table.to_pylist() if r["event_id"] in event_ids]


def test_dishes_and_a_prep_take_their_ingredients_through_the_stream(worker):
    send(
        worker,
        stock_in("rs-in-1", "FLOUR", "5000", "RS-F1", date(2026, 3, 20)),
        stock_in("rs-in-2", "BONES", "8000", "RS-B1", date(2026, 3, 20)),
        stock_in("rs-in-3", "GINGER", "1000", None, None),
    )
    wait_until(lambda: stock(worker, "GINGER")["on_hand"] == 1000, 60, "the receipts applied")
    send(worker, prep("rs-p1", "2000", batch="RS-BR1"))
    wait_until(lambda: stock(worker, "BROTH")["on_hand"] == 2000, 60, "the broth made")
    assert stock(worker, "BONES")["on_hand"] == 8000 - 1875
    send(worker, ticket("rs-t1", ("NOODLES", "3", "portion")))
    # 3 portions of noodles: 450 g flour and 1,200 ml broth
    wait_until(lambda: stock(worker, "BROTH")["on_hand"] == 800, 60, "the noodles sold")
    assert stock(worker, "FLOUR")["on_hand"] == 5000 - 450
    rows = wait_until(
        lambda: (found := landed(worker, {"rs-t1:1"})) and len(found) == 3 and found,
        60,
        "the ticket's rows in the lake",
    )
    by_sku = {r["sku"]: r for r in rows}
    assert (by_sku["NOODLES"]["portions"], by_sku["NOODLES"]["on_hand_delta"]) == (3, 0)
    assert (by_sku["BROTH"]["dish"], by_sku["BROTH"]["on_hand_delta"]) == ("NOODLES", -1200)


def _menu_messages(bootstrap: str, store: str) -> list[dict]:
    async def read() -> list[dict]:
        consumer = AIOKafkaConsumer(
            "menu_availability", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=2000)
            return [
                json.loads(m.value)
                for records in batches.values()
                for m in records
                if m.key == store.encode()
            ]
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_a_quota_running_out_is_published_and_alerted(worker, module_broker):
    send(
        worker,
        stock_in("rq-in-1", "PORK", "200", "RQ-P1", date(2026, 3, 20)),
        stock_in("rq-in-2", "SCALLION", "40", "RQ-S1", date(2026, 3, 20)),
    )
    wait_until(lambda: stock(worker, "SCALLION")["on_hand"] == 40, 60, "the receipts applied")
    quota = ChannelQuota(
        event_id="rq-q1",
        occurred_at=datetime(2026, 3, 2, 4, 0, tzinfo=UTC),
        source="manager",
        location="R1",
        channel="takeout",
        dish="DUMPLINGS",
        portions=2,
    )
    send(worker, quota)
    wait_until(lambda: stock(worker, "PORK")["reserved"] == 200, 60, "the quota kept")
    send(worker, ticket("rq-t1", ("DUMPLINGS", "2", "portion"), channel="takeout", minutes=70))
    messages = wait_until(
        lambda: [
            m for m in _menu_messages(module_broker.bootstrap, "R1") if m["event_id"].startswith("rq-t1:")
        ],
        60,
        "the sold-out message",
    )
    assert {(m["dish"], m["channel"], m["sold_out"]) for m in messages} >= {("DUMPLINGS", "takeout", True)}

    def alerted() -> list[dict]:
        table = read_table(worker.settings.lake_dir, "alerts")
        return [a for a in table.to_pylist() if a["alert_type"] == "sold_out" and a["location"] == "R1"]

    assert wait_until(alerted, 60, "the sold-out alert")


def test_a_delivery_order_of_a_dish_takes_its_ingredients(worker):
    send(worker, stock_in("rd-in-1", "TEA-LEAF", "300", None, None))
    wait_until(lambda: stock(worker, "TEA-LEAF")["on_hand"] == 300, 60, "the tea leaves received")
    send(
        worker,
        stock_in("rd-in-2", "PORK", "1000", "RD-P1", date(2026, 3, 25)),
        stock_in("rd-in-3", "SCALLION", "1000", "RD-S1", date(2026, 3, 25)),
    )
    wait_until(lambda: stock(worker, "SCALLION")["on_hand"] >= 1000, 60, "the receipts applied")
    pork = stock(worker, "PORK")["on_hand"]
    now = datetime.now(UTC)
    envelope = signed(
        Platform.MEITUAN,
        SECRET,
        "order",
        meituan_order("RD-9001", "MT-SHOP-R1", now.astimezone(EAST_EIGHT), [("MT-DUMPLINGS", 2, "26")]),
        now,
    )
    status, body = call(
        f"{worker.url}/platforms/meituan/callbacks",
        json.dumps(envelope).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and body == {"data": "ok"}, body
    wait_until(lambda: stock(worker, "PORK")["on_hand"] == pork - 200, 60, "the delivered dumplings made")


def test_a_work_order_lands_its_cost_rows_and_its_refused_steps_are_dead_lettered(worker):
    week = a_week_at_plant_p1()
    send(worker, *week[:13])  # stock in, then BASE-1 from release to close
    wait_until(lambda: plant_stock(worker, "BASE") == 10, 60, "the bases received")
    at = week[6].occurred_at

    def issue(event_id: str, order: str, sku: str, qty: int, unit: str = "each") -> MaterialIssued:
        return MaterialIssued(
            event_id=event_id,
            occurred_at=at,
            source="mes",
            location=PLANT,
            work_order=order,
            sku=sku,
            qty=qty,
            unit=unit,
        )

    send(worker, *week[13:17])  # SC-1 released, its materials sent to the subcontractor
    send(
        worker,
        issue("bad-order", "WO-NONE", "SCREW", 1),  # no such work order
        issue("bad-steel", "SC-1", "STEEL", 1, "dm2"),  # 110 dm² was the whole need with scrap
        issue("bad-bulb", "SC-1", "BULB", 1),  # not on the BOM of a base
        ProductionReceipt(
            event_id="bad-five",
            occurred_at=at,
            source="mes",
            location=PLANT,
            work_order="SC-1",
            qty=5,
            batch="B-SC",
        ),  # the order makes 4
        material_in("fx-in-again", "SCREW", "1", "0.02"),
        week[17],  # SC-1 back with its fee
    )
    send(worker, week[17], week[18])  # the receipt again (a duplicate), then the close
    wait_until(lambda: plant_stock(worker, "BASE") == 14, 60, "the subcontracted bases back")
    wait_until(lambda: len(dead_letters(worker, "bad-")) == 4, 60, "the refused steps dead-lettered")
    assert dead_letters(worker, "bad-") == {
        "bad-order": "unknown_work_order",
        "bad-steel": "over_issue",
        "bad-bulb": "not_on_bom",
        "bad-five": "completion_beyond_order",
    }
    rows = {(r["event_id"], r["sku"]): r for r in landed(worker, {"op-1", "rc-1", "rc-2", "sc-rc", "cl-1"})}
    assert (rows[("op-1", "BASE")]["labour"], rows[("op-1", "BASE")]["overhead"]) == (70, 50)
    assert rows[("rc-1", "BASE")]["order_open_qty"] == 10 and rows[("rc-2", "BASE")]["order_open_qty"] == 6
    assert rows[("sc-rc", "BASE")]["service_fee"] == 60
    assert rows[("sc-rc", "BASE")]["counterparty"] == "SC1"
    assert rows[("cl-1", "BASE")]["on_hand_delta"] == 0
    # the duplicate receipt landed once
    assert [r["on_hand_delta"] for r in landed(worker, {"sc-rc"}) if r["sku"] == "BASE"] == [4]


def plant_stock(worker, sku: str) -> int | None:
    status, body = call(f"{worker.url}/stock/{PLANT}/{sku}", None, auth_headers())
    return body["on_hand"] if status == 200 else None


def dead_letters(worker, prefix: str) -> dict[str, str]:
    table = read_table(worker.settings.lake_dir, "dead_letters")
    return {r["event_id"]: r["reason"] for r in table.to_pylist() if r["event_id"].startswith(prefix)}
