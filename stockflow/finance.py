"""业财一体: the documents that close the loop from stock to cash, and their rules.

A goods receipt accrues 应付账款-暂估应付款 and a B2B issue books 应收账款 (`stockflow.vouchers`).
The documents here settle them:

==================  ===========================================================================
supplier invoice    three-way match per line (purchase order × SKU): the quantity invoiced is
                    within the quantity tolerance of what was ordered and received, the price
                    within the price tolerance of the receipt's cost. Matched: Dr 暂估应付款 (the
                    accrual of the units invoiced) + Dr 进项税额 / Cr 应付账款-应付货款 (with
                    VAT); the price difference goes to the goods still in stock (库存商品, and
                    their valuation) and to 主营业务成本 for those already gone, in proportion.
                    Not matched: the invoice waits in the match exceptions queue for a person
supplier payment    Dr 应付账款-应付货款 / Cr 银行存款, settling the invoices it names (else the
                    oldest first); what is left is paid on account
sales invoice       the issued goods of the sales orders it names are invoiced: their open items
                    take the invoice's number, date and due date; output VAT per line at the
                    SKU's rate; a price other than the one booked at issue posts the difference
                    (Dr/Cr 应收账款 against 主营业务收入 and 销项税额); a customer's rebate is
                    accrued on the invoiced net (Dr 主营业务收入 / Cr 其他应付款-返利)
credit note         a return or a price allowance: Dr 主营业务收入 + 销项税额 / Cr 应收账款
customer receipt    Dr 银行存款 / Cr 应收账款, settling the documents it names (else the oldest)
write-off           待处理财产损溢 cleared once a second person approves: a loss to 管理费用
                    (shrinkage, damage, expiry: normal losses) or 营业外支出 (theft, disaster,
                    other), a gain to 管理费用 as a reduction
==================  ===========================================================================

The subledgers (AP per supplier, AR per customer) are open items: every voucher line on the
payable or receivable control account opens an item (it raises the balance) or settles items
(it lowers it), so each subledger always sums to its control account.

Ageing buckets: 0–30, 31–60, 61–90 and over 90 days since the document's date.

Credit: a customer's exposure is its open receivables plus its open orders; a reservation or an
issue that takes it over the customer's limit is refused, or held for approval where the
customer's setting says so, with the limit and the exposure in the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from stockflow.masterdata import OverLimit
from stockflow.money import ZERO, share_of, to_money

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
PositiveQty = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=3)]
Price = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=6)]
Amount = Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2)]
VatRate = Annotated[Decimal, Field(ge=0, le=Decimal("0.17"), max_digits=4, decimal_places=2)]
#: Lines one document may carry.
LINES_LIMIT = 500
#: The ageing buckets: (label, first day, last day or None for open-ended).
AGEING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


class PartyKind(StrEnum):
    SUPPLIER = "supplier"
    CUSTOMER = "customer"


class WriteOffCause(StrEnum):
    """Why stock was lost or found: decides the account a write-off goes to."""

    SHRINKAGE = "shrinkage"  # normal losses: 管理费用
    DAMAGE = "damage"
    EXPIRED = "expired"
    COUNT = "count"
    THEFT = "theft"  # abnormal losses: 营业外支出
    DISASTER = "disaster"
    OTHER = "other"


NORMAL_LOSSES = frozenset(
    {WriteOffCause.SHRINKAGE, WriteOffCause.DAMAGE, WriteOffCause.EXPIRED, WriteOffCause.COUNT}
)


# ---------------------------------------------------------------------------- documents
class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Identifier = Field(description="Idempotency key: the same document sent again is posted once.")
    occurred_at: AwareDatetime
    location: Identifier = Field(
        description="The location whose set of books (账套) the document belongs to."
    )


class SupplierInvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    purchase_order: Identifier
    sku: Identifier
    qty: PositiveQty
    unit: Identifier = "each"
    unit_price: Price = Field(description="Price per `unit`, excluding VAT.")
    vat_rate: VatRate = Decimal("0.13")


class SupplierInvoice(_Document):
    """A supplier's VAT invoice (进项发票) for goods received against purchase orders."""

    event_type: Literal["supplier_invoice"] = "supplier_invoice"
    invoice_no: Identifier
    supplier: Identifier
    invoice_date: date
    due_date: date | None = None
    lines: list[SupplierInvoiceLine] = Field(min_length=1, max_length=LINES_LIMIT)


