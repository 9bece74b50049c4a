"""Hostile input against one real worker: over ten thousand messages on Kafka and a few hundred
HTTP requests mixing overflowing and naive timestamps, NaN and Infinity, zero, negative and huge
quantities, megabyte strings, deep nesting, wrong types, confusable Unicode codes, conflicting
duplicates, wrong-scope credentials, cross-site-style requests and decompression-bomb photos.

The worker must never restart; every hostile Kafka message ends in the lake's dead letters with
a reason (and none as an internal error); every hostile request is answered 4xx with a reason;
the valid events in between are all booked, once; in = applied + duplicates + dead-lettered +
forwarded. The oracle is this file's own arithmetic over the valid events it sent."""

import json
import struct
import uuid
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer

from simulator.company import build_catalog
from stockflow.identity import Kind
from stores.credentials import CredentialStore
from streams.broker import EmbeddedBroker, ensure_topics
from tests.support import (
    Worker,
    free_port,
    get_json,
    lake_dead_letters,
    lake_event_ids,
    settings_for,
    wait_until,
)
from tests.support.network import auth_headers, call

pytestmark = pytest.mark.faults

SUPPLIER: dict[str, str] = {}
RECEIPTS = 600
SALES = 600
HOSTILE_ROUNDS = 700  # × the kinds below: well over 10,000 hostile messages


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    broker_port = free_port()
    settings = settings_for(tmp / "var", broker_port, free_port())
    catalog = build_catalog(settings.seed)
    catalog.save(settings.masterdata_path)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp / "broker.log")
    broker.start()
    ensure_topics(broker.bootstrap, settings.topic_partitions)
    w = Worker(settings, settings.web_port, tmp).start()
    w.catalog = catalog
    w.broker = broker
    SUPPLIER.update({code: s.supplier for code, s in catalog.skus.items()})
    yield w
    w.stop()
    broker.stop()


def plain_sku(catalog):
    """A SKU counted in `each`, without batches or a cold chain (its receipts need no more)."""
    return next(
        code
        for code, s in sorted(catalog.skus.items())
        if not s.batch_managed and not s.is_cold_chain and s.base_unit == "each" and s.supplier
    )


def receipt(event_id, sku, qty="10", at=None, **extra):
    return {
        "event_type": "goods_receipt",
        "event_id": event_id,
        "occurred_at": (at or datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "source": "rf-1",
        "location": "WH1",
        "purchase_order": "PO-H",
        "supplier": SUPPLIER[sku],
        "sku": sku,
        "qty": qty,
        "unit_cost": "2.00",
        **extra,
    }


def sale(event_id, sku, qty="1"):
    return {
        "event_type": "pos_sale",
        "event_id": event_id,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "source": "till-1",
        "store": "ST01",
        "ticket": event_id,
        "channel": "retail",
        "lines": [{"sku": sku, "qty": qty, "unit_price": "3.50"}],
    }


def hostile_kinds(sku, round_no, good_ids):
    """(kind, topic, key, value bytes) of one round of hostile messages."""
    n = f"{round_no}-{uuid.uuid4().hex[:6]}"

    def edit(body, **changes):
        return json.dumps({**body, **changes}, allow_nan=True).encode()

    base = receipt(f"h-{n}", sku)
    mb = "x" * (1024 * 1024)
    nest = 100_000 if round_no % 50 == 0 else 300
    out = [
        ("overflowing_time", edit(base, occurred_at="9999-12-31T23:00:00-08:00")),
        ("early_time", edit(base, occurred_at="0001-01-01T00:00:00+14:00")),
        ("future_time", edit(base, occurred_at=(datetime.now(UTC) + timedelta(days=3)).isoformat())),
        ("naive_time", edit(base, occurred_at="2026-11-30T10:00:00")),
        ("nan_qty", edit(base, qty=float("nan"))),
        ("infinite_qty", edit(base, qty=float("inf"))),
        ("zero_qty", edit(base, qty="0")),
        ("negative_qty", edit(base, qty="-5")),
        ("huge_qty", edit(base, qty="1e400")),
        ("huge_seq", edit(base, source_seq=10**30)),
        ("wrong_type_qty", edit(base, qty=[1, 2])),
        ("wrong_type_event_type", edit(base, event_type=["goods_receipt"])),
        ("not_an_object", json.dumps([base]).encode()),
        ("null", b"null"),
        ("deep_nesting", b"[" * nest + b"]" * nest),
        ("nested_field", edit(base, sku={"a": {"b": [[[[sku]]]]}})),
        ("fullwidth_location", edit(base, location="ＷＨ１")),
        ("cyrillic_location", edit(base, location="\u0421T01")),  # С (Cyrillic) T01
        ("zero_width_sku", edit(base, sku=sku + "\u200b")),
        ("unknown_type", edit(base, event_type="goods_reciept")),
        ("invalid_utf8", b'{"event_id": "\xff\xfe"}'),
        ("empty", b""),
        ("garbage", bytes(range(256))),
        # a reused id with another content: the valid receipt of this round, other quantity
        (
            "conflicting_duplicate",
            json.dumps(receipt(good_ids[round_no % len(good_ids)], sku, qty="999")).encode(),
        ),
    ]
    if round_no % 100 == 0:  # a few megabyte strings (they are big on the wire)
        out.append(("megabyte_string", edit(base, note=mb)))
        out.append(("megabyte_id", edit(base, event_id=mb)))
    return [(kind, "scans", "WH1", value) for kind, value in out]


def produce(bootstrap, messages):
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "message.max.bytes": 4_000_000}
    )
    for topic, key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def request(worker, path, body, headers):
    return call(f"{worker.url}{path}", body, headers)


