import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from pydantic import ValidationError

from stockflow.webhooks import (
    PayloadFormat,
    RetryPolicy,
    SendWindow,
    Subscriber,
    dingtalk_sign,
    judge_answer,
    payload,
    request_url,
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
    assert "[CRITICAL] Temperature excursion at ST02" in wecom["markdown"]["content"]
    assert "9.5 °C" in wecom["markdown"]["content"]
    ding = json.loads(payload(PayloadFormat.DINGTALK, "inventory_changed", CHANGE))
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == "Stock changed at ST01 (pos_sale)"
    assert "MILK-1L batch B1: on hand -2 → 22" in ding["markdown"]["text"]


# DingTalk 加签 ----------------------------------------------------------------------------------

DING_URL = "https://oapi.dingtalk.com/robot/send?access_token=abc123"
SIGN_SECRET = "SEC5a3ecf88f2b3eb50db30ecfc00f53033ac909c99bf7f88fd612bda89d7f3a9dc"


def test_the_dingtalk_sign_matches_a_published_value():
    # the test vector of the `dingding` Rust crate's signature module (timestamp 1700000000000,
    # secret "secret"), computed by another implementation than ours
    assert dingtalk_sign("secret", 1700000000000) == "OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D"


def test_each_attempt_to_a_signing_dingtalk_robot_gets_its_timestamp_and_sign():
    robot = subscriber(url=DING_URL, format="dingtalk", sign_secret=SIGN_SECRET)
    url = request_url(robot, 1731234567890)
    digest = hmac.new(SIGN_SECRET.encode(), f"1731234567890\n{SIGN_SECRET}".encode(), hashlib.sha256).digest()
    expected = quote(base64.b64encode(digest).decode(), safe="")
    assert url == f"{DING_URL}&timestamp=1731234567890&sign={expected}"
    # the receiver decodes the query back to the base64 signature
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["abc123"] and query["sign"] == [base64.b64encode(digest).decode()]
    assert request_url(robot, 1731234567891) != url  # signed afresh per attempt
    # no query yet: the sign starts it; no sign secret: the URL as configured
    bare = subscriber(url="https://oapi.dingtalk.com/robot/send", format="dingtalk", sign_secret=SIGN_SECRET)
    assert request_url(bare, 1).startswith("https://oapi.dingtalk.com/robot/send?timestamp=1&sign=")
    assert request_url(subscriber(url=DING_URL, format="dingtalk"), 1) == DING_URL


def test_a_sign_secret_is_a_dingtalk_sec_secret():
    with pytest.raises(ValidationError, match="dingtalk format only"):
        subscriber(url=DING_URL, format="wecom", sign_secret=SIGN_SECRET)
    with pytest.raises(ValidationError):
        subscriber(url=DING_URL, format="dingtalk", sign_secret="not-a-sec-secret")


# what an answer means ---------------------------------------------------------------------------


def answer(errcode, errmsg="") -> bytes:
    return json.dumps({"errcode": errcode, "errmsg": errmsg}).encode()


@pytest.mark.parametrize("fmt", [PayloadFormat.WECOM, PayloadFormat.DINGTALK])
def test_a_robot_delivered_only_with_errcode_zero(fmt):
    assert judge_answer(fmt, 200, answer(0, "ok")).delivered
    busy = judge_answer(fmt, 200, answer(-1, "system busy"))
    assert (busy.delivered, busy.reason, busy.final) == (False, "errcode -1: system busy", False)
    unreadable = judge_answer(fmt, 200, b"<html>ok</html>")
    assert not unreadable.delivered and not unreadable.final and "without an errcode" in unreadable.reason
    assert not judge_answer(fmt, 200, b'{"errmsg": "ok"}').delivered


def test_robot_errcodes_that_no_retry_can_fix_are_final():
    keyword = judge_answer(PayloadFormat.DINGTALK, 200, answer(310000, "keywords not in content"))
    assert (keyword.delivered, keyword.reason, keyword.final) == (
        False,
        "errcode 310000: keywords not in content",
        True,
    )
    assert judge_answer(PayloadFormat.DINGTALK, 200, answer(310000, "sign not match")).final
    assert judge_answer(PayloadFormat.DINGTALK, 200, answer(300001, "token is not exist")).final
    assert judge_answer(PayloadFormat.WECOM, 200, answer(93000, "invalid webhook url")).final
    # too fast, or busy: try again later
    assert not judge_answer(PayloadFormat.DINGTALK, 200, answer(130101, "send too fast")).final
    assert not judge_answer(PayloadFormat.WECOM, 200, answer(45009, "api freq out of limit")).final
    # one robot's final code means nothing to the other
    assert not judge_answer(PayloadFormat.WECOM, 200, answer(310000, "?")).final


def test_json_receivers_are_judged_by_the_status_and_redirects_are_failures():
    assert judge_answer(PayloadFormat.JSON, 204, b"").delivered
    assert judge_answer(PayloadFormat.JSON, 200, answer(310000, "ignored for JSON")).delivered
    assert judge_answer(PayloadFormat.JSON, 503, b"") == judge_answer(PayloadFormat.WECOM, 503, b"")
    assert judge_answer(PayloadFormat.JSON, 503, b"").reason == "HTTP 503"
    moved = judge_answer(PayloadFormat.JSON, 302, b"", "http://10.0.0.1/admin")
    assert (moved.delivered, moved.final) == (False, False)
    assert moved.reason == "HTTP 302 redirect to http://10.0.0.1/admin, not followed"
    assert judge_answer(PayloadFormat.DINGTALK, 301, b"", "https://elsewhere").final
    assert judge_answer(PayloadFormat.JSON, 308, b"").final


# where a subscriber may point -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/x", "http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"],
)
def test_https_or_this_machine(url):
    assert str(subscriber(url=url).url).startswith(url.split(":")[0])


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "http://10.0.0.5/x", "http://127.0.0.2/x", "http://localhost.evil.com/x"],
)
def test_plain_http_elsewhere_is_refused(url):
    with pytest.raises(ValidationError, match="https://"):
        subscriber(url=url)


