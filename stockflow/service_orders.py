"""进销存(无库存版): the rules of a service business — a consulting firm, a repair shop, a
training school — with no stock at all.

* **Service items** (服务项目): what the business sells, by the hour, session or visit, at a
  list price excluding VAT and a VAT rate (6%: 现代服务 by default).
* **Service orders** (服务订单): a customer's lines of service items, each a number of units at
  an agreed price (the item's price unless the order says otherwise).
* **Fulfilment** (履约): units of an order line delivered. A line is never delivered beyond what
  was ordered unless the delivery says so (`beyond_order`): such a delivery is flagged.
* **Consumption** (耗用): materials used up while serving, recorded at their cost; nothing is
  kept in stock, so nothing is issued from it.
* **Revenue**: each delivery books its revenue — Dr 应收账款 / Cr 主营业务收入 and
  应交税费-应交增值税(销项税额) at the item's rate — on the company's chart
  (`stockflow.vouchers.AccountingPolicy`), net = units × agreed price and VAT = net × rate, each
  rounded to the fen once (`stockflow.money.to_money`); debits equal credits by construction.

`ServiceBook` holds a partition's orders and what was delivered of each line; it refuses what
cannot be booked with a `ServiceRejected` reason, as the stock ledger does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from stockflow.events import ConsumptionRecorded, Identifier, ServiceDelivered, ServiceOrderPlaced
from stockflow.money import ZERO, to_money
from stockflow.vouchers import AccountingPolicy, Role, Voucher, VoucherLine

#: VAT on modern services (现代服务, 一般纳税人): the default rate of a service item.
SERVICE_VAT_RATE = Decimal("0.06")
#: Units a service is sold by (the item's own unit may be any of them).
SERVICE_UNITS = ("hour", "session", "visit", "day", "month", "each")


class ServiceItem(BaseModel):
    """One service the business sells (服务项目)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    code: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    unit: Annotated[str, Field(min_length=1, max_length=32)] = "hour"
    price: Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=4)] = Field(
        description="List price per unit, excluding VAT."
    )
    vat_rate: Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=4)] = SERVICE_VAT_RATE


class ServiceRejected(ValueError):
    """A service event the book cannot take; `reason` is a stable code for the dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of a placed order, priced."""

    service_order: str
    customer: str
    line: int
    item: str
    item_name: str
    unit: str
    qty: Decimal
    unit_price: Decimal
    vat_rate: Decimal

    @property
    def net(self) -> Decimal:
        return to_money(self.qty * self.unit_price)


@dataclass(frozen=True, slots=True)
class Fulfilment:
    """Units of an order line delivered, and the revenue they earn."""

    event_id: str
    occurred_at: datetime
    order_line: OrderLine
    qty: Decimal
    #: Delivered beyond what the line had left (agreed with the customer: flagged, not refused).
    beyond_order: bool
    delivered_by: str
    net: Decimal
    vat: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


@dataclass(frozen=True, slots=True)
class Consumption:
    """Materials used up serving a customer, at cost (no stock)."""

    event_id: str
    occurred_at: datetime
    customer: str
    service_order: str
    material: str
    qty: Decimal
    unit: str
    cost: Decimal


def revenue_of(qty: Decimal, unit_price: Decimal, vat_rate: Decimal) -> tuple[Decimal, Decimal]:
    """(net, VAT) of `qty` units at `unit_price` (excluding VAT): each rounded to the fen once."""
    net = to_money(qty * unit_price)
    return net, to_money(net * vat_rate)


#: The set of books a service business posts its revenue in.
SERVICE_BOOKS = "main"
#: The event type a revenue voucher's source is.
REVENUE_SOURCE = "service_delivered"


def revenue_voucher_id(event_id: str) -> str:
    return f"V:services:{event_id}"


def voucher_from_lines(lines: Iterable[Mapping[str, object]]) -> Voucher:
    """A revenue voucher again from its lines as the service worker landed them (one voucher's:
    `voucher_id`, `voucher_date`, `occurred_at`, `source_event_id`, `line_no`, the accounts,
    amounts, summary, customer and item), in line order; `UnbalancedVoucher` where they do not
    make a balanced voucher."""
    rows = sorted(lines, key=lambda r: int(r["line_no"]))  # type: ignore[call-overload]
    if not rows:
        raise ValueError("a voucher has lines")
    first = rows[0]
    ids = {str(r["voucher_id"]) for r in rows}
    if len(ids) != 1:
        raise ValueError(f"lines of several vouchers: {sorted(ids)}")
    return Voucher(
        voucher_id=str(first["voucher_id"]),
        accounting_unit=SERVICE_BOOKS,
        voucher_date=first["voucher_date"],  # type: ignore[arg-type]
        summary=str(first.get("summary") or ""),
        source_event_id=str(first["source_event_id"]),
        source_event_type=REVENUE_SOURCE,
        occurred_at=first["occurred_at"],  # type: ignore[arg-type]
        lines=tuple(
            VoucherLine(
                str(r["account_code"]),
                str(r["account_name"]),
                Decimal(str(r["debit"])),
                Decimal(str(r["credit"])),
                str(r.get("summary") or ""),
                customer=str(r.get("customer") or ""),
                sku=str(r.get("item") or ""),
            )
            for r in rows
        ),
    )