def bomb_png(width=32000, height=32000):
    """A small PNG that declares width × height pixels (its data compresses to almost nothing)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compressobj(9)
    data = b"".join(rows.compress(b"\0" * (width + 1)) for _ in range(64)) + rows.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_hostile_input_never_stops_the_stream(worker):
    sku = plain_sku(worker.catalog)
    pid = worker.proc.pid
    good_receipts = [f"good-r-{i}" for i in range(RECEIPTS)]
    messages, kinds = [], Counter()
    for i in range(HOSTILE_ROUNDS):
        # the valid receipt first: the round's conflicting copy comes after it on the same partition
        messages.append(("scans", "WH1", json.dumps(receipt(good_receipts[i % RECEIPTS], sku)).encode()))
        for kind, topic, key, value in hostile_kinds(sku, i, good_receipts[: i + 1]):
            messages.append((topic, key, value))
            kinds[kind] += 1
    for i in range(SALES):
        messages.append(("pos_transactions", "ST01", json.dumps(sale(f"good-s-{i}", sku)).encode()))
    hostile = sum(kinds.values())
    assert hostile >= 10_000
    repeats = HOSTILE_ROUNDS - RECEIPTS  # rounds past the receipts send a receipt again: duplicates
    produce(worker.broker.bootstrap, messages)

    def settled():
        h = get_json(f"{worker.url}/health")
        c = h["counters"]
        return (
            c.get("applied", 0) >= RECEIPTS + SALES
            and c.get("dead_lettered", 0) >= hostile
            and not h["lake_pending_rows"]
            and h
        )

    health = wait_until(settled, 300, "every message decided and landed", 1.0)
    c = Counter(health["counters"])
    assert worker.proc.pid == pid and worker.proc.poll() is None, "the worker restarted"
    assert c["applied"] == RECEIPTS + SALES
    assert c["duplicates"] == repeats
    assert c["dead_lettered"] == hostile
    assert c["dead_lettered.internal_error"] == 0, "a hostile message reached a code path as a crash"
    assert c["in"] == c["applied"] + c["duplicates"] + c["dead_lettered"] + c["rerouted"]

    dead = lake_dead_letters(worker.settings.lake_dir)
    assert len(dead) == hostile
    assert all(d["reason"] and d["detail"] for d in dead)
    reasons = Counter(d["reason"] for d in dead)
    assert (
        reasons["implausible_time"] == kinds["overflowing_time"] + kinds["early_time"] + kinds["future_time"]
    )
    assert reasons["conflicting_duplicate"] == kinds["conflicting_duplicate"]
    ids = lake_event_ids(worker.settings.lake_dir)
    assert len(ids) == len(set(ids)) == RECEIPTS + SALES
    stock = get_json(f"{worker.url}/stock/WH1/{sku}")
    assert stock["on_hand"] == RECEIPTS * 10
    assert get_json(f"{worker.url}/stock/ST01/{sku}")["on_hand"] == -SALES


def test_hostile_requests_are_answered_4xx_with_the_reason(worker):
    sku = plain_sku(worker.catalog)
    pid = worker.proc.pid
    _, till = CredentialStore(worker.settings.credentials_path).add(
        f"till-{uuid.uuid4().hex[:6]}", Kind.DEVICE, ["ST01"], ["pos_sale"]
    )
    js = {"Content-Type": "application/json", **auth_headers()}
    answers = []
    for kind, _, _, value in hostile_kinds(sku, 100, ["good-r-0"]) * 8:
        if kind == "not_an_object":  # over HTTP a list of events is a batch, not an attack
            continue
        answers.append((kind, *request(worker, "/events", value or b"{}", js)))
    cases = [
        ("no_token", "/events", json.dumps(sale("x1", sku)).encode(), {"Content-Type": "application/json"}),
        (
            "bad_token",
            "/events",
            b"{}",
            {"Content-Type": "application/json", "Authorization": "Bearer sf_1_2"},
        ),
        (
            "wrong_scope",
            "/events",
            json.dumps(receipt("x2", sku)).encode(),
            {"Content-Type": "application/json", **auth_headers(till)},
        ),
        ("wrong_scope_read", "/reconcile/WH1", None, auth_headers(till)),
        (
            "text_plain",
            "/events",
            json.dumps(sale("x3", sku)).encode(),
            {"Content-Type": "text/plain", **auth_headers()},
        ),
        ("form", "/events", b"a=1", {"Content-Type": "application/x-www-form-urlencoded", **auth_headers()}),
        ("rebinding", "/events", b"{}", {**js, "Host": "stockflow.attacker.example"}),
        ("oversize", "/events", b"[" + b" " * (2 * 1024 * 1024) + b"]", js),
        ("too_many", "/events", json.dumps([sale(f"m{i}", sku) for i in range(1001)]).encode(), js),
        ("alerts_text", "/alerts", b"{}", {"Content-Type": "text/plain", **auth_headers()}),
        ("alerts_by_device", "/alerts", b"{}", {"Content-Type": "application/json", **auth_headers(till)}),
    ]
    for kind, path, body, headers in cases * 10:
        answers.append((kind, *request(worker, path, body, headers)))
    bomb = bomb_png()
    assert len(bomb) < 200_000
    boundary = "----b"
    for _ in range(8):
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + bomb
            + f"\r\n--{boundary}--\r\n".encode()
        )
        for field, value in (("supplier", "SUP-1"), ("sku", sku), ("location", "WH1")):
            form = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'.encode()
                + form
            )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", **auth_headers()}
        answers.append(("bomb_photo", *request(worker, "/inspections", form, headers)))

    statuses = Counter((kind, status) for kind, status, _ in answers)
    assert all(400 <= status < 500 for _, status, _ in answers), statuses
    assert all(body.get("error") or body.get("errors") for _, _, body in answers), statuses
    expected = {"no_token": 401, "bad_token": 401, "wrong_scope": 403, "wrong_scope_read": 403, "text_plain": 415,
                "form": 415, "rebinding": 421, "oversize": 413, "too_many": 413, "alerts_text": 415,
                "alerts_by_device": 403, "conflicting_duplicate": 409, "bomb_photo": 413}  # fmt: skip
    for kind, status, body in answers:
        if kind in expected:
            assert status == expected[kind], (kind, status, body)
    assert len(answers) >= 300
    assert worker.proc.pid == pid and worker.proc.poll() is None
    assert get_json(f"{worker.url}/health")["ready"]
