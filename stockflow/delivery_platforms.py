"""Delivery platforms' callbacks (Meituan-style and Ele.me-style) made into till events.

A delivery platform calls the workers (``POST /platforms/{platform}/callbacks``) when an order
is placed, cancelled or refunded. Each callback is a flat JSON *envelope* of strings and whole
numbers, signed with the platform's app secret, whose payload (the order, the cancellation or
the refund) travels as a JSON string inside it:

* **Meituan-style** (`Platform.MEITUAN`): ``app_id``, ``timestamp`` (Unix seconds), ``kind``
  (``order`` | ``cancel`` | ``refund``), ``payload`` and the signature ``sig``;
* **Ele.me-style** (`Platform.ELEME`): ``requestId``, ``appId``, ``timestamp`` (Unix
  milliseconds), ``type`` (``order.placed`` | ``order.cancelled`` | ``order.refunded``),
  ``message`` and the signature ``signature``.

**Signature** (`sign_envelope`, `verify_envelope`): every field of the envelope but the
signature, sorted by name, written ``name=value`` (a string as its JSON-decoded text, a number
in decimal digits) and joined with ``&``; the signature is the lowercase hex HMAC-SHA256 of that
string (UTF-8) keyed with the app secret, compared in constant time. A timestamp more than the
allowed clock skew away from now is refused, so a recorded callback cannot be replayed later.
Every field but the payload is a plain code (no ``&`` or ``=``), so one signed string stands
for one envelope only.

**Mapping** (`read_callback`, `pos_event`): the platform's shop id and item ids are other
systems' codes for our store and SKUs, kept in master data as aliases whose ``system`` is the
platform's name (``meituan``, ``eleme``); a code without such an alias is taken as ours when it
is one of our codes. An order becomes a `PosSale` with channel ``delivery``; a cancellation a
`PosReturn` of the whole order, whose ingredients go back into stock only when the platform
says the store had not started preparing it; a refund a `PosReturn` of the refunded items only,
ingredients consumed. Event ids come from the platform, its order id, the callback's kind and
the refund id, so a callback sent again is a duplicate the ledger drops.

**Acknowledgement** (`acknowledgement`, `refusal`): what each platform expects back, in its
own shape, an error too. A refusal carries an HTTP status, a stable English reason and a detail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from stockflow.events import PosLine, PosReturn, PosSale, SalesChannel
from stockflow.masterdata import AliasKind, Catalog, alias_key


class Platform(StrEnum):
    """The delivery platforms whose callbacks the workers take (also the aliases' `system`)."""

    MEITUAN = "meituan"
    ELEME = "eleme"


class CallbackKind(StrEnum):
    ORDER = "order"
    CANCEL = "cancel"
    REFUND = "refund"


class CallbackRefused(Exception):
    """A callback that is not taken: the HTTP `status`, a stable `reason` and a `detail`."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


def callback_path(platform: Platform) -> str:
    """Where the platform sends its callbacks."""
    return f"/platforms/{platform.value}/callbacks"


#: A platform's own id (order, refund, shop, item): a plain code, so that it fits our ticket
#: and event ids and cannot be confused with the signed string's separators.
PlatformCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:\-]+$")]
#: Yuan, VAT included, to the fen.
Yuan = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Quantity = Annotated[int, Field(ge=1, le=10_000)]
Reason = Annotated[str, Field(max_length=200)]
M = TypeVar("M", bound=BaseModel)


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Payload(BaseModel):
    """A platform's payload: fields this adapter does not use are ignored (platforms add some)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------------------- Meituan-style


class MeituanEnvelope(_Envelope):
    app_id: PlatformCode
    timestamp: int = Field(ge=0, description="Unix seconds when the platform sent the callback.")
    kind: CallbackKind
    payload: str = Field(min_length=2, description="The order, cancellation or refund, as JSON text.")
    sig: str


class MeituanItem(_Payload):
    app_food_code: PlatformCode = Field(description="The platform's dish or item id.")
    food_name: str | None = Field(default=None, max_length=200)
    quantity: Quantity
    price: Yuan = Field(description="Per unit, VAT included; on a refund, what is refunded per unit.")


class MeituanOrder(_Payload):
    order_id: PlatformCode
    app_poi_code: PlatformCode = Field(description="The platform's shop id.")
    order_time: AwareDatetime
    status: Literal["paid", "accepted", "delivering", "delivered", "completed"]
    items: list[MeituanItem] = Field(min_length=1, max_length=200)
    total: Yuan


class MeituanCancel(_Payload):
    order_id: PlatformCode
    app_poi_code: PlatformCode
    cancelled_at: AwareDatetime
    reason_code: int
    reason: Reason = ""
    preparation_started: bool = Field(description="Whether the store had started preparing the order.")
    items: list[MeituanItem] = Field(min_length=1, max_length=200)


class MeituanRefund(_Payload):
    order_id: PlatformCode
    app_poi_code: PlatformCode
    refund_id: PlatformCode
    refunded_at: AwareDatetime
    refund_type: Literal["part", "all"]
    reason: Reason = ""
    items: list[MeituanItem] = Field(min_length=1, max_length=200)
    money: Yuan = Field(description="What the customer gets back (items, packing and delivery).")


# ---------------------------------------------------------------------------- Ele.me-style

ELEME_TYPES = {
    "order.placed": CallbackKind.ORDER,
    "order.cancelled": CallbackKind.CANCEL,
    "order.refunded": CallbackKind.REFUND,
}


class ElemeEnvelope(_Envelope):
    request_id: PlatformCode = Field(alias="requestId")
    app_id: PlatformCode = Field(alias="appId")
    timestamp: int = Field(ge=0, description="Unix milliseconds when the platform sent the callback.")
    type: Literal["order.placed", "order.cancelled", "order.refunded"]
    message: str = Field(min_length=2, description="The order, cancellation or refund, as JSON text.")
    signature: str


class ElemeItem(_Payload):
    sku_id: PlatformCode = Field(alias="skuId", description="The platform's dish or item id.")
    name: str | None = Field(default=None, max_length=200)
    quantity: Quantity
    price: Yuan = Field(description="Per unit, VAT included; on a refund, what is refunded per unit.")


class ElemeGroup(_Payload):
    """One basket of an order (Ele.me-style orders group their items)."""

    name: str | None = Field(default=None, max_length=100)
    items: list[ElemeItem] = Field(min_length=1, max_length=200)


class ElemeOrder(_Payload):
    id: PlatformCode
    shop_id: PlatformCode = Field(alias="shopId")
    created_at: AwareDatetime = Field(alias="createdAt")
    status: Literal["valid", "delivering", "settled"]
    groups: list[ElemeGroup] = Field(min_length=1, max_length=20)
    total_price: Yuan = Field(alias="totalPrice")


class ElemeCancel(_Payload):
    order_id: PlatformCode = Field(alias="orderId")
    shop_id: PlatformCode = Field(alias="shopId")
    cancelled_at: AwareDatetime = Field(alias="cancelledAt")
    reason_code: int = Field(alias="reasonCode")
    reason: Reason = ""
    cooking_started: bool = Field(alias="cookingStarted")
    groups: list[ElemeGroup] = Field(min_length=1, max_length=20)


class ElemeRefund(_Payload):
    order_id: PlatformCode = Field(alias="orderId")
    shop_id: PlatformCode = Field(alias="shopId")
    refund_id: PlatformCode = Field(alias="refundId")
    refunded_at: AwareDatetime = Field(alias="refundedAt")
    refund_type: Literal["part", "full"] = Field(alias="refundType")
    reason: Reason = ""
    goods_list: list[ElemeItem] = Field(alias="goodsList", min_length=1, max_length=200)
    refund_amount: Yuan = Field(alias="refundAmount")


# ---------------------------------------------------------------------------- one callback


@dataclass(frozen=True)
class CallbackItem:
    """One item of a callback: the platform's item id, how many, the price per unit."""

    code: str
    qty: int
    unit_price: Decimal


@dataclass(frozen=True)
class PlatformCallback:
    """A verified callback, whichever platform sent it."""

    platform: Platform
    kind: CallbackKind
    order_id: str
    shop: str
    occurred_at: datetime
    items: tuple[CallbackItem, ...]
    refund_id: str | None = None
    #: A cancellation before the store started preparing: the ingredients go back.
    restock_ingredients: bool = False


@dataclass(frozen=True)
class _Style:
    signature_field: str
    timestamp_field: str
    #: Timestamp units per second (1: seconds, 1000: milliseconds).
    timestamp_per_second: int


STYLES = {
    Platform.MEITUAN: _Style("sig", "timestamp", 1),
    Platform.ELEME: _Style("signature", "timestamp", 1000),
}


def canonical_string(envelope: Mapping[str, Any], signature_field: str) -> str:
    """Every field but the signature, sorted by name, as ``name=value`` joined with ``&``."""
    return "&".join(f"{name}={envelope[name]}" for name in sorted(envelope) if name != signature_field)


def sign_envelope(platform: Platform, secret: str, envelope: Mapping[str, Any]) -> str:
    """The signature of `envelope` (its signature field, if any, left out): lowercase hex."""
    canonical = canonical_string(envelope, STYLES[platform].signature_field)
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def verify_envelope(
    platform: Platform, secret: str, envelope: Any, now: datetime, max_skew_seconds: float
) -> None:
    """Raise `CallbackRefused` unless `envelope` is a flat JSON object signed with `secret` and
    sent within `max_skew_seconds` of `now`. Nothing of its payload is read."""
    style = STYLES[platform]
    if not isinstance(envelope, dict):
        raise CallbackRefused(400, "bad_envelope", "send a JSON object")
    for name, value in envelope.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise CallbackRefused(400, "bad_envelope", f"field {name!r} is not a string or a whole number")
    signature = envelope.get(style.signature_field)
    if not isinstance(signature, str) or not signature:
        raise CallbackRefused(401, "unsigned", f"the {style.signature_field!r} field is missing")
    expected = sign_envelope(platform, secret, envelope)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise CallbackRefused(401, "bad_signature", "the signature does not match the body")
    sent = envelope.get(style.timestamp_field)
    if isinstance(sent, str) and sent.isdigit():
        sent = int(sent)
    if not isinstance(sent, int):
        raise CallbackRefused(400, "bad_envelope", f"{style.timestamp_field!r} is not a whole number")
    skew = abs(now.timestamp() - sent / style.timestamp_per_second)
    if skew > max_skew_seconds:
        raise CallbackRefused(
            401,
            "stale_timestamp",
            f"sent {skew:.0f} s away from this server's clock; at most {max_skew_seconds:g} s is taken",
        )


def read_callback(
    platform: Platform, secret: str, envelope: Any, now: datetime, max_skew_seconds: float
) -> PlatformCallback:
    """The callback in `envelope`: its signature and timestamp checked first, then its payload
    read. Raises `CallbackRefused`."""
    verify_envelope(platform, secret, envelope, now, max_skew_seconds)
    if platform is Platform.MEITUAN:
        meituan = _validated(MeituanEnvelope, envelope, "bad_envelope")
        return _meituan_callback(meituan.kind, _payload(meituan.payload))
    eleme = _validated(ElemeEnvelope, envelope, "bad_envelope")
    return _eleme_callback(ELEME_TYPES[eleme.type], _payload(eleme.message))


def _payload(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except RecursionError:
        raise CallbackRefused(400, "bad_payload", "the payload is nested too deep") from None
    except ValueError as exc:
        raise CallbackRefused(400, "bad_payload", f"the payload is not JSON: {exc}") from None


def _validated(model: type[M], value: Any, reason: str) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise CallbackRefused(400, reason, problems) from None


def _meituan_items(items: list[MeituanItem]) -> tuple[CallbackItem, ...]:
    return tuple(CallbackItem(i.app_food_code, i.quantity, i.price) for i in items)


def _meituan_callback(kind: CallbackKind, payload: Any) -> PlatformCallback:
    platform = Platform.MEITUAN
    if kind is CallbackKind.ORDER:
        order = _validated(MeituanOrder, payload, "bad_payload")
        return PlatformCallback(
            platform, kind, order.order_id, order.app_poi_code, order.order_time, _meituan_items(order.items)
        )
    if kind is CallbackKind.CANCEL:
        cancel = _validated(MeituanCancel, payload, "bad_payload")
        return PlatformCallback(
            platform,
            kind,
            cancel.order_id,
            cancel.app_poi_code,
            cancel.cancelled_at,
            _meituan_items(cancel.items),
            restock_ingredients=not cancel.preparation_started,
        )
    refund = _validated(MeituanRefund, payload, "bad_payload")
    return PlatformCallback(
        platform,
        kind,
        refund.order_id,
        refund.app_poi_code,
        refund.refunded_at,
        _meituan_items(refund.items),
        refund_id=refund.refund_id,
    )


def _eleme_items(items: list[ElemeItem]) -> tuple[CallbackItem, ...]:
    return tuple(CallbackItem(i.sku_id, i.quantity, i.price) for i in items)


def _eleme_grouped(groups: list[ElemeGroup]) -> tuple[CallbackItem, ...]:
    items = [item for group in groups for item in group.items]
    if len(items) > 200:
        raise CallbackRefused(400, "bad_payload", "an order has at most 200 items")
    return _eleme_items(items)


def _eleme_callback(kind: CallbackKind, payload: Any) -> PlatformCallback:
    platform = Platform.ELEME
    if kind is CallbackKind.ORDER:
        order = _validated(ElemeOrder, payload, "bad_payload")
        return PlatformCallback(
            platform, kind, order.id, order.shop_id, order.created_at, _eleme_grouped(order.groups)
        )
    if kind is CallbackKind.CANCEL:
        cancel = _validated(ElemeCancel, payload, "bad_payload")
        return PlatformCallback(
            platform,
            kind,
            cancel.order_id,
            cancel.shop_id,
            cancel.cancelled_at,
            _eleme_grouped(cancel.groups),
            restock_ingredients=not cancel.cooking_started,
        )
    refund = _validated(ElemeRefund, payload, "bad_payload")
    return PlatformCallback(
        platform,
        kind,
        refund.order_id,
        refund.shop_id,
        refund.refunded_at,
        _eleme_items(refund.goods_list),
        refund_id=refund.refund_id,
    )


# ---------------------------------------------------------------------------- till events


def callback_event_id(
    platform: Platform, kind: CallbackKind, order_id: str, refund_id: str | None = None
) -> str:
    """The event id of a callback: the same platform, order, kind and refund give the same id."""
    key = "\x1f".join((platform.value, order_id, kind.value, refund_id or ""))
    return f"{platform.value}:{kind.value}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def sale_ticket(platform: Platform, order_id: str) -> str:
    """The till ticket of a platform's order."""
    return f"{platform.value}:{order_id}"


def our_code(catalog: Catalog, platform: Platform, kind: AliasKind, code: str) -> str | None:
    """Our SKU or location for the platform's `code`: its alias under `system` = the platform,
    else the code itself when it is one of ours; None when it is neither."""
    own = catalog.skus if kind == "sku" else catalog.locations
    alias = catalog.aliases.get(alias_key(kind, platform.value, code))
    if alias is not None and alias.target in own:
        return alias.target
    return code if code in own else None


def pos_event(callback: PlatformCallback, catalog: Catalog) -> PosSale | PosReturn:
    """The till event for a verified callback, with our store and SKU codes. Raises
    `CallbackRefused` ``unknown_store`` or ``unknown_item`` (nothing is produced then)."""
    platform = callback.platform
    store = our_code(catalog, platform, "location", callback.shop)
    if store is None:
        raise CallbackRefused(
            422,
            "unknown_store",
            f"shop {callback.shop!r} is no alias of ours for system {platform.value!r} "
            "(stockflow masterdata alias set)",
        )
    lines = []
    for item in callback.items:
        sku = our_code(catalog, platform, "sku", item.code)
        if sku is None:
            raise CallbackRefused(
                422,
                "unknown_item",
                f"item {item.code!r} is no alias of ours for system {platform.value!r} "
                "(stockflow masterdata alias set)",
            )
        lines.append(
            PosLine(
                sku=sku, qty=Decimal(item.qty), unit=catalog.skus[sku].base_unit, unit_price=item.unit_price
            )
        )
    event_id = callback_event_id(platform, callback.kind, callback.order_id, callback.refund_id)
    sold = sale_ticket(platform, callback.order_id)
    common = {
        "event_id": event_id,
        "occurred_at": callback.occurred_at,
        "source": platform.value,
        "store": store,
        "channel": SalesChannel.DELIVERY,
        "lines": lines,
    }
    if callback.kind is CallbackKind.ORDER:
        return PosSale(ticket=sold, **common)
    if callback.kind is CallbackKind.CANCEL:
        return PosReturn(
            ticket=f"{sold}:cancel",
            original_ticket=sold,
            restock_ingredients=callback.restock_ingredients,
            **common,
        )
    return PosReturn(
        ticket=f"{platform.value}:refund:{callback.refund_id}",
        original_ticket=sold,
        restock_ingredients=False,
        **common,
    )


# ---------------------------------------------------------------------------- answers


def acknowledgement(platform: Platform) -> dict[str, Any]:
    """What the platform expects when a callback is taken."""
    if platform is Platform.MEITUAN:
        return {"data": "ok"}
    return {"code": 200, "message": "ok"}


def refusal(platform: Platform, refused: CallbackRefused) -> dict[str, Any]:
    """A refused callback, in the platform's shape."""
    if platform is Platform.MEITUAN:
        return {"data": "ng", "error": {"code": refused.reason, "msg": refused.detail}}
    return {"code": refused.status, "message": f"{refused.reason}: {refused.detail}"}