def revenue_voucher(fulfilment: Fulfilment, day: date, policy: AccountingPolicy) -> Voucher:
    """The delivery's revenue voucher: Dr 应收账款 (gross) / Cr 主营业务收入 (net) and
    Cr 应交税费-应交增值税(销项税额) (VAT)."""
    line = fulfilment.order_line
    summary = f"服务收入 {line.service_order} {line.item_name} {fulfilment.qty}{line.unit}"
    aux = {"customer": line.customer, "sku": line.item}
    receivable = policy.account(Role.RECEIVABLE)
    revenue = policy.account(Role.REVENUE)
    output_vat = policy.account(Role.OUTPUT_VAT)
    lines = [VoucherLine(receivable.code, receivable.name, fulfilment.gross, ZERO, summary, **aux)]
    if fulfilment.net:
        lines.append(VoucherLine(revenue.code, revenue.name, ZERO, fulfilment.net, summary, **aux))
    if fulfilment.vat:
        lines.append(VoucherLine(output_vat.code, output_vat.name, ZERO, fulfilment.vat, summary, **aux))
    return Voucher(
        voucher_id=revenue_voucher_id(fulfilment.event_id),
        accounting_unit=SERVICE_BOOKS,
        voucher_date=day,
        summary=summary,
        source_event_id=fulfilment.event_id,
        source_event_type=REVENUE_SOURCE,
        occurred_at=fulfilment.occurred_at,
        lines=tuple(lines),
    )


@dataclass
class ServiceBook:
    """The orders of some customers and what was delivered of each line."""

    items: Mapping[str, ServiceItem]
    lines: dict[tuple[str, int], OrderLine] = field(default_factory=dict)
    delivered: dict[tuple[str, int], Decimal] = field(default_factory=dict)
    #: Event ids taken, so a redelivered event is recognised and not booked twice.
    seen: set[str] = field(default_factory=set)

    def is_duplicate(self, event_id: str) -> bool:
        return event_id in self.seen

    def place_order(self, event: ServiceOrderPlaced) -> list[OrderLine]:
        """Price and keep the order's lines; refused whole for an unknown item or a reused order."""
        if any(key[0] == event.service_order for key in self.lines):
            raise ServiceRejected(
                "duplicate_order", f"service order {event.service_order!r} was already placed"
            )
        priced = []
        for number, ordered in enumerate(event.lines, start=1):
            item = self.items.get(ordered.item)
            if item is None:
                raise ServiceRejected(
                    "unknown_service_item", f"line {number}: no service item {ordered.item!r}"
                )
            price = item.price if ordered.unit_price is None else ordered.unit_price
            priced.append(
                OrderLine(
                    event.service_order,
                    event.customer,
                    number,
                    item.code,
                    item.name,
                    item.unit,
                    ordered.qty,
                    price,
                    item.vat_rate,
                )
            )
        for line in priced:
            self.lines[(line.service_order, line.line)] = line
            self.delivered.setdefault((line.service_order, line.line), ZERO)
        self.seen.add(event.event_id)
        return priced

    def remaining(self, service_order: str, line: int) -> Decimal:
        order_line = self.lines[(service_order, line)]
        return order_line.qty - self.delivered.get((service_order, line), ZERO)

    def deliver(self, event: ServiceDelivered) -> Fulfilment:
        """Book units delivered against an order line; beyond what it has left only when the
        delivery says it was agreed (`beyond_order`), and then flagged."""
        key = (event.service_order, event.line)
        order_line = self.lines.get(key)
        if order_line is None:
            raise ServiceRejected(
                "unknown_order_line", f"service order {event.service_order!r} has no line {event.line}"
            )
        if order_line.customer != event.customer:
            raise ServiceRejected(
                "wrong_customer",
                f"service order {event.service_order!r} is {order_line.customer!r}'s, not {event.customer!r}'s",
            )
        left = self.remaining(*key)
        beyond = event.qty > left
        if beyond and not event.beyond_order:
            raise ServiceRejected(
                "beyond_order",
                f"line {event.line} of {event.service_order!r} has {left} {order_line.unit} left, "
                f"{event.qty} delivered; send it with beyond_order once the customer agreed",
            )
        net, vat = revenue_of(event.qty, order_line.unit_price, order_line.vat_rate)
        self.delivered[key] = self.delivered.get(key, ZERO) + event.qty
        self.seen.add(event.event_id)
        return Fulfilment(
            event.event_id,
            event.occurred_at,
            order_line,
            event.qty,
            beyond,
            event.delivered_by or "",
            net,
            vat,
        )

    def record_consumption(self, event: ConsumptionRecorded) -> Consumption:
        """Materials used up at cost; an order it names must be the customer's."""
        if event.service_order is not None:
            owners = {
                line.customer for (order, _), line in self.lines.items() if order == event.service_order
            }
            if not owners:
                raise ServiceRejected("unknown_order", f"no service order {event.service_order!r}")
            if event.customer not in owners:
                raise ServiceRejected(
                    "wrong_customer", f"service order {event.service_order!r} is not {event.customer!r}'s"
                )
        self.seen.add(event.event_id)
        return Consumption(
            event.event_id,
            event.occurred_at,
            event.customer,
            event.service_order or "",
            event.material,
            event.qty,
            event.unit,
            to_money(event.cost),
        )

    def undo(self, done: Fulfilment) -> None:
        """Take back a delivery just booked (its voucher could not be made: it is refused)."""
        key = (done.order_line.service_order, done.order_line.line)
        self.delivered[key] = self.delivered.get(key, ZERO) - done.qty
        self.seen.discard(done.event_id)

    def restore(self, lines: Iterable[OrderLine], delivered: Iterable[tuple[str, int, Decimal]]) -> None:
        """Take back what was booked before (the order lines and deliveries the record holds)."""
        for line in lines:
            self.lines[(line.service_order, line.line)] = line
            self.delivered.setdefault((line.service_order, line.line), ZERO)
        for order, number, qty in delivered:
            self.delivered[(order, number)] = self.delivered.get((order, number), ZERO) + qty
