"""Delivery platforms' callbacks: signatures, replay window, mapping onto till events with the
platform's aliases, deterministic ids, and the acknowledgements each platform expects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from stockflow.delivery_platforms import (
    CallbackKind,
    CallbackRefused,
    Platform,
    acknowledgement,
    callback_event_id,
    canonical_string,
    pos_event,
    read_callback,
    refusal,
    sign_envelope,
    verify_envelope,
)
from stockflow.events import PosReturn, PosSale, SalesChannel, parse_event
from stockflow.masterdata import Alias, Catalog
from tests.support.platforms import (
    eleme_cancel,
    eleme_order,
    eleme_refund,
    meituan_cancel,
    meituan_order,
    meituan_refund,
    signed,
)

SECRET = "mt-app-secret-0123456789"
EAST_EIGHT = timezone(timedelta(hours=8))
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ORDERED = datetime(2026, 3, 2, 19, 45, tzinfo=EAST_EIGHT)
SKEW = 300.0
ITEMS = [("MT-DISH-7", 2, "28.00"), ("MT-DISH-9", 1, "6.50")]


@pytest.fixture
def aliased(catalog: Catalog) -> Catalog:
    """The unit catalogue with Meituan's and Ele.me's codes for store S1 and both SKUs, and an
    ERP alias that only the ERP may use."""
    aliases = [
        Alias(system="meituan", code="MT-POI-1001", kind="location", target="S1"),
        Alias(system="meituan", code="MT-DISH-7", kind="sku", target="MILK-1L"),
        Alias(system="meituan", code="MT-DISH-9", kind="sku", target="RICE-5KG"),
        Alias(system="eleme", code="E-SHOP-88", kind="location", target="S1"),
        Alias(system="eleme", code="E-7001", kind="sku", target="RICE-5KG"),
        Alias(system="legacy_erp", code="ERP-STORE", kind="location", target="S1"),
    ]
    return catalog.model_copy(update={"aliases": {a.key: a for a in aliases}})


def meituan(kind: str, payload: dict, sent_at: datetime = NOW, secret: str = SECRET) -> dict:
    return signed(Platform.MEITUAN, secret, kind, payload, sent_at)


def refused(call) -> CallbackRefused:
    with pytest.raises(CallbackRefused) as caught:
        call()
    return caught.value


# ------------------------------------------------------------------ signatures


def test_canonical_string_sorts_fields_and_leaves_the_signature_out():
    envelope = {"timestamp": 5, "kind": "order", "app_id": "1", "payload": '{"a":1}', "sig": "x"}
    assert canonical_string(envelope, "sig") == 'app_id=1&kind=order&payload={"a":1}&timestamp=5'


def test_a_good_signature_is_taken_for_both_platforms():
    payload = meituan_order("27061900338318541", "MT-POI-1001", ORDERED, ITEMS)
    verify_envelope(Platform.MEITUAN, SECRET, meituan("order", payload), NOW, SKEW)
    eleme = signed(Platform.ELEME, SECRET, "order", eleme_order("30098", "E-SHOP-88", ORDERED, []), NOW)
    verify_envelope(Platform.ELEME, SECRET, eleme, NOW, SKEW)


def test_a_signature_made_with_another_secret_is_refused():
    envelope = meituan("order", meituan_order("1", "MT-POI-1001", ORDERED, ITEMS), secret="not-the-secret")
    exc = refused(lambda: verify_envelope(Platform.MEITUAN, SECRET, envelope, NOW, SKEW))
    assert (exc.status, exc.reason) == (401, "bad_signature")


def test_a_tampered_body_is_refused():
    envelope = meituan("order", meituan_order("1", "MT-POI-1001", ORDERED, ITEMS))
    tampered = {**envelope, "payload": envelope["payload"].replace('"quantity": 2', '"quantity": 20')}
    assert tampered["payload"] != envelope["payload"]
    exc = refused(lambda: verify_envelope(Platform.MEITUAN, SECRET, tampered, NOW, SKEW))
    assert exc.reason == "bad_signature"
    # moving text from one signed field into another changes the signed string too
    moved = {**envelope, "app_id": envelope["app_id"] + "&kind=order", "kind": "order"}
    assert (
        refused(lambda: verify_envelope(Platform.MEITUAN, SECRET, moved, NOW, SKEW)).reason == "bad_signature"
    )


def test_an_unsigned_or_malformed_envelope_is_refused():
    envelope = meituan("order", meituan_order("1", "MT-POI-1001", ORDERED, ITEMS))
    unsigned = {k: v for k, v in envelope.items() if k != "sig"}
    assert refused(lambda: verify_envelope(Platform.MEITUAN, SECRET, unsigned, NOW, SKEW)).status == 401
    nested = {**envelope, "payload": {"order_id": "1"}}
    assert (
        refused(lambda: verify_envelope(Platform.MEITUAN, SECRET, nested, NOW, SKEW)).reason == "bad_envelope"
    )
    assert refused(lambda: verify_envelope(Platform.MEITUAN, SECRET, [envelope], NOW, SKEW)).status == 400


@pytest.mark.parametrize("platform", list(Platform))
def test_a_stale_or_future_timestamp_is_refused_even_when_signed(platform):
    payload = meituan_order("1", "MT-POI-1001", ORDERED, ITEMS)
    for sent in (NOW - timedelta(seconds=SKEW + 5), NOW + timedelta(seconds=SKEW + 5)):
        envelope = signed(platform, SECRET, "order", payload, sent)
        exc = refused(lambda envelope=envelope: verify_envelope(platform, SECRET, envelope, NOW, SKEW))
        assert (exc.status, exc.reason) == (401, "stale_timestamp")
    within = signed(platform, SECRET, "order", payload, NOW - timedelta(seconds=SKEW - 5))
    verify_envelope(platform, SECRET, within, NOW, SKEW)


def test_the_payload_is_not_read_before_the_signature_is_checked():
    """A body whose payload is not even JSON is refused for its signature, not its payload."""
    envelope = {
        "app_id": "1",
        "timestamp": int(NOW.timestamp()),
        "kind": "order",
        "payload": "{{{",
        "sig": "0",
    }
    assert (
        refused(lambda: read_callback(Platform.MEITUAN, SECRET, envelope, NOW, SKEW)).reason
        == "bad_signature"
    )
    envelope["sig"] = sign_envelope(Platform.MEITUAN, SECRET, envelope)
    assert (
        refused(lambda: read_callback(Platform.MEITUAN, SECRET, envelope, NOW, SKEW)).reason == "bad_payload"
    )


# ------------------------------------------------------------------ mapping


def test_an_order_becomes_a_delivery_sale_with_our_codes(aliased):
    envelope = meituan("order", meituan_order("27061900338318541", "MT-POI-1001", ORDERED, ITEMS))
    event = pos_event(read_callback(Platform.MEITUAN, SECRET, envelope, NOW, SKEW), aliased)
    assert isinstance(event, PosSale)
    assert event.channel is SalesChannel.DELIVERY
    assert (event.store, event.source, event.ticket) == ("S1", "meituan", "meituan:27061900338318541")
    assert event.occurred_at == ORDERED and event.occurred_at.utcoffset() == timedelta(hours=8)
    assert [(line.sku, line.qty, line.unit, line.unit_price) for line in event.lines] == [
        ("MILK-1L", Decimal(2), "each", Decimal("28.00")),
        ("RICE-5KG", Decimal(1), "each", Decimal("6.50")),
    ]
    assert event.event_id == callback_event_id(Platform.MEITUAN, CallbackKind.ORDER, "27061900338318541")
    assert parse_event(json.loads(event.model_dump_json())) == event  # a valid till event


def test_an_eleme_order_reads_its_baskets_and_its_own_aliases(aliased):
    order = eleme_order("3009876543210987654", "E-SHOP-88", ORDERED, [("E-7001", 3, "12.80")])
    envelope = signed(Platform.ELEME, SECRET, "order", order, NOW)
    event = pos_event(read_callback(Platform.ELEME, SECRET, envelope, NOW, SKEW), aliased)
    assert isinstance(event, PosSale) and event.store == "S1"
    assert [(line.sku, line.qty, line.unit_price) for line in event.lines] == [
        ("RICE-5KG", Decimal(3), Decimal("12.80"))
    ]
    assert event.source == "eleme" and event.ticket == "eleme:3009876543210987654"


def test_a_price_sent_as_a_json_number_stays_exact(aliased):
    order = meituan_order("1", "MT-POI-1001", ORDERED, [("MT-DISH-7", 1, "0")])
    order["items"][0]["price"] = 0.1
    envelope = meituan("order", order)
    event = pos_event(read_callback(Platform.MEITUAN, SECRET, envelope, NOW, SKEW), aliased)
    assert event.lines[0].unit_price == Decimal("0.1")


@pytest.mark.parametrize(
    ("platform", "payload"),
    [
        (Platform.MEITUAN, meituan_cancel("88", "MT-POI-1001", ORDERED, ITEMS, preparation_started=False)),
        (
            Platform.ELEME,
            eleme_cancel("88", "E-SHOP-88", ORDERED, [("E-7001", 1, "9")], cooking_started=False),
        ),
    ],
)
def test_a_cancellation_before_preparation_returns_the_order_and_its_ingredients(aliased, platform, payload):
    envelope = signed(platform, SECRET, "cancel", payload, NOW)
    event = pos_event(read_callback(platform, SECRET, envelope, NOW, SKEW), aliased)
    assert isinstance(event, PosReturn)
    assert event.restock_ingredients is True
    assert event.channel is SalesChannel.DELIVERY
    assert event.original_ticket == f"{platform.value}:88" and event.ticket == f"{platform.value}:88:cancel"
    assert event.event_id == callback_event_id(platform, CallbackKind.CANCEL, "88")


def test_a_cancellation_after_preparation_started_keeps_the_ingredients_consumed(aliased):
    payload = meituan_cancel("88", "MT-POI-1001", ORDERED, ITEMS, preparation_started=True)
    event = pos_event(read_callback(Platform.MEITUAN, SECRET, meituan("cancel", payload), NOW, SKEW), aliased)
    assert isinstance(event, PosReturn) and event.restock_ingredients is False


@pytest.mark.parametrize(
    ("platform", "payload"),
    [
        (Platform.MEITUAN, meituan_refund("77", "R-1", "MT-POI-1001", ORDERED, [("MT-DISH-9", 1, "6.50")])),
        (Platform.ELEME, eleme_refund("77", "R-1", "E-SHOP-88", ORDERED, [("E-7001", 1, "6.50")])),
    ],
)
def test_a_refund_of_some_items_returns_those_items_only(aliased, platform, payload):
    envelope = signed(platform, SECRET, "refund", payload, NOW)
    event = pos_event(read_callback(platform, SECRET, envelope, NOW, SKEW), aliased)
    assert isinstance(event, PosReturn)
    assert [(line.sku, line.qty, line.unit_price) for line in event.lines] == [
        ("RICE-5KG", Decimal(1), Decimal("6.50"))
    ]
    assert event.restock_ingredients is False
    assert event.original_ticket == f"{platform.value}:77"
    assert event.event_id == callback_event_id(platform, CallbackKind.REFUND, "77", "R-1")


def test_an_unknown_store_or_item_is_refused_with_a_reason(aliased):
    unknown_shop = meituan("order", meituan_order("1", "MT-POI-9999", ORDERED, ITEMS))
    exc = refused(
        lambda: pos_event(read_callback(Platform.MEITUAN, SECRET, unknown_shop, NOW, SKEW), aliased)
    )
    assert (exc.status, exc.reason) == (422, "unknown_store") and "MT-POI-9999" in exc.detail
    unknown_item = meituan("order", meituan_order("1", "MT-POI-1001", ORDERED, [("MT-DISH-404", 1, "1")]))
    exc = refused(
        lambda: pos_event(read_callback(Platform.MEITUAN, SECRET, unknown_item, NOW, SKEW), aliased)
    )
    assert exc.reason == "unknown_item" and "MT-DISH-404" in exc.detail


def test_aliases_of_another_system_do_not_apply(aliased):
    """Meituan's shop id is looked up among Meituan's aliases only; our own codes are ours."""
    erp = meituan("order", meituan_order("1", "ERP-STORE", ORDERED, ITEMS))
    assert refused(
        lambda: pos_event(read_callback(Platform.MEITUAN, SECRET, erp, NOW, SKEW), aliased)
    ).reason == ("unknown_store")
    eleme_code_at_meituan = meituan("order", meituan_order("1", "E-SHOP-88", ORDERED, ITEMS))
    assert (
        refused(
            lambda: pos_event(
                read_callback(Platform.MEITUAN, SECRET, eleme_code_at_meituan, NOW, SKEW), aliased
            )
        ).reason
        == "unknown_store"
    )
    ours = meituan("order", meituan_order("1", "S1", ORDERED, [("RICE-5KG", 1, "5")]))
    event = pos_event(read_callback(Platform.MEITUAN, SECRET, ours, NOW, SKEW), aliased)
    assert (event.store, event.lines[0].sku) == ("S1", "RICE-5KG")


def test_a_naive_order_time_is_refused(aliased):
    order = meituan_order("1", "MT-POI-1001", ORDERED, ITEMS)
    order["order_time"] = "2026-03-02T19:45:00"
    exc = refused(lambda: read_callback(Platform.MEITUAN, SECRET, meituan("order", order), NOW, SKEW))
    assert exc.reason == "bad_payload" and "order_time" in exc.detail


# ------------------------------------------------------------------ ids and answers


def test_a_callback_sent_again_maps_to_the_same_event(aliased):
    payload = meituan_refund("77", "R-1", "MT-POI-1001", ORDERED, [("MT-DISH-9", 1, "6.50")])
    first = pos_event(read_callback(Platform.MEITUAN, SECRET, meituan("refund", payload), NOW, SKEW), aliased)
    later = NOW + timedelta(seconds=40)
    again = meituan("refund", payload, sent_at=later)
    second = pos_event(read_callback(Platform.MEITUAN, SECRET, again, later, SKEW), aliased)
    assert first == second


def test_event_ids_differ_by_platform_order_kind_and_refund():
    ids = {
        callback_event_id(Platform.MEITUAN, CallbackKind.ORDER, "1"),
        callback_event_id(Platform.ELEME, CallbackKind.ORDER, "1"),
        callback_event_id(Platform.MEITUAN, CallbackKind.ORDER, "2"),
        callback_event_id(Platform.MEITUAN, CallbackKind.CANCEL, "1"),
        callback_event_id(Platform.MEITUAN, CallbackKind.REFUND, "1", "R-1"),
        callback_event_id(Platform.MEITUAN, CallbackKind.REFUND, "1", "R-2"),
    }
    assert len(ids) == 6
    assert callback_event_id(Platform.MEITUAN, CallbackKind.ORDER, "1") == callback_event_id(
        Platform.MEITUAN, CallbackKind.ORDER, "1"
    )
    assert all(len(i) <= 64 for i in ids)


def test_each_platform_is_answered_in_its_own_shape():
    assert acknowledgement(Platform.MEITUAN) == {"data": "ok"}
    assert acknowledgement(Platform.ELEME) == {"code": 200, "message": "ok"}
    bad = CallbackRefused(401, "bad_signature", "the signature does not match the body")
    assert refusal(Platform.MEITUAN, bad) == {
        "data": "ng",
        "error": {"code": "bad_signature", "msg": "the signature does not match the body"},
    }
    assert refusal(Platform.ELEME, bad) == {
        "code": 401,
        "message": "bad_signature: the signature does not match the body",
    }


def test_the_app_secrets_are_never_shown(monkeypatch):
    from stockflow.config import Settings

    monkeypatch.setenv("STOCKFLOW_MEITUAN_APP_SECRET", SECRET)
    settings = Settings()
    assert settings.platform_secret("meituan") == SECRET
    assert settings.platform_secret("eleme") is None
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_the_examples_in_the_api_docs_are_signed_as_documented():
    """docs/en/api.md and docs/zh/api.md show these envelopes signed with `demo-secret`."""
    from pathlib import Path

    docs = Path(__file__).parents[2] / "docs"
    for language in ("en", "zh"):
        text = (docs / language / "api.md").read_text()
        blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
        envelopes = [json.loads(b) for b in blocks if b.lstrip().startswith('{\n  "')]
        by_platform = {Platform.MEITUAN: "sig", Platform.ELEME: "signature"}
        checked = 0
        for envelope in envelopes:
            for platform, field in by_platform.items():
                if field in envelope:
                    assert sign_envelope(platform, "demo-secret", envelope) == envelope[field], language
                    checked += 1
        assert checked == 2, language