class Allocation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    document: Identifier = Field(description="The invoice (or, for customers, sales order) settled.")
    amount: Amount


class SupplierPayment(_Document):
    event_type: Literal["supplier_payment"] = "supplier_payment"
    payment_no: Identifier
    supplier: Identifier
    paid_on: date
    amount: Amount
    allocations: list[Allocation] = Field(default_factory=list, max_length=LINES_LIMIT)


class CustomerReceipt(_Document):
    event_type: Literal["customer_receipt"] = "customer_receipt"
    receipt_no: Identifier
    customer: Identifier
    received_on: date
    amount: Amount
    allocations: list[Allocation] = Field(default_factory=list, max_length=LINES_LIMIT)


class SalesInvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sales_order: Identifier
    sku: Identifier
    qty: PositiveQty
    unit: Identifier = "each"
    unit_price: Price | None = Field(
        default=None, description="Per `unit`, excluding VAT; default: the SKU's wholesale price."
    )


class SalesInvoice(_Document):
    """A VAT invoice (销项发票) for goods issued to a customer."""

    event_type: Literal["sales_invoice"] = "sales_invoice"
    invoice_no: Identifier
    customer: Identifier
    invoice_date: date
    due_date: date | None = None
    lines: list[SalesInvoiceLine] = Field(min_length=1, max_length=LINES_LIMIT)


class CreditNoteLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Identifier
    qty: PositiveQty
    unit: Identifier = "each"
    unit_price: Price = Field(description="Per `unit`, excluding VAT.")


class CreditNote(_Document):
    """A red-letter sales invoice (红字发票) for goods returned or a price allowance."""

    event_type: Literal["credit_note"] = "credit_note"
    note_no: Identifier
    customer: Identifier
    issued_on: date
    against: Identifier | None = Field(
        default=None, description="The invoice it credits (its open items first)."
    )
    reason: str = Field(min_length=1, max_length=500)
    lines: list[CreditNoteLine] = Field(min_length=1, max_length=LINES_LIMIT)


FinanceDocument = Annotated[
    SupplierInvoice | SupplierPayment | CustomerReceipt | SalesInvoice | CreditNote,
    Field(discriminator="event_type"),
]
FINANCE_DOCUMENT_TYPES = (
    "supplier_invoice",
    "supplier_payment",
    "customer_receipt",
    "sales_invoice",
    "credit_note",
)
_ADAPTER: TypeAdapter[FinanceDocument] = TypeAdapter(FinanceDocument)


class DocumentRefused(ValueError):
    """A finance document the books refuse, with a stable reason code and the figures."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_document(
    raw: str | bytes | dict,
) -> SupplierInvoice | SupplierPayment | CustomerReceipt | SalesInvoice | CreditNote:
    """A finance document from JSON (or a dict), or `DocumentRefused` ``schema_violation``."""
    try:
        if isinstance(raw, dict):
            return _ADAPTER.validate_python(raw)
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in exc.errors()
        )
        raise DocumentRefused("schema_violation", problems) from None


def document_number(doc: _Document) -> str:
    for name in ("invoice_no", "payment_no", "receipt_no", "note_no"):
        value = getattr(doc, name, None)
        if value:
            return str(value)
    return doc.event_id


def party_of(doc: _Document) -> tuple[PartyKind, str]:
    supplier = getattr(doc, "supplier", None)
    if supplier:
        return PartyKind.SUPPLIER, supplier
    return PartyKind.CUSTOMER, str(doc.customer)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- three-way match
@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far an invoice may differ from the order and the receipt and still post on its own."""

    #: Quantity invoiced above what was received (and ordered), as a share: 0 allows none.
    qty: Decimal = Decimal("0")
    #: Unit price above or below the receipt's cost, as a share of it.
    price: Decimal = Decimal("0.02")
    #: ... or in money per base unit, whichever is larger (small prices round a lot).
    price_abs: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class ReceiptPosition:
    """What the books know of one purchase order × SKU at a location, in base units."""

    ordered: int  # on the purchase order(s); 0 when none was placed
    received: int
    received_value: Decimal  # the accrual booked by the receipts (excl. VAT)
    invoiced: int = 0
    accrual_reversed: Decimal = ZERO

    @property
    def uninvoiced(self) -> int:
        return max(self.received - self.invoiced, 0)

    @property
    def accrual_open(self) -> Decimal:
        return self.received_value - self.accrual_reversed

    @property
    def unit_cost(self) -> Decimal | None:
        return self.received_value / self.received if self.received else None


