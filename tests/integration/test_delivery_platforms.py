"""Delivery platforms' callbacks through a real worker and the embedded broker: the module's
broker (`module_broker`) and one worker, started once with a Meituan app secret and master data
that knows Meituan's codes for store ST01 and one SKU.

The tests keep apart by order id: each looks for its own orders' events only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from lake import read_table
from simulator.company import build_catalog
from stockflow.delivery_platforms import CallbackKind, Platform, callback_event_id
from stockflow.masterdata import Alias
from streams.broker import ensure_topics
from tests.support import Worker, free_port, get_json, lake_dead_letters, settings_for, wait_until
from tests.support.network import auth_headers, call
from tests.support.platforms import meituan_order, signed

pytestmark = pytest.mark.integration

SECRET = "meituan-app-secret-for-the-tests"
SHOP = "MT-POI-1001"
DISH = "MT-DISH-7"
STORE = "ST01"
EAST_EIGHT = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def worker(module_broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("platforms")
    settings = settings_for(tmp / "var", module_broker.port, free_port())
    catalog = build_catalog(settings.seed)
    sku = next(
        code for code, s in sorted(catalog.skus.items()) if not s.batch_managed and not s.serial_managed
    )
    aliases = [
        Alias(system="meituan", code=SHOP, kind="location", target=STORE),
        Alias(system="meituan", code=DISH, kind="sku", target=sku),
    ]
    catalog.model_copy(update={"aliases": {a.key: a for a in aliases}}).save(settings.masterdata_path)
    ensure_topics(module_broker.bootstrap, settings.topic_partitions)
    with pytest.MonkeyPatch.context() as env:  # the worker process reads its secret from the environment
        env.setenv("STOCKFLOW_MEITUAN_APP_SECRET", SECRET)
        w = Worker(settings, settings.web_port, tmp).start()
    w.sku = sku
    yield w
    w.stop()


def post_callback(worker, envelope: dict) -> tuple[int, dict]:
    """POST as the platform does: no bearer token."""
    body = json.dumps(envelope, ensure_ascii=False).encode()
    return call(f"{worker.url}/platforms/meituan/callbacks", body, {"Content-Type": "application/json"})


def status_of(worker, event_id: str) -> str:
    return get_json(f"{worker.url}/events/{event_id}?location={STORE}")["status"]


def sale_rows(worker, event_id: str) -> list[dict]:
    table = read_table(worker.settings.lake_dir, "pos_transactions", ["event_id", "location", "payload"])
    return [row for row in table.to_pylist() if row["event_id"] == event_id]


def test_a_bad_signature_is_refused_and_a_signed_order_lands_once(worker):
    now = datetime.now(UTC)
    ordered = now.astimezone(EAST_EIGHT) - timedelta(minutes=3)
    forged = signed(
        Platform.MEITUAN,
        "not-the-secret",
        "order",
        meituan_order("9001", SHOP, ordered, [(DISH, 5, "30")]),
        now,
    )
    status, body = post_callback(worker, forged)
    assert status == 401 and body == {
        "data": "ng",
        "error": {"code": "bad_signature", "msg": "the signature does not match the body"},
    }
    unknown = signed(
        Platform.MEITUAN, SECRET, "order", meituan_order("9002", SHOP, ordered, [("MT-NOPE", 1, "1")]), now
    )
    status, body = post_callback(worker, unknown)
    assert status == 422 and body["data"] == "ng" and body["error"]["code"] == "unknown_item"

    good = signed(
        Platform.MEITUAN, SECRET, "order", meituan_order("9003", SHOP, ordered, [(DISH, 2, "28.00")]), now
    )
    assert post_callback(worker, good) == (200, {"data": "ok"})
    assert post_callback(worker, good) == (200, {"data": "ok"})  # the platform's retry
    sold = callback_event_id(Platform.MEITUAN, CallbackKind.ORDER, "9003")
    wait_until(lambda: status_of(worker, sold) == "landed", 60, "the signed order landed")
    wait_until(lambda: sale_rows(worker, sold), 30, "the sale in the lake")

    (row,) = sale_rows(worker, sold)  # the retry was a duplicate
    payload = json.loads(row["payload"])
    assert row["location"] == STORE and payload["store"] == STORE
    assert payload["channel"] == "delivery" and payload["ticket"] == "meituan:9003"
    assert [(line["sku"], line["qty"], line["unit_price"]) for line in payload["lines"]] == [
        (worker.sku, "2", "28.00")
    ]
    # the refused callbacks, same store and partition, sent before it: nothing of them arrived
    for refused in ("9001", "9002"):
        event_id = callback_event_id(Platform.MEITUAN, CallbackKind.ORDER, refused)
        assert sale_rows(worker, event_id) == []
        assert all(d["event_id"] != event_id for d in lake_dead_letters(worker.settings.lake_dir))
        assert status_of(worker, event_id) == "unknown"


def test_only_the_signed_post_skips_the_token(worker):
    url = f"{worker.url}/platforms/meituan/callbacks"
    assert call(url)[0] == 401  # a GET still needs a credential
    assert (
        call(f"{worker.url}/platforms/nobody/callbacks", b"{}", {"Content-Type": "application/json"})[0]
        == 401
    )
    status, body = call(url, b"app_id=1", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    status, body = post_callback(worker, {"app_id": "1"})
    assert status == 401 and body["error"]["code"] == "unsigned"
    # the Ele.me app secret is not set up on this worker: refused before anything is read
    eleme = f"{worker.url}/platforms/eleme/callbacks"
    status, body = call(eleme, b"{}", {"Content-Type": "application/json"})
    assert status == 403 and body["code"] == 403 and body["message"].startswith("platform_not_configured")
    assert call(url, None, auth_headers())[0] == 405  # with a credential, a GET finds no such method
