"""Webhooks: who is told about what, how a delivery is signed, what an answer means, when it
is tried again and how fast a robot may be sent to.

* **Subscribers** name a URL, the event types they want (`inventory_changed`, `alerts`, or an
  alert type such as `alerts.temperature_excursion`), a secret, and a payload format:
  plain JSON, or a ready-made message for a WeCom (企业微信) or DingTalk (钉钉) group robot.
  A URL is `https://`; plain `http://` only to the machine itself (127.0.0.1, ::1, localhost).
* **Signature**: HMAC-SHA256 with the subscriber's secret over ``<timestamp>.<body>``, sent as
  ``X-Stockflow-Signature: sha256=<hex>`` with ``X-Stockflow-Timestamp`` (Unix seconds). A
  receiver recomputes it and refuses a timestamp outside its replay window (5 minutes by
  default), so a captured request cannot be replayed later (`verify_signature`).
* **DingTalk 加签**: a DingTalk subscriber with a `sign_secret` (``SEC…``) has
  ``&timestamp=<ms>&sign=<base64 HMAC-SHA256(secret, "<ms>\\n<secret>"), URL-encoded>`` added
  to its URL on every attempt (`dingtalk_sign`, `request_url`).
* **Answers** (`judge_answer`): for the JSON format any 2xx is delivered. The robots answer
  HTTP 200 with ``{"errcode": N, "errmsg": …}``: errcode 0 is delivered, any other is a
  failure named ``errcode N: errmsg``. Errcodes that no retry can fix (a wrong or removed
  robot, a refused keyword, signature or IP: `FINAL_ERRCODES`) are final. A redirect is never
  followed: a 3xx is a failure, final when the move is permanent (301, 308).
* **Retries**: a failed delivery is tried again after 1, 2, 4, 8 … seconds (capped), up to
  `max_attempts` in all; after the last one, or a final failure, it goes to the dead-letter
  store, from where it can be replayed.
* **Rate**: a robot takes at most 20 messages a minute (both DingTalk and WeCom document
  that limit; DingTalk then refuses the robot for 10 minutes). `SendWindow` says how long to
  wait before the next send so that no 60 seconds hold more than the limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote_plus

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from stockflow.i18n import Language, Translator, stored_message, translator

SIGNATURE_HEADER = "X-Stockflow-Signature"
TIMESTAMP_HEADER = "X-Stockflow-Timestamp"
DELIVERY_HEADER = "X-Stockflow-Delivery"
EVENT_HEADER = "X-Stockflow-Event"
REPLAY_WINDOW_SECONDS = 300
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})
RATE_WINDOW_SECONDS = 60.0


class PayloadFormat(StrEnum):
    JSON = "json"
    WECOM = "wecom"
    DINGTALK = "dingtalk"


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=5, ge=1, le=20)
    base_seconds: float = Field(default=1.0, gt=0)
    max_delay_seconds: float = Field(default=60.0, gt=0)

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based); None: give up."""
        if attempt >= self.max_attempts:
            return None
        return min(self.base_seconds * 2 ** (attempt - 1), self.max_delay_seconds)


