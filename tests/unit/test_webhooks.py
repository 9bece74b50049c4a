import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from stockflow.webhooks import (
    PayloadFormat,
    RetryPolicy,
    Subscriber,
    payload,
    sign,
    signed_headers,
    subscribers_from_json,
    verify_signature,
)

SECRET = "s3cret-s3cret-s3cret"
CHANGE = {
    "event_id": "e1", "event_type": "pos_sale", "location": "ST01", "occurred_at": "2026-11-01T10:00:00+08:00",
    "changes": [{"sku": "MILK-1L", "batch": "B1", "delta": {"on_hand": -2}, "position": {"on_hand": 22}}],
}  # fmt: skip
ALERT = {
    "alert_id": "a1", "alert_type": "temperature_excursion", "severity": "critical", "location": "ST02",
    "message": "chiller at 9.5 °C for 20 min", "occurred_at": "2026-11-01T10:00:00+08:00",
}  # fmt: skip


def subscriber(**overrides):
    return Subscriber(
        **{
            "name": "ops",
            "url": "http://127.0.0.1:9/hook",
            "events": {"alerts"},
            "secret": SECRET,
            **overrides,
        }
    )


def test_the_signature_is_hmac_sha256_of_timestamp_and_body():
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, body) == f"sha256={expected}"
    headers = signed_headers(subscriber(), "ops:alerts:a1", "alerts", body, 1700000000)
    assert headers["X-Stockflow-Delivery"] == "ops:alerts:a1" and headers["X-Stockflow-Event"] == "alerts"
    assert verify_signature(SECRET, headers, body, now=1700000100) is None


def test_a_receiver_refuses_forged_tampered_stale_and_unsigned_requests():
    body = b'{"a":1}'
    headers = signed_headers(subscriber(), "d", "alerts", body, 1700000000)
    assert verify_signature("another-secret-entirely", headers, body, 1700000000) == "bad signature"
    assert verify_signature(SECRET, headers, b'{"a":2}', 1700000000) == "bad signature"
    assert verify_signature(SECRET, headers, body, 1700000000 + 301) == "outside the replay window"
    assert verify_signature(SECRET, {}, body, 1700000000) == "unsigned"
    lowercase = {k.lower(): v for k, v in headers.items()}
    assert verify_signature(SECRET, lowercase, body, 1700000000) is None


def test_retries_back_off_exponentially_up_to_a_cap_then_stop():
    policy = RetryPolicy(max_attempts=6, base_seconds=1, max_delay_seconds=10)
    assert [policy.delay_after(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, None]


def test_subscribers_choose_event_types_and_alert_types():
    s = subscriber(events={"inventory_changed", "alerts.temperature_excursion"})
    assert s.wants("inventory_changed") and s.wants("alerts", "temperature_excursion")
    assert not s.wants("alerts", "low_stock") and not s.wants("alerts")
    with pytest.raises(ValidationError):
        subscriber(secret="short")
    with pytest.raises(ValueError, match="repeat"):
        subscribers_from_json(json.dumps([subscriber().model_dump(mode="json")] * 2))


def test_payload_formats():
    plain = json.loads(payload(PayloadFormat.JSON, "inventory_changed", CHANGE))
    assert plain == {"event_type": "inventory_changed", "data": CHANGE}
    wecom = json.loads(payload(PayloadFormat.WECOM, "alerts", ALERT))
    assert wecom["msgtype"] == "markdown" and set(wecom["markdown"]) == {"content"}
    assert "[CRITICAL] temperature_excursion at ST02" in wecom["markdown"]["content"]
    assert "9.5 °C" in wecom["markdown"]["content"]
    ding = json.loads(payload(PayloadFormat.DINGTALK, "inventory_changed", CHANGE))
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == "Stock changed at ST01 (pos_sale)"
    assert "MILK-1L batch B1: on hand -2 → 22" in ding["markdown"]["text"]
