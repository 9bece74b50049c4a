"""Money: `Decimal` amounts in yuan, rounded by one rule in one place.

Every amount that is booked (a stock value change, a voucher line) goes through `to_money`:
half-up to the fen (0.01), the rounding Chinese invoices and accounting software use. Rates
(cost or price per base unit) keep six decimal places and are never booked themselves.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MONEY_QUANTUM = Decimal("0.01")
RATE_QUANTUM = Decimal("0.000001")
ZERO = Decimal("0.00")


def to_money(amount: Decimal | int) -> Decimal:
    """Round an amount to the fen, half up: the project's only rounding rule for money."""
    return Decimal(amount).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def to_rate(amount: Decimal | int) -> Decimal:
    """Round a cost or price per base unit to six places (for display and provisional costs)."""
    return Decimal(amount).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def share_of(total: Decimal, part: int, whole: int) -> Decimal:
    """`part / whole` of a booked amount, rounded; the whole of it when `part == whole`.

    Taking the last share as "all that is left" keeps a split exact: the shares of an
    amount always add back up to the amount, and a layer that is emptied is worth zero.
    """
    if whole == 0:
        raise ZeroDivisionError("share of an empty quantity")
    if part == whole:
        return total
    return to_money(total * part / whole)


def split_vat(gross: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """Split a VAT-inclusive amount into (net, VAT); the two add up to `gross` exactly."""
    net = to_money(gross / (1 + rate))
    return net, gross - net
