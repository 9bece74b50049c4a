"""The vouchers of the finance documents (`stockflow.finance`): the accounts each one debits and
credits, on the company's chart (`stockflow.vouchers.AccountingPolicy`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from stockflow.finance import (
    NORMAL_LOSSES,
    CreditNote,
    CustomerReceipt,
    MatchedLine,
    PendingBalance,
    SalesInvoice,
    SupplierInvoice,
    SupplierPayment,
    WriteOffCause,
    _Document,
)
from stockflow.money import ZERO, to_money
from stockflow.vouchers import Account, AccountingPolicy, Role, Voucher, VoucherLine, merge_lines


# ---------------------------------------------------------------------------- vouchers
class _Lines:
    """Lines of one document's voucher (zero amounts dropped; a negative amount swaps sides)."""

    def __init__(self) -> None:
        self.lines: list[VoucherLine] = []

    def post(self, debit: Account, credit: Account, amount: Decimal, summary: str, **aux: str) -> None:
        if amount < 0:
            debit, credit, amount = credit, debit, -amount
        if amount:
            self.lines.append(VoucherLine(debit.code, debit.name, amount, ZERO, summary, **aux))
            self.lines.append(VoucherLine(credit.code, credit.name, ZERO, amount, summary, **aux))

    def debit(self, account: Account, amount: Decimal, summary: str, **aux: str) -> None:
        if amount < 0:
            self.credit(account, -amount, summary, **aux)
        elif amount:
            self.lines.append(VoucherLine(account.code, account.name, amount, ZERO, summary, **aux))

    def credit(self, account: Account, amount: Decimal, summary: str, **aux: str) -> None:
        if amount < 0:
            self.debit(account, -amount, summary, **aux)
        elif amount:
            self.lines.append(VoucherLine(account.code, account.name, ZERO, amount, summary, **aux))


def finance_voucher_id(event_id: str, unit: str) -> str:
    return f"V:{unit}:{event_id}"


def _voucher(
    doc: _Document, unit: str, day: date, summary: str, lines: _Lines, policy: AccountingPolicy
) -> Voucher:
    return Voucher(
        voucher_id=finance_voucher_id(doc.event_id, unit),
        accounting_unit=unit,
        voucher_date=day,
        summary=summary,
        source_event_id=doc.event_id,
        source_event_type=doc.event_type,  # type: ignore[attr-defined]
        occurred_at=doc.occurred_at,
        lines=tuple(merge_lines(lines.lines)),
    )


@dataclass(frozen=True, slots=True)
class PriceDifference:
    """Where one matched line's price difference goes: stock (per location, SKU) and cost of sales."""

    sku: str
    to_stock: Decimal
    to_cost_of_sales: Decimal


def supplier_invoice_voucher(
    invoice: SupplierInvoice,
    unit: str,
    matched: Sequence[MatchedLine],
    differences: Sequence[PriceDifference],
    policy: AccountingPolicy,
    inventory: Mapping[str, Account],
) -> Voucher:
    """Dr 暂估应付款 (accrual reversed) + 进项税额 ± price differences / Cr 应付账款-应付货款."""
    summary = f"采购发票 {invoice.invoice_no} {invoice.supplier}"
    lines = _Lines()
    aux = {"supplier": invoice.supplier, "location": invoice.location}
    for m, d in zip(matched, differences, strict=True):
        lines.debit(policy.account(Role.ACCRUED_PAYABLE), m.accrual, summary, **aux)
        lines.debit(policy.account(Role.INPUT_VAT), m.vat, summary, **aux)
        lines.debit(inventory[m.sku], d.to_stock, f"{summary} 价差", sku=m.sku, location=invoice.location)
        lines.debit(
            policy.account(Role.COST_VARIANCE),
            d.to_cost_of_sales,
            f"{summary} 价差",
            sku=m.sku,
            location=invoice.location,
        )
    lines.credit(policy.account(Role.PAYABLE), sum((m.gross for m in matched), ZERO), summary, **aux)
    return _voucher(invoice, unit, invoice.invoice_date, summary, lines, policy)


def supplier_payment_voucher(payment: SupplierPayment, unit: str, policy: AccountingPolicy) -> Voucher:
    summary = f"付款 {payment.payment_no} {payment.supplier}"
    lines = _Lines()
    lines.post(
        policy.account(Role.PAYABLE),
        policy.account(Role.BANK),
        payment.amount,
        summary,
        supplier=payment.supplier,
    )
    return _voucher(payment, unit, payment.paid_on, summary, lines, policy)


def customer_receipt_voucher(receipt: CustomerReceipt, unit: str, policy: AccountingPolicy) -> Voucher:
    summary = f"收款 {receipt.receipt_no} {receipt.customer}"
    lines = _Lines()
    lines.post(
        policy.account(Role.BANK),
        policy.account(Role.RECEIVABLE),
        receipt.amount,
        summary,
        customer=receipt.customer,
    )
    return _voucher(receipt, unit, receipt.received_on, summary, lines, policy)