class Subscriber(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    url: HttpUrl = Field(description="https://; http:// only to 127.0.0.1, ::1 or localhost")
    events: frozenset[str] = Field(min_length=1, description="inventory_changed, alerts, alerts.<type>")
    secret: str = Field(min_length=16, description="shared with the receiver; signs every delivery")
    format: PayloadFormat = PayloadFormat.JSON
    sign_secret: str | None = Field(
        default=None, pattern=r"^SEC\S+$", description="DingTalk 加签 secret (SEC…); signs the URL"
    )
    retry: RetryPolicy = RetryPolicy()
    timeout_seconds: float = Field(default=10.0, gt=0, le=300, description="for one attempt, answer included")
    queue_size: int = Field(
        default=1000, ge=1, le=100_000, description="deliveries waiting; more: dead letters"
    )
    per_minute: int | None = Field(
        default=None, ge=1, description="messages a minute; unset: the setting for robots, no limit for JSON"
    )

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, url: HttpUrl) -> HttpUrl:
        if url.scheme != "https" and (url.host or "").lower() not in LOOPBACK_HOSTS:
            raise ValueError(
                f"{url.scheme}:// is allowed only to this machine (127.0.0.1, ::1, localhost); use https://"
            )
        return url

    @model_validator(mode="after")
    def _sign_secret_is_dingtalk_only(self) -> Subscriber:
        if self.sign_secret is not None and self.format is not PayloadFormat.DINGTALK:
            raise ValueError("sign_secret (加签) is for the dingtalk format only")
        return self

    @property
    def is_robot(self) -> bool:
        return self.format in (PayloadFormat.WECOM, PayloadFormat.DINGTALK)

    def rate_limit(self, robots_per_minute: int) -> int | None:
        """Messages a minute this subscriber may be sent (None: no limit)."""
        if self.per_minute is not None:
            return self.per_minute
        return robots_per_minute if self.is_robot else None

    def wants(self, event_type: str, alert_type: str | None = None) -> bool:
        return event_type in self.events or (
            alert_type is not None and f"{event_type}.{alert_type}" in self.events
        )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(
    subscriber: Subscriber, delivery_id: str, event_type: str, body: bytes, now: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(now),
        SIGNATURE_HEADER: sign(subscriber.secret, now, body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event_type,
    }


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, now: int, window: int = REPLAY_WINDOW_SECONDS
) -> str | None:
    """None if the request is authentic and fresh; otherwise why it is refused."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lowered.get(TIMESTAMP_HEADER.lower()), lowered.get(SIGNATURE_HEADER.lower())
    if not timestamp or not signature:
        return "unsigned"
    try:
        sent = int(timestamp)
    except ValueError:
        return "bad timestamp"
    if abs(now - sent) > window:
        return "outside the replay window"
    if not hmac.compare_digest(sign(secret, sent, body), signature):
        return "bad signature"
    return None


def dingtalk_sign(sign_secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64 of HMAC-SHA256 keyed with the secret over "<ms>\\n<secret>",
    URL-encoded (``quote_plus``) for the query string."""
    string_to_sign = f"{timestamp_ms}\n{sign_secret}".encode()
    digest = hmac.new(sign_secret.encode(), string_to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def request_url(subscriber: Subscriber, now_ms: int) -> str:
    """The URL of one attempt: a DingTalk subscriber with a sign secret gets this attempt's
    ``timestamp`` and ``sign`` added to its query; every other URL is sent as configured."""
    url = str(subscriber.url)
    if subscriber.sign_secret is None:
        return url
    separator = "&" if subscriber.url.query else ("" if url.endswith("?") else "?")
    return f"{url}{separator}timestamp={now_ms}&sign={dingtalk_sign(subscriber.sign_secret, now_ms)}"


# Robot errcodes no retry can fix: the robot or its URL is wrong or gone, or its security
# settings refuse what we send. Anything else non-zero (busy, too fast, unknown) is retried.
FINAL_ERRCODES: Mapping[PayloadFormat, frozenset[int]] = {
    PayloadFormat.DINGTALK: frozenset(
        {
            300001,  # token is not exist
            310000,  # security settings refused it: keywords not in content, sign not match,
            #          invalid timestamp, IP not in whitelist
            400013,  # the group was dissolved
            400101,  # access_token does not exist
            400102,  # the robot is disabled
            400105,  # message type not supported
            400106,  # the robot does not exist
        }
    ),
    PayloadFormat.WECOM: frozenset(
        {
            93000,  # invalid webhook url: a wrong key, or the robot was removed from the group
            40008,  # invalid message type
        }
    ),
}


@dataclass(frozen=True)
class Verdict:
    """What one attempt came to: delivered, or why not and whether trying again can help."""

    delivered: bool
    reason: str = ""
    final: bool = False

    @classmethod
    def failed(cls, reason: str, final: bool = False) -> Verdict:
        return cls(False, reason, final)


DELIVERED = Verdict(True)


def judge_answer(fmt: PayloadFormat, status: int, body: bytes, location: str | None = None) -> Verdict:
    """What a receiver's answer means for the subscriber's format (redirects are not followed)."""
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return Verdict.failed(f"HTTP {status} redirect{where}, not followed", final=status in (301, 308))
    if not 200 <= status < 300:
        return Verdict.failed(f"HTTP {status}")
    if fmt is PayloadFormat.JSON:
        return DELIVERED
    try:
        answer = json.loads(body)
        errcode = int(answer["errcode"])
    except (ValueError, TypeError, KeyError):
        return Verdict.failed(f"HTTP {status} without an errcode: {body[:200].decode(errors='replace')!r}")
    if errcode == 0:
        return DELIVERED
    return Verdict.failed(
        f"errcode {errcode}: {answer.get('errmsg', '')}", final=errcode in FINAL_ERRCODES.get(fmt, ())
    )


class SendWindow:
    """At most `limit` sends in any `window` seconds (a sliding window over the send times).
    The clock is the caller's: pass monotonic seconds."""

    def __init__(self, limit: int, window: float = RATE_WINDOW_SECONDS) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()

    def wait_seconds(self, now: float) -> float:
        """How long to wait before the next send may go (0: now)."""
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + self.window - now

    def take(self, now: float) -> float:
        """Claim a send now if the window allows it (returns 0), else how long to wait."""
        wait = self.wait_seconds(now)
        if wait == 0:
            self._sent.append(now)
        return wait


def payload(
    fmt: PayloadFormat, event_type: str, data: Mapping[str, Any], t: Translator | None = None
) -> bytes:
    """The body for one event in the subscriber's format; a robot's message in `t`'s language
    (the company's), English by default."""
    if fmt is PayloadFormat.JSON:
        return _json({"event_type": event_type, "data": dict(data)})
    title, lines = _summary(event_type, data, t or translator(Language.EN))
    if fmt is PayloadFormat.WECOM:
        return _json({"msgtype": "markdown", "markdown": {"content": "\n".join([f"**{title}**", *lines])}})
    return _json(
        {"msgtype": "markdown", "markdown": {"title": title, "text": "\n\n".join([f"#### {title}", *lines])}}
    )


def _summary(event_type: str, data: Mapping[str, Any], t: Translator) -> tuple[str, list[str]]:
    if event_type == "alerts":
        severity, alert_type = str(data.get("severity", "")), str(data.get("alert_type", "alert"))
        title = t(
            "webhook.alert_title",
            severity=t.word("severity", severity).upper(),
            alert_type=t.word("alert_type", alert_type),
            location=data.get("location") or "-",
        )
        message = stored_message(data.get("details"), str(data.get("message", "")), t)
        return title, [message, f"> {data.get('occurred_at', '')}"]
    changes = list(data.get("changes") or [])
    title = t(
        "webhook.stock_changed_title",
        location=data.get("location", "-"),
        event_type=data.get("event_type", ""),
    )
    lines = [
        t(
            "webhook.stock_change_line",
            sku=c.get("sku"),
            batch=c.get("batch") or "-",
            delta=_signed((c.get("delta") or {}).get("on_hand")),
            on_hand=(c.get("position") or {}).get("on_hand", "-"),
        )
        for c in changes[:5]
    ]
    if len(changes) > 5:
        lines.append(t("webhook.more_changes", count=len(changes) - 5))
    return title, [*lines, f"> {data.get('occurred_at', '')}"]


def subscribers_from_json(text: str) -> list[Subscriber]:
    """A JSON list of subscribers (the webhooks file); names must be unique."""
    found = [Subscriber.model_validate(item) for item in json.loads(text)]
    names = [s.name for s in found]
    if len(names) != len(set(names)):
        raise ValueError(f"subscriber names repeat: {sorted(n for n in names if names.count(n) > 1)}")
    return found


def _signed(value: Any) -> str:
    try:
        return f"{int(value):+d}"
    except (TypeError, ValueError):
        return "-"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()