@dataclass(frozen=True, slots=True)
class MatchProblem:
    line: int  # 1-based
    reason: str  # not_ordered | not_received | qty_over_received | qty_over_ordered | price_outside_tolerance
    detail: str


@dataclass(frozen=True, slots=True)
class MatchedLine:
    """A line that matched: what it reverses, what it owes and the difference in price."""

    line: int
    purchase_order: str
    sku: str
    qty: int  # base units
    net: Decimal  # invoiced, excl. VAT
    vat: Decimal
    accrual: Decimal  # 暂估 reversed for these units
    difference: Decimal  # net − accrual

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


def match_line(
    n: int,
    purchase_order: str,
    sku: str,
    qty: int,
    unit_price: Decimal,
    vat_rate: Decimal,
    position: ReceiptPosition,
    tolerance: Tolerance,
    force: bool = False,
) -> MatchedLine | MatchProblem:
    """Match one invoice line (quantity in base units, price per base unit) against its order
    and receipts. `force`: a person accepted it as invoiced (only a line with receipts to
    reverse may be forced)."""
    allowed = Decimal(1) + tolerance.qty
    problem: MatchProblem | None = None
    if position.received == 0:
        problem = MatchProblem(n, "not_received", f"nothing of {sku} was received on {purchase_order}")
    elif position.ordered == 0:
        problem = MatchProblem(n, "not_ordered", f"{sku} was never ordered on {purchase_order}")
    elif position.invoiced + qty > position.received * allowed:
        problem = MatchProblem(
            n,
            "qty_over_received",
            f"{sku} on {purchase_order}: {position.invoiced + qty} invoiced in all, {position.received} received "
            f"(tolerance {tolerance.qty:%})",
        )
    elif position.invoiced + qty > position.ordered * allowed:
        problem = MatchProblem(
            n,
            "qty_over_ordered",
            f"{sku} on {purchase_order}: {position.invoiced + qty} invoiced in all, {position.ordered} ordered",
        )
    else:
        cost = position.unit_cost or ZERO
        room = max(cost * tolerance.price, tolerance.price_abs)
        if abs(unit_price - cost) > room:
            problem = MatchProblem(
                n,
                "price_outside_tolerance",
                f"{sku} on {purchase_order}: invoiced at {unit_price:.6f} per unit, received at {cost:.6f} "
                f"(tolerance ±{room:.6f})",
            )
    if problem is not None and not (force and position.uninvoiced > 0):
        return problem
    taking = min(qty, position.uninvoiced)
    accrual = share_of(position.accrual_open, taking, position.uninvoiced) if taking else ZERO
    net = to_money(qty * unit_price)
    vat = to_money(net * vat_rate)
    return MatchedLine(n, purchase_order, sku, qty, net, vat, accrual, net - accrual)


def split_difference(difference: Decimal, qty: int, on_hand: int) -> tuple[Decimal, Decimal]:
    """A price difference on `qty` units between the goods still in stock (`on_hand` of the SKU
    at the location, at most `qty` of them) and those already gone: (to stock, to cost of sales)."""
    if qty <= 0 or difference == 0:
        return ZERO, difference
    in_stock = min(max(on_hand, 0), qty)
    to_stock = share_of(difference, in_stock, qty) if in_stock else ZERO
    return to_stock, difference - to_stock