@dataclass(frozen=True, slots=True)
class InvoicedLine:
    """A sales invoice line against what its sales order's issues booked."""

    sales_order: str
    sku: str
    net: Decimal
    vat: Decimal
    booked_net: Decimal
    booked_vat: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


def sales_invoice_voucher(
    invoice: SalesInvoice,
    unit: str,
    lines_in: Sequence[InvoicedLine],
    rebate_rate: Decimal,
    policy: AccountingPolicy,
) -> Voucher | None:
    """The differences between the invoice and what the issues booked (Dr/Cr 应收账款 against
    主营业务收入 and 销项税额), and the rebate accrued on the invoiced net; None when neither."""
    summary = f"销售发票 {invoice.invoice_no} {invoice.customer}"
    lines = _Lines()
    aux = {"customer": invoice.customer, "location": invoice.location}
    receivable = policy.account(Role.RECEIVABLE)
    for line in lines_in:
        net_diff, vat_diff = line.net - line.booked_net, line.vat - line.booked_vat
        lines.debit(receivable, net_diff + vat_diff, summary, **aux)
        lines.credit(policy.account(Role.REVENUE), net_diff, summary, sku=line.sku, **aux)
        lines.credit(policy.account(Role.OUTPUT_VAT), vat_diff, summary, sku=line.sku, **aux)
    rebate = to_money(sum((line.net for line in lines_in), ZERO) * rebate_rate)
    lines.post(
        policy.account(Role.REVENUE),
        policy.account(Role.REBATES_PAYABLE),
        rebate,
        f"{summary} 返利计提",
        **aux,
    )
    if not lines.lines:
        return None
    return _voucher(invoice, unit, invoice.invoice_date, summary, lines, policy)


def credit_note_voucher(
    note: CreditNote, unit: str, amounts: Sequence[tuple[str, Decimal, Decimal]], policy: AccountingPolicy
) -> Voucher:
    """Dr 主营业务收入 + 销项税额 / Cr 应收账款 for each (SKU, net, VAT) credited."""
    summary = f"红字发票 {note.note_no} {note.customer}"
    lines = _Lines()
    aux = {"customer": note.customer, "location": note.location}
    for sku, net, vat in amounts:
        lines.debit(policy.account(Role.REVENUE), net, summary, sku=sku, **aux)
        lines.debit(policy.account(Role.OUTPUT_VAT), vat, summary, sku=sku, **aux)
    lines.credit(policy.account(Role.RECEIVABLE), sum((n + v for _, n, v in amounts), ZERO), summary, **aux)
    return _voucher(note, unit, note.issued_on, summary, lines, policy)


def write_off_voucher(
    original: Voucher,
    cause: WriteOffCause,
    approved_by: str,
    on: date,
    pending: PendingBalance,
    policy: AccountingPolicy,
) -> Voucher:
    """Clear what `original` left on 待处理财产损溢: a loss to 管理费用 (normal) or 营业外支出,
    a gain back against 管理费用."""
    summary = f"损溢转销 {original.summary} ({cause.value}, 审批 {approved_by})"
    lines = _Lines()
    expense = policy.account(Role.ADMIN_EXPENSES if cause in NORMAL_LOSSES else Role.NON_OPERATING_EXPENSES)
    for location, balance in sorted(pending.by_location.items()):
        lines.post(
            expense if balance > 0 else policy.account(Role.PENDING_LOSSES),
            policy.account(Role.PENDING_LOSSES) if balance > 0 else policy.account(Role.ADMIN_EXPENSES),
            abs(balance),
            summary,
            location=location,
        )
    return Voucher(
        voucher_id=f"{original.voucher_id}~W",
        accounting_unit=original.accounting_unit,
        voucher_date=on,
        summary=summary,
        source_event_id=original.source_event_id,
        source_event_type="write_off",
        occurred_at=original.occurred_at,
        lines=tuple(merge_lines(lines.lines)),
        note=f"approved by {approved_by}",
    )


def pending_balance(voucher: Voucher, policy: AccountingPolicy) -> PendingBalance:
    """What a voucher left on 待处理财产损溢, per location (debit − credit)."""
    code = policy.roles[Role.PENDING_LOSSES]
    out: dict[str, Decimal] = {}
    for line in voucher.lines:
        if line.account_code == code:
            out[line.location] = out.get(line.location, ZERO) + line.debit - line.credit
    return PendingBalance({k: v for k, v in out.items() if v})


def control_changes(
    voucher: Voucher, account_code: str, party_field: str, raises_on_debit: bool
) -> dict[str, Decimal]:
    """Per party, how much a voucher raises (positive) or lowers a control account's balance."""
    out: dict[str, Decimal] = {}
    for line in voucher.lines:
        if line.account_code != account_code:
            continue
        change = line.debit - line.credit if raises_on_debit else line.credit - line.debit
        party = getattr(line, party_field)
        out[party] = out.get(party, ZERO) + change
    return {k: v for k, v in out.items() if v}
