"""Delivery platforms' callbacks as the platforms send them: payloads in each platform's shape,
wrapped in a signed envelope (`stockflow.delivery_platforms`)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from stockflow.delivery_platforms import Platform, sign_envelope

MEITUAN_KINDS = {"order": "order", "cancel": "cancel", "refund": "refund"}
ELEME_TYPES = {"order": "order.placed", "cancel": "order.cancelled", "refund": "order.refunded"}


def signed(
    platform: Platform, secret: str, kind: str, payload: dict[str, Any], sent_at: datetime
) -> dict[str, Any]:
    """The envelope the platform POSTs: `payload` as JSON text, stamped `sent_at`, signed."""
    text = json.dumps(payload, ensure_ascii=False)
    if platform is Platform.MEITUAN:
        envelope: dict[str, Any] = {
            "app_id": "4821",
            "timestamp": int(sent_at.timestamp()),
            "kind": MEITUAN_KINDS[kind],
            "payload": text,
        }
        envelope["sig"] = sign_envelope(platform, secret, envelope)
    else:
        envelope = {
            "requestId": "req-" + str(int(sent_at.timestamp() * 1000)),
            "appId": "30051",
            "timestamp": int(sent_at.timestamp() * 1000),
            "type": ELEME_TYPES[kind],
            "message": text,
        }
        envelope["signature"] = sign_envelope(platform, secret, envelope)
    return envelope


def meituan_order(order_id: str, shop: str, at: datetime, items: list[tuple[str, int, str]]) -> dict:
    """items: (platform item id, quantity, price per unit in yuan)."""
    return {
        "order_id": order_id,
        "app_poi_code": shop,
        "order_time": at.isoformat(),
        "status": "paid",
        "items": [
            {"app_food_code": c, "food_name": "宫保鸡丁", "quantity": q, "price": p} for c, q, p in items
        ],
        "total": str(sum(q * Decimal(p) for _, q, p in items)),
    }


def meituan_cancel(
    order_id: str, shop: str, at: datetime, items: list[tuple[str, int, str]], preparation_started: bool
) -> dict:
    return {
        "order_id": order_id,
        "app_poi_code": shop,
        "cancelled_at": at.isoformat(),
        "reason_code": 1001,
        "reason": "用户取消",
        "preparation_started": preparation_started,
        "items": [{"app_food_code": c, "quantity": q, "price": p} for c, q, p in items],
    }


def meituan_refund(
    order_id: str, refund_id: str, shop: str, at: datetime, items: list[tuple[str, int, str]]
) -> dict:
    return {
        "order_id": order_id,
        "app_poi_code": shop,
        "refund_id": refund_id,
        "refunded_at": at.isoformat(),
        "refund_type": "part",
        "reason": "菜品洒漏",
        "items": [{"app_food_code": c, "quantity": q, "price": p} for c, q, p in items],
        "money": "0",
    }


def eleme_order(order_id: str, shop: str, at: datetime, items: list[tuple[str, int, str]]) -> dict:
    return {
        "id": order_id,
        "shopId": shop,
        "createdAt": at.isoformat(),
        "status": "valid",
        "groups": [
            {"name": "1号篮子", "items": [{"skuId": c, "name": "酸辣粉", "quantity": q, "price": p}]}
            for c, q, p in items
        ],
        "totalPrice": "0",
    }


def eleme_cancel(
    order_id: str, shop: str, at: datetime, items: list[tuple[str, int, str]], cooking_started: bool
) -> dict:
    return {
        "orderId": order_id,
        "shopId": shop,
        "cancelledAt": at.isoformat(),
        "reasonCode": 12,
        "reason": "商家无法接单",
        "cookingStarted": cooking_started,
        "groups": [{"items": [{"skuId": c, "quantity": q, "price": p} for c, q, p in items]}],
    }


def eleme_refund(
    order_id: str, refund_id: str, shop: str, at: datetime, items: list[tuple[str, int, str]]
) -> dict:
    return {
        "orderId": order_id,
        "shopId": shop,
        "refundId": refund_id,
        "refundedAt": at.isoformat(),
        "refundType": "part",
        "reason": "少送",
        "goodsList": [{"skuId": c, "quantity": q, "price": p} for c, q, p in items],
        "refundAmount": "0",
    }