# ---------------------------------------------------------------------------- open items
@dataclass(frozen=True, slots=True)
class OpenItem:
    """One document on a party's account: positive raises what is owed (an invoice, an issue),
    negative is a credit (paid on account, a credit note not used up)."""

    item_id: str
    accounting_unit: str
    party_kind: PartyKind
    party: str
    document: str
    document_type: str
    document_date: date
    due_date: date
    amount: Decimal
    open_amount: Decimal
    source_event_id: str
    sales_order: str = ""
    sku: str = ""
    net: Decimal = ZERO
    vat: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a payment, receipt or credit did to a party's open items."""

    settled: tuple[tuple[str, Decimal], ...]  # (item id, amount taken off)
    on_account: Decimal  # left over: a credit on the party's account


def settle(
    items: Sequence[OpenItem], amount: Decimal, allocations: Sequence[tuple[str, Decimal]] = ()
) -> Settlement:
    """Take `amount` off a party's open items: the documents named in `allocations` first (each
    up to its open amount; naming a document the party does not owe is refused), then the
    oldest open items; what no item takes stays on account."""
    if amount <= 0:
        raise DocumentRefused("bad_amount", f"a settlement needs a positive amount, not {amount}")
    open_by_doc: dict[str, list[OpenItem]] = {}
    for item in items:
        if item.open_amount > 0:
            open_by_doc.setdefault(item.document, []).append(item)
    remaining = {item.item_id: item.open_amount for item in items if item.open_amount > 0}
    taken: dict[str, Decimal] = {}
    left = amount
    allocated = sum((a for _, a in allocations), ZERO)
    if allocated > amount:
        raise DocumentRefused(
            "over_allocated", f"allocations add up to {allocated}, more than the {amount} paid"
        )
    for document, wanted in allocations:
        if document not in open_by_doc:
            raise DocumentRefused("unknown_document", f"nothing is open on {document!r}")
        owed = sum((remaining[i.item_id] for i in open_by_doc[document]), ZERO)
        if wanted > owed:
            raise DocumentRefused(
                "over_allocated", f"{wanted} allocated to {document!r}, which has {owed} open"
            )
        for item in sorted(open_by_doc[document], key=_age_order):
            if wanted <= 0:
                break
            n = min(wanted, remaining[item.item_id])
            if n > 0:
                taken[item.item_id] = taken.get(item.item_id, ZERO) + n
                remaining[item.item_id] -= n
                wanted -= n
                left -= n
    if not allocations:
        for item in sorted((i for i in items if i.open_amount > 0), key=_age_order):
            if left <= 0:
                break
            n = min(left, remaining[item.item_id])
            if n > 0:
                taken[item.item_id] = taken.get(item.item_id, ZERO) + n
                remaining[item.item_id] -= n
                left -= n
    return Settlement(tuple(taken.items()), left)


def _age_order(item: OpenItem) -> tuple[date, date, str]:
    return (item.due_date, item.document_date, item.item_id)


def apply_settlement(items: Iterable[OpenItem], settlement: Settlement) -> list[OpenItem]:
    """The items with the settlement's amounts taken off."""
    taken = dict(settlement.settled)
    return [
        replace(i, open_amount=i.open_amount - taken[i.item_id]) if i.item_id in taken else i for i in items
    ]


@dataclass(frozen=True, slots=True)
class CreditOnAccount:
    """Where what a settlement leaves over is kept: a credit item on the party's account."""

    item_id: str
    accounting_unit: str
    party_kind: PartyKind
    party: str
    document: str
    document_type: str
    day: date
    source_event_id: str