def test_robots_are_rate_limited_by_the_setting_json_receivers_only_when_they_ask():
    assert subscriber(url=DING_URL, format="dingtalk").rate_limit(20) == 20
    assert subscriber(format="wecom").rate_limit(20) == 20
    assert subscriber().rate_limit(20) is None
    assert subscriber(per_minute=5).rate_limit(20) == 5
    assert subscriber(format="wecom", per_minute=10).rate_limit(20) == 10


# the send window ---------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now


def test_no_sixty_seconds_hold_more_than_the_limit():
    clock, window = Clock(), SendWindow(3)
    sent = []
    # a sender that sends whenever the window allows, over five simulated minutes
    while clock.now < 1300:
        wait = window.take(clock.now)
        if wait == 0:
            sent.append(clock.now)
            clock.now += 0.5  # the next message is ready half a second later
        else:
            assert wait > 0
            clock.now += wait
    assert len(sent) >= 14  # 3 a minute for five minutes, the first three at once
    for i, at in enumerate(sent):
        in_window = [t for t in sent[i:] if t < at + 60]
        assert len(in_window) <= 3, (at, in_window)


def test_the_window_says_how_long_to_wait():
    window = SendWindow(2)
    assert window.take(0.0) == 0 and window.take(10.0) == 0
    assert window.take(20.0) == 40.0  # the send at 0 leaves the window at 60
    assert window.wait_seconds(59.9) == pytest.approx(0.1)
    assert window.take(60.0) == 0  # and then the next one may go
    assert window.take(61.0) == 9.0  # the one at 10 leaves at 70
    with pytest.raises(ValueError):
        SendWindow(0)


def test_a_robot_reads_the_alert_in_the_company_s_language():
    from datetime import UTC, datetime

    from stockflow.alerts import AlertType, Severity, alert
    from stockflow.i18n import Language, Message, translator

    raised = alert(
        AlertType.LOW_STOCK, Severity.WARNING, datetime(2026, 11, 1, 2, tzinfo=UTC), "ST02",
        Message("alert.low_stock", sku="MILK-1L", location="ST02", available=3, unit="瓶", reorder_point=10),
        id_parts=("e1",), sku="MILK-1L",
    )  # fmt: skip
    data = raised.model_dump(mode="json")
    assert data["message"] == "MILK-1L at ST02: 3 瓶 available, below the reorder point 10"
    chinese = json.loads(payload(PayloadFormat.WECOM, "alerts", data, translator(Language.ZH_CN)))
    content = chinese["markdown"]["content"]
    assert "[警告] ST02：低库存" in content and "ST02 的 MILK-1L：可用 3 瓶，低于再订货点 10" in content
    english = json.loads(payload(PayloadFormat.DINGTALK, "alerts", data))
    assert english["markdown"]["title"] == "[WARNING] Low stock at ST02"