def settled_items(
    items: Sequence[OpenItem], settlement: Settlement, credit: CreditOnAccount
) -> list[OpenItem]:
    """The items a settlement changed, and the credit item for what it left on account."""
    taken = dict(settlement.settled)
    changed = [i for i in apply_settlement(items, settlement) if i.item_id in taken]
    if settlement.on_account:
        c = credit
        changed.append(
            OpenItem(
                c.item_id, c.accounting_unit, c.party_kind, c.party, c.document, c.document_type, c.day,
                c.day, -settlement.on_account, -settlement.on_account, c.source_event_id,
            )
        )  # fmt: skip
    return changed


def due_date(document_date: date, given: date | None, terms_days: int) -> date:
    return given if given is not None else document_date + timedelta(days=terms_days)


# ---------------------------------------------------------------------------- ageing
def ageing_bucket(document_date: date, as_of: date) -> str:
    """The bucket of a document dated `document_date`, seen on `as_of` (days since its date;
    a document dated later than `as_of` counts as 0 days old)."""
    days = max((as_of - document_date).days, 0)
    for label, first, last in AGEING_BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    return AGEING_BUCKETS[-1][0]


@dataclass(frozen=True, slots=True)
class AgeingRow:
    accounting_unit: str
    party_kind: PartyKind
    party: str
    buckets: Mapping[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)


def ageing(items: Iterable[OpenItem], as_of: date) -> list[AgeingRow]:
    """Open amounts per set of books × party, by bucket (credits count where they are dated)."""
    rows: dict[tuple[str, PartyKind, str], dict[str, Decimal]] = {}
    for item in items:
        if item.open_amount == 0:
            continue
        key = (item.accounting_unit, item.party_kind, item.party)
        buckets = rows.setdefault(key, {label: ZERO for label, _, _ in AGEING_BUCKETS})
        buckets[ageing_bucket(item.document_date, as_of)] += item.open_amount
    return [AgeingRow(u, k, p, b) for (u, k, p), b in sorted(rows.items())]


# ---------------------------------------------------------------------------- credit
@dataclass(frozen=True, slots=True)
class CreditDecision:
    allowed: bool
    held: bool  # over the limit, and the customer's setting sends it for approval
    limit: Decimal | None
    exposure: Decimal  # open receivables + open orders, before this event
    amount: Decimal  # what this event adds

    @property
    def reason(self) -> str:
        return "credit_hold" if self.held else "credit_limit"

    @property
    def detail(self) -> str:
        return (
            f"credit limit {self.limit}; exposure {self.exposure} (open receivables and open orders) "
            f"+ this {self.amount} = {self.exposure + self.amount}"
        )


def credit_check(
    limit: Decimal | None, over_limit: OverLimit, exposure: Decimal, amount: Decimal, approved: Decimal = ZERO
) -> CreditDecision:
    """Whether an event adding `amount` to a customer's `exposure` stays within its `limit`
    (None: no limit) plus what a person `approved` above it for this order."""
    if limit is None or amount <= 0 or exposure + amount <= limit + approved:
        return CreditDecision(True, False, limit, exposure, amount)
    return CreditDecision(False, over_limit is OverLimit.APPROVAL, limit, exposure, amount)


# ---------------------------------------------------------------------------- write-offs
@dataclass(frozen=True, slots=True)
class WriteOffRequest:
    """A pending-loss (待处理财产损溢) voucher someone asks to write off."""

    voucher_id: str
    cause: WriteOffCause
    requested_by: str
    note: str = ""


def check_approver(request: WriteOffRequest, approver: str) -> None:
    """A write-off is approved by a second person: never by the one who asked for it."""
    if not approver.strip():
        raise DocumentRefused("approver_missing", "a write-off needs the approver's name")
    if approver.strip().lower() == request.requested_by.strip().lower():
        raise DocumentRefused(
            "same_person",
            f"{approver} asked for the write-off of {request.voucher_id}: a second person approves it",
        )


@dataclass(frozen=True, slots=True)
class PendingBalance:
    """What a pending-loss voucher left on 待处理财产损溢, per location: positive is a loss (a
    debit balance), negative a gain."""

    by_location: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum(self.by_location.values(), ZERO)
