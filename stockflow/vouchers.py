"""Vouchers (记账凭证): business events → balanced double-entry lines on a chart of accounts.

The default chart is the Chinese small-enterprise one (小企业会计准则) with the sub-accounts
stock needs. Rules, per accounting unit (账套) of the location an event touches:

==================  ===========================================================================
purchase receipt    Dr 库存商品 / Cr 应付账款-暂估应付款 (at the receipt cost, excl. VAT; input
                    VAT is booked when the supplier's invoice is matched, not at receipt)
till sale           Dr 其他货币资金 (or 应收账款 for delivery platforms) / Cr 主营业务收入 and
                    应交税费-应交增值税(销项税额) (till prices include VAT); and
                    Dr 主营业务成本 / Cr 库存商品 at the valuation cost
till return         the reverse, at the price refunded and the cost the goods left with
sales issue (B2B)   Dr 应收账款 / Cr 主营业务收入 + 销项税额 (SKU wholesale price excl. VAT), and
                    Dr 主营业务成本 / Cr 库存商品
transfer out        same books: Dr 库存商品-调拨在途 / Cr 库存商品; separate books: the source's
                    Dr 其他应收款-内部往来 / Cr 库存商品, and the destination's
                    Dr 库存商品-调拨在途 / Cr 其他应付款-内部往来
transfer in         Dr 库存商品 / Cr 库存商品-调拨在途
count gain / loss,  Dr 库存商品 / Cr 待处理财产损溢 (gain), Dr 待处理财产损溢 / Cr 库存商品 (loss),
adjustments, scrap  pending approval
cost variance       Dr 主营业务成本-成本差异 / Cr 库存商品 (see `stockflow.valuation`)
==================  ===========================================================================

A voucher's id derives from its source event (and the books it is in), so posting the same
event again never posts twice. A posted voucher is never edited: a correction is a red-letter
reversal (红字冲销: the same lines with negative amounts) plus a new voucher. A voucher dated in
a closed period is booked on the first day of the first open period after it, with a note.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stockflow.config import get_settings
from stockflow.events import SalesChannel
from stockflow.ledger import receivable_amounts
from stockflow.masterdata import Catalog, ValuationMethod
from stockflow.money import ZERO, split_vat, to_money
from stockflow.valuation import DEFAULT_METHODS, ValuedMovement


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    COST = "cost"
    PROFIT_AND_LOSS = "profit_and_loss"


class Account(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^\d{4,12}$")
    name: str
    kind: AccountKind


class Role(StrEnum):
    """What an account is used for by the voucher rules."""

    GOODS_IN_TRANSFER = "goods_in_transfer"
    ACCRUED_PAYABLE = "accrued_payable"
    INPUT_VAT = "input_vat"
    OUTPUT_VAT = "output_vat"
    RECEIVABLE = "receivable"
    REVENUE = "revenue"
    COST_OF_SALES = "cost_of_sales"
    COST_VARIANCE = "cost_variance"
    PENDING_LOSSES = "pending_losses"
    INTERUNIT_RECEIVABLE = "interunit_receivable"
    INTERUNIT_PAYABLE = "interunit_payable"
    PAYABLE = "payable"  # invoiced: 应付账款-应付货款
    BANK = "bank"
    ADMIN_EXPENSES = "admin_expenses"  # normal stock losses written off
    NON_OPERATING_EXPENSES = "non_operating_expenses"  # abnormal losses
    REBATES_PAYABLE = "rebates_payable"
    WORK_IN_PROCESS = "work_in_process"  # 生产成本: work orders made in house
    SUBCONTRACTED = "subcontracted"  # 委托加工物资: work orders made by a subcontractor
    PAYROLL_PAYABLE = "payroll_payable"  # 应付职工薪酬: labour reported on work orders
    OVERHEAD_APPLIED = "overhead_applied"  # 制造费用: overhead charged to work orders


#: Accounts of the roles the finance documents added, for policies written before them.
_FINANCE_ROLE_DEFAULTS: dict[str, str] = {
    "payable": "220202",
    "bank": "1002",
    "admin_expenses": "5602",
    "non_operating_expenses": "5711",
    "rebates_payable": "224102",
    "work_in_process": "4001",
    "subcontracted": "1408",
    "payroll_payable": "2211",
    "overhead_applied": "4101",
}


#: The accounts of the production roles, added to a policy written before work orders.
_PRODUCTION_ACCOUNTS = frozenset({"4001", "1408", "2211", "4101"})


def _account(code: str, name: str, kind: AccountKind) -> Account:
    return Account(code=code, name=name, kind=kind)


A, L, P = AccountKind.ASSET, AccountKind.LIABILITY, AccountKind.PROFIT_AND_LOSS
#: 小企业会计准则 accounts the stock rules use, with their sub-accounts.
CN_SMALL_ENTERPRISE_ACCOUNTS: tuple[Account, ...] = (
    _account("1001", "库存现金", A),
    _account("1002", "银行存款", A),
    _account("1012", "其他货币资金", A),
    _account("1122", "应收账款", A),
    _account("1221", "其他应收款", A),
    _account("122101", "其他应收款-内部往来", A),
    _account("1402", "在途物资", A),
    _account("1403", "原材料", A),
    _account("1405", "库存商品", A),
    _account("1408", "委托加工物资", A),
    _account("140501", "库存商品-在库", A),
    _account("140502", "库存商品-调拨在途", A),
    _account("1901", "待处理财产损溢", A),
    _account("190101", "待处理财产损溢-待处理流动资产损溢", A),
    _account("2211", "应付职工薪酬", L),
    _account("2202", "应付账款", L),
    _account("220201", "应付账款-暂估应付款", L),
    _account("220202", "应付账款-应付货款", L),
    _account("2221", "应交税费", L),
    _account("222101", "应交税费-应交增值税", L),
    _account("22210101", "应交税费-应交增值税(进项税额)", L),
    _account("22210102", "应交税费-应交增值税(销项税额)", L),
    _account("2241", "其他应付款", L),
    _account("224101", "其他应付款-内部往来", L),
    _account("224102", "其他应付款-返利", L),
    _account("3001", "实收资本", AccountKind.EQUITY),
    _account("4001", "生产成本", AccountKind.COST),
    _account("4101", "制造费用", AccountKind.COST),
    _account("5001", "主营业务收入", P),
    _account("5301", "营业外收入", P),
    _account("5401", "主营业务成本", P),
    _account("540101", "主营业务成本-商品销售成本", P),
    _account("540102", "主营业务成本-成本差异", P),
    _account("5602", "管理费用", P),
    _account("5711", "营业外支出", P),
)


class AccountingPolicy(BaseModel):
    """The chart of accounts and the choices the voucher rules and the valuation follow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accounts: dict[str, Account]
    roles: dict[Role, str]
    #: Inventory account per SKU category (库存商品 for goods for resale, 原材料 for materials).
    inventory_accounts: dict[str, str] = Field(default_factory=dict)
    default_inventory_account: str = "140501"
    #: What a till sale is paid into, per sales channel.
    till_accounts: dict[SalesChannel, str] = Field(default_factory=dict)
    default_till_account: str = "1012"
    valuation_methods: dict[str, ValuationMethod] = Field(default_factory=lambda: dict(DEFAULT_METHODS))
    #: Three-way match: quantity invoiced above received/ordered (share), price away from the
    #: receipt's cost (share, or money per base unit, whichever is larger).
    match_qty_tolerance: Decimal = Field(default=Decimal("0"), ge=0, le=1)
    match_price_tolerance: Decimal = Field(default=Decimal("0.02"), ge=0, le=1)
    match_price_tolerance_abs: Decimal = Field(default=Decimal("0.01"), ge=0)
    #: Days from an invoice to its due date when the invoice and the party name none.
    payment_terms_days: int = Field(default=30, ge=0, le=3650)
    #: The books' time zone: a voucher's date is its event's local date (default: the company's).
    timezone: str = Field(default_factory=lambda: get_settings().timezone)

    @model_validator(mode="before")
    @classmethod
    def _finance_roles(cls, data: Any) -> Any:
        """A policy written before the finance documents gets their default accounts."""
        if isinstance(data, dict) and isinstance(data.get("roles"), dict):
            data = {**data, "roles": {**_FINANCE_ROLE_DEFAULTS, **data["roles"]}}
            if isinstance(data.get("accounts"), dict):  # and the production accounts it lacks
                accounts = dict(data["accounts"])
                for account in CN_SMALL_ENTERPRISE_ACCOUNTS:
                    if account.code in _PRODUCTION_ACCOUNTS and account.code not in accounts:
                        accounts[account.code] = account
                data["accounts"] = accounts
        return data

    @model_validator(mode="after")
    def _known_leaf_accounts(self) -> AccountingPolicy:
        used = [
            *self.roles.values(),
            *self.inventory_accounts.values(),
            self.default_inventory_account,
            *self.till_accounts.values(),
            self.default_till_account,
        ]
        for code in used:
            if code not in self.accounts:
                raise ValueError(f"account {code} is used by the rules but not in the chart")
            if any(other != code and other.startswith(code) for other in self.accounts):
                raise ValueError(f"account {code} has sub-accounts: post to one of them")
        for role in Role:
            if role not in self.roles:
                raise ValueError(f"no account for {role.value}")
        ZoneInfo(self.timezone)
        return self

    @classmethod
    def cn_small_enterprise(cls) -> AccountingPolicy:
        return cls(
            accounts={a.code: a for a in CN_SMALL_ENTERPRISE_ACCOUNTS},
            roles={
                Role.GOODS_IN_TRANSFER: "140502",
                Role.ACCRUED_PAYABLE: "220201",
                Role.INPUT_VAT: "22210101",
                Role.OUTPUT_VAT: "22210102",
                Role.RECEIVABLE: "1122",
                Role.REVENUE: "5001",
                Role.COST_OF_SALES: "540101",
                Role.COST_VARIANCE: "540102",
                Role.PENDING_LOSSES: "190101",
                Role.INTERUNIT_RECEIVABLE: "122101",
                Role.INTERUNIT_PAYABLE: "224101",
                **{Role(role): code for role, code in _FINANCE_ROLE_DEFAULTS.items()},
            },
            till_accounts={SalesChannel.DELIVERY: "1122"},
        )

    @classmethod
    def load(cls, path: Path | None) -> AccountingPolicy:
        """The policy in a JSON file (same fields as this model), or the default chart."""
        if path is None:
            return cls.cn_small_enterprise()
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def account(self, role: Role) -> Account:
        return self.accounts[self.roles[role]]

    def inventory_account(self, category: str) -> Account:
        return self.accounts[self.inventory_accounts.get(category, self.default_inventory_account)]

    def is_inventory_account(self, code: str) -> bool:
        """Accounts whose balance is stock value (on hand or in transfer)."""
        inventory = {
            self.default_inventory_account,
            *self.inventory_accounts.values(),
            self.roles[Role.GOODS_IN_TRANSFER],
        }
        return code in inventory

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()


# ---------------------------------------------------------------------------- vouchers
class UnbalancedVoucher(ValueError):
    """Debits and credits of a voucher differ (a bug in a rule: never posted)."""


class PostingRejected(ValueError):
    """A posting the books refuse, with the reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class VoucherKind(StrEnum):
    NORMAL = "normal"
    REVERSAL = "reversal"  # 红字冲销
    CORRECTION = "correction"


@dataclass(frozen=True, slots=True)
class VoucherLine:
    account_code: str
    account_name: str
    debit: Decimal
    credit: Decimal
    summary: str
    location: str = ""
    sku: str = ""
    batch: str = ""
    supplier: str = ""
    customer: str = ""
    counterpart_unit: str = ""

    def negated(self) -> VoucherLine:
        return replace(self, debit=-self.debit, credit=-self.credit)


@dataclass(frozen=True, slots=True)
class Voucher:
    voucher_id: str
    accounting_unit: str
    voucher_date: date
    summary: str
    source_event_id: str
    source_event_type: str
    occurred_at: datetime
    lines: tuple[VoucherLine, ...]
    kind: VoucherKind = VoucherKind.NORMAL
    reverses: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if not self.lines:
            raise UnbalancedVoucher(f"voucher {self.voucher_id} has no lines")
        for line in self.lines:
            if line.debit and line.credit:
                raise UnbalancedVoucher(f"voucher {self.voucher_id}: a line has both a debit and a credit")
            if self.kind is not VoucherKind.REVERSAL and (line.debit < 0 or line.credit < 0):
                raise UnbalancedVoucher(f"voucher {self.voucher_id}: negative amounts are for reversals")
            if line.debit != to_money(line.debit) or line.credit != to_money(line.credit):
                raise UnbalancedVoucher(f"voucher {self.voucher_id}: amounts must be whole fen")
        if self.total_debit != self.total_credit:
            raise UnbalancedVoucher(
                f"voucher {self.voucher_id}: debits {self.total_debit} ≠ credits {self.total_credit}"
            )

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)

    @property
    def period(self) -> str:
        return period_of(self.voucher_date)


# ---------------------------------------------------------------------------- periods
_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_period(period: str) -> tuple[int, int]:
    """The year and month of a period written ``YYYY-MM`` (a calendar month); anything else is
    refused as ``bad_period``."""
    match = _PERIOD.fullmatch(period) if isinstance(period, str) else None
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise PostingRejected("bad_period", f"period {period!r} is not YYYY-MM")
    return int(match[1]), int(match[2])


def checked_period(period: str) -> str:
    """`period` itself once it is a valid ``YYYY-MM`` (see `parse_period`)."""
    parse_period(period)
    return period


def period_of(day: date) -> str:
    """Accounting periods are calendar months: ``YYYY-MM``."""
    return f"{day.year:04d}-{day.month:02d}"


def next_period(period: str) -> str:
    year, month = parse_period(period)
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def first_day(period: str) -> date:
    year, month = parse_period(period)
    return date(year, month, 1)


@dataclass(slots=True)
class _Draft:
    """Lines of one voucher being built; zero amounts are dropped, signs pick the side."""

    summary: str
    lines: list[VoucherLine] = field(default_factory=list)

    def post(self, debit: Account, credit: Account, amount: Decimal, summary: str, **aux: str) -> None:
        """Dr `debit` / Cr `credit` `amount` (a negative amount swaps the sides)."""
        if amount < 0:
            debit, credit, amount = credit, debit, -amount
        if amount == 0:
            return
        self.debit(debit, amount, summary, **aux)
        self.credit(credit, amount, summary, **aux)

    def debit(self, account: Account, amount: Decimal, summary: str, **aux: str) -> None:
        if amount:
            self.lines.append(VoucherLine(account.code, account.name, amount, ZERO, summary, **aux))

    def credit(self, account: Account, amount: Decimal, summary: str, **aux: str) -> None:
        if amount:
            self.lines.append(VoucherLine(account.code, account.name, ZERO, amount, summary, **aux))


def voucher_id_for(event_id: str, unit: str) -> str:
    return f"V:{unit}:{event_id}"


class VoucherRules:
    """Builds the vouchers of one event from its valued movements."""

    def __init__(self, catalog: Catalog, policy: AccountingPolicy) -> None:
        self.catalog = catalog
        self.policy = policy

    def unit_of(self, location: str) -> str:
        loc = self.catalog.locations.get(location)
        return loc.accounting_unit if loc else "main"

    def vouchers_for(self, movements: Sequence[ValuedMovement]) -> list[Voucher]:
        """The vouchers of one event (all `movements` share its event id)."""
        if not movements:
            return []
        first = movements[0]
        drafts: dict[str, _Draft] = {}

        def draft(unit: str, summary: str) -> _Draft:
            if unit not in drafts:
                drafts[unit] = _Draft(summary)
            return drafts[unit]

        handler = getattr(self, f"_{first.event_type}", None)
        if handler is None:
            return []
        for mv in movements:
            handler(mv, draft)
        vouchers = []
        when = self.policy.local_date(first.occurred_at)
        for unit, d in drafts.items():  # the source books first
            if not d.lines:
                continue
            vouchers.append(
                Voucher(
                    voucher_id=voucher_id_for(first.event_id, unit),
                    accounting_unit=unit,
                    voucher_date=when,
                    summary=d.summary,
                    source_event_id=first.event_id,
                    source_event_type=first.event_type,
                    occurred_at=first.occurred_at,
                    lines=tuple(merge_lines(d.lines)),
                )
            )
        return vouchers

    # ------------------------------------------------------------------ helpers
    def _inventory(self, sku: str) -> Account:
        return self.policy.inventory_account(self.catalog.skus[sku].category)

    def _variance(self, d: _Draft, mv: ValuedMovement, inventory: Account, summary: str) -> None:
        d.post(
            self.policy.account(Role.COST_VARIANCE),
            inventory,
            mv.cost_variance,
            f"{summary} 成本差异",
            location=mv.location,
            sku=mv.sku,
            batch=mv.batch,
        )

    def _stock_aux(self, mv: ValuedMovement) -> dict[str, str]:
        return {"location": mv.location, "sku": mv.sku, "batch": mv.batch}

    # ------------------------------------------------------------------ rules
    def _goods_receipt(self, mv: ValuedMovement, draft: Any) -> None:
        summary = f"采购入库 {mv.reference}"
        d = draft(self.unit_of(mv.location), summary)
        inventory = self._inventory(mv.sku)
        d.debit(inventory, mv.amount, summary, supplier=mv.counterparty, **self._stock_aux(mv))
        d.credit(self.policy.account(Role.ACCRUED_PAYABLE), mv.amount, summary, supplier=mv.counterparty)
        self._variance(d, mv, inventory, summary)

    def _till_account(self, counterparty: str) -> tuple[Account, str]:
        """The account a till line is paid into, and the customer (if the ticket names one)."""
        try:
            channel = SalesChannel(counterparty)
        except ValueError:
            return self.policy.accounts[self.policy.default_till_account], counterparty
        code = self.policy.till_accounts.get(channel, self.policy.default_till_account)
        return self.policy.accounts[code], channel.value if code == self.policy.roles[Role.RECEIVABLE] else ""

    def _till_line(self, mv: ValuedMovement, draft: Any, summary: str) -> None:
        """A till sale line, or a return line booked the same way with the sides swapped: the
        VAT-inclusive amount against revenue and output VAT, and cost of sales at its cost."""
        d = draft(self.unit_of(mv.location), summary)
        paid_into, customer = self._till_account(mv.counterparty)
        sign = 1 if mv.event_type == "pos_sale" else -1
        # a dish's own row sells its portions; an ingredient it took carries no price
        sold = mv.portions or abs(mv.qty_change)
        net, vat = split_vat(to_money(sold * (mv.unit_price or ZERO)), self.catalog.skus[mv.sku].vat_rate)
        for role, amount in ((Role.REVENUE, net), (Role.OUTPUT_VAT, vat)):
            d.post(
                paid_into,
                self.policy.account(role),
                sign * amount,
                summary,
                location=mv.location,
                customer=customer,
                sku=mv.sku,
            )
        inventory = self._inventory(mv.sku)
        d.post(
            self.policy.account(Role.COST_OF_SALES),
            inventory,
            sign * mv.amount,
            summary,
            **self._stock_aux(mv),
        )
        self._variance(d, mv, inventory, summary)

    def _pos_sale(self, mv: ValuedMovement, draft: Any) -> None:
        self._till_line(mv, draft, f"门店销售 {mv.reference}")

    def _pos_return(self, mv: ValuedMovement, draft: Any) -> None:
        self._till_line(mv, draft, f"门店退货 原单 {mv.reference}")

    def _prep_produced(self, mv: ValuedMovement, draft: Any) -> None:
        """A semi-finished item made in store: its ingredients' cost moves into its stock."""
        summary = f"门店制作 {mv.reference} {mv.dish}"
        d = draft(self.unit_of(mv.location), summary)
        if mv.qty_change < 0:
            made = {"location": mv.location, "sku": mv.dish}
            d.post(self._inventory(mv.dish), self._inventory(mv.sku), mv.amount, summary, **made)
        else:
            self._variance(d, mv, self._inventory(mv.sku), summary)

    # ------------------------------------------------------------------ work orders
    def _wip_account(self, mv: ValuedMovement) -> Account:
        """A work order's cost in production: 生产成本, or 委托加工物资 for a subcontracted one
        (its rows name the subcontractor)."""
        return self.policy.account(Role.SUBCONTRACTED if mv.counterparty else Role.WORK_IN_PROCESS)

    def _material_issued(self, mv: ValuedMovement, draft: Any) -> None:
        """Material issued to a work order (or sent to its subcontractor): its cost moves from
        stock into the order's; a return moves it back."""
        summary = f"{'委外发料' if mv.counterparty else '生产领料'} {mv.reference}"
        if mv.qty_change > 0:
            summary = f"{'委外退料' if mv.counterparty else '生产退料'} {mv.reference}"
        d = draft(self.unit_of(mv.location), summary)
        d.post(self._wip_account(mv), self._inventory(mv.sku), mv.wip_change, summary, **self._stock_aux(mv))
        self._variance(d, mv, self._inventory(mv.sku), summary)

    def _operation_reported(self, mv: ValuedMovement, draft: Any) -> None:
        """An operation's labour and overhead charged to the work order."""
        summary = f"生产报工 {mv.reference}"
        d = draft(self.unit_of(mv.location), summary)
        made = {"location": mv.location, "sku": mv.sku}
        d.post(self._wip_account(mv), self.policy.account(Role.PAYROLL_PAYABLE), mv.labour, summary, **made)
        d.post(
            self._wip_account(mv), self.policy.account(Role.OVERHEAD_APPLIED), mv.overhead, summary, **made
        )

    def _production_receipt(self, mv: ValuedMovement, draft: Any) -> None:
        """Finished goods in at the order's actual cost (out of its cost in production); a
        backflushed order's materials into it first; a subcontractor's fee owed to it."""
        summary = f"完工入库 {mv.reference}"
        d = draft(self.unit_of(mv.location), summary)
        wip = self._wip_account(mv)
        if mv.qty_change < 0:  # backflushed material
            d.post(wip, self._inventory(mv.sku), mv.wip_change, summary, **self._stock_aux(mv))
            self._variance(d, mv, self._inventory(mv.sku), summary)
            return
        d.post(wip, self.policy.account(Role.PAYABLE), mv.service_fee, summary, supplier=mv.counterparty)
        d.post(self._inventory(mv.sku), wip, mv.amount, summary, **self._stock_aux(mv))
        self._variance(d, mv, self._inventory(mv.sku), summary)

    def _work_order_closed(self, mv: ValuedMovement, draft: Any) -> None:
        """What a closed work order still held: the production variance (cost of sales)."""
        summary = f"工单关闭 {mv.reference} 生产成本差异"
        d = draft(self.unit_of(mv.location), summary)
        d.post(
            self.policy.account(Role.COST_VARIANCE),
            self._wip_account(mv),
            -mv.wip_change,
            summary,
            location=mv.location,
            sku=mv.sku,
        )

    def _sales_issue(self, mv: ValuedMovement, draft: Any) -> None:
        summary = f"销售出库 {mv.reference}"
        d = draft(self.unit_of(mv.location), summary)
        sku = self.catalog.skus[mv.sku]
        receivable = self.policy.account(Role.RECEIVABLE)
        net, vat = receivable_amounts(sku, -mv.qty_change)
        if net:
            d.debit(receivable, net + vat, summary, customer=mv.counterparty, location=mv.location)
            d.credit(
                self.policy.account(Role.REVENUE),
                net,
                summary,
                customer=mv.counterparty,
                location=mv.location,
                sku=mv.sku,
            )
            d.credit(
                self.policy.account(Role.OUTPUT_VAT),
                vat,
                summary,
                customer=mv.counterparty,
                location=mv.location,
                sku=mv.sku,
            )
        d.post(
            self.policy.account(Role.COST_OF_SALES),
            self._inventory(mv.sku),
            mv.amount,
            summary,
            customer=mv.counterparty,
            **self._stock_aux(mv),
        )

    def _transfer_out(self, mv: ValuedMovement, draft: Any) -> None:
        destination = mv.transit_location
        summary = f"调拨出库 {mv.reference} {mv.location}→{destination}"
        source_unit, destination_unit = self.unit_of(mv.location), self.unit_of(destination)
        inventory = self._inventory(mv.sku)
        transit = self.policy.account(Role.GOODS_IN_TRANSFER)
        cost = mv.amount
        transit_aux = {"location": destination, "sku": mv.sku, "batch": mv.batch}
        if source_unit == destination_unit:
            d = dest = draft(source_unit, summary)
            d.debit(transit, cost, summary, **transit_aux)
            d.credit(inventory, cost, summary, **self._stock_aux(mv))
        else:
            d = draft(source_unit, summary)
            d.post(
                self.policy.account(Role.INTERUNIT_RECEIVABLE),
                inventory,
                cost,
                summary,
                counterpart_unit=destination_unit,
                **self._stock_aux(mv),
            )
            dest = draft(destination_unit, summary)
            dest.post(
                transit,
                self.policy.account(Role.INTERUNIT_PAYABLE),
                cost,
                summary,
                counterpart_unit=source_unit,
                **transit_aux,
            )
        dest.post(
            self.policy.account(Role.COST_VARIANCE),
            transit,
            mv.cost_variance,
            f"{summary} 成本差异",
            **transit_aux,
        )

    def _transfer_in(self, mv: ValuedMovement, draft: Any) -> None:
        summary = f"调拨入库 {mv.reference} {mv.counterparty}→{mv.location}"
        d = draft(self.unit_of(mv.location), summary)
        inventory = self._inventory(mv.sku)
        d.post(
            inventory, self.policy.account(Role.GOODS_IN_TRANSFER), mv.amount, summary, **self._stock_aux(mv)
        )
        self._variance(d, mv, inventory, summary)

    def _stock_difference(self, mv: ValuedMovement, draft: Any, summary: str) -> None:
        d = draft(self.unit_of(mv.location), summary)
        inventory = self._inventory(mv.sku)
        pending = self.policy.account(Role.PENDING_LOSSES)
        if mv.qty_change > 0:
            d.post(inventory, pending, mv.amount, summary, **self._stock_aux(mv))
            self._variance(d, mv, inventory, summary)
        else:
            d.post(pending, inventory, mv.amount, summary, **self._stock_aux(mv))

    _ADJUSTMENT_NAMES: Mapping[str, str] = {
        "damage": "报损",
        "shrinkage": "损耗",
        "expired": "过期报废",
        "found": "盘盈",
        "correction": "库存调整",
    }

    def _stock_adjustment(self, mv: ValuedMovement, draft: Any) -> None:
        if mv.reference == "count_variance":  # a count's difference, named after the count
            kind = "盘盈" if mv.qty_change > 0 else "盘亏"
            self._stock_difference(mv, draft, f"{kind} {mv.counterparty}".strip())
            return
        self._stock_difference(mv, draft, f"{self._ADJUSTMENT_NAMES.get(mv.reference, '库存调整')} 调整单")

    def _conflict_decided(self, mv: ValuedMovement, draft: Any) -> None:
        """A decision on a conflict between an edge event and the books: a stock difference,
        named after the conflict (`reference`)."""
        self._stock_difference(mv, draft, f"冲突处理 {mv.reference}")

    def _quality_hold(self, mv: ValuedMovement, draft: Any) -> None:
        self._stock_difference(mv, draft, "质检拒收报废")


def merge_lines(lines: Iterable[VoucherLine]) -> list[VoucherLine]:
    """Add up lines that differ in nothing but their amounts (one debit and one credit line
    per account and dimensions), keeping first-seen order."""
    merged: dict[tuple[Any, ...], VoucherLine] = {}
    for line in lines:
        key = (
            bool(line.debit), line.account_code, line.summary, line.location, line.sku, line.batch,
            line.supplier, line.customer, line.counterpart_unit,
        )  # fmt: skip
        seen = merged.get(key)
        merged[key] = (
            line
            if seen is None
            else replace(seen, debit=seen.debit + line.debit, credit=seen.credit + line.credit)
        )
    return list(merged.values())


# ---------------------------------------------------------------------------- numbers
#: Voucher numbers (凭证号) run per set of books and period in posting order: 记-000001, 记-000002 …
VOUCHER_NUMBER_PREFIX = "记-"
VOUCHER_NUMBER_DIGITS = 6


def voucher_number(sequence: int) -> str:
    """The voucher number of the `sequence`-th voucher of a set of books' period (from 1)."""
    if sequence < 1:
        raise ValueError(f"voucher numbers start at 1, not {sequence}")
    return f"{VOUCHER_NUMBER_PREFIX}{sequence:0{VOUCHER_NUMBER_DIGITS}d}"


def voucher_sequence(number: str) -> int:
    """The position of a voucher number in its period (记-000042 → 42)."""
    digits = number.removeprefix(VOUCHER_NUMBER_PREFIX)
    if digits == number or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{number!r} is not a voucher number")
    return int(digits)


@dataclass(frozen=True, slots=True)
class NumberedVoucher:
    """A voucher about to be posted with its number, and when its source movements landed in the
    lake (None for vouchers made by hand)."""

    voucher: Voucher
    voucher_no: str
    landed_at: datetime | None = None

    def lag_seconds(self, posted_at: datetime) -> float:
        """Event time → posted."""
        return (posted_at - self.voucher.occurred_at).total_seconds()


def number_vouchers(
    vouchers: Iterable[tuple[Voucher, datetime | None]],
    last_numbers: Mapping[tuple[str, str], str],
    posted: Collection[str],
) -> list[NumberedVoucher]:
    """Number `vouchers` (with when they landed) after the last number each set of books' period
    has (`last_numbers` by (accounting unit, period)), in order; vouchers whose id is `posted`
    already, or came earlier in `vouchers`, are left out (an event is posted once)."""
    last = {key: voucher_sequence(number) for key, number in last_numbers.items()}
    seen = set(posted)
    out = []
    for voucher, landed_at in vouchers:
        if voucher.voucher_id in seen:
            continue
        seen.add(voucher.voucher_id)
        key = (voucher.accounting_unit, voucher.period)
        last[key] = last.get(key, 0) + 1
        out.append(NumberedVoucher(voucher, voucher_number(last[key]), landed_at))
    return out


# ---------------------------------------------------------------------------- corrections
def ensure_reversible(voucher_id: str, original: Voucher | None, already_reversed: bool) -> Voucher:
    """The posted voucher `voucher_id` if it may be reversed or corrected: it exists, no reversal
    of it is posted yet, and it is not itself a reversal (a reversal is undone by correcting the
    voucher it reversed, never by reversing the reversal)."""
    if original is None:
        raise PostingRejected("unknown_voucher", f"no voucher {voucher_id!r}")
    if already_reversed:
        raise PostingRejected("already_reversed", f"voucher {voucher_id} is already reversed")
    if original.kind is VoucherKind.REVERSAL:
        raise PostingRejected("reverse_reversal", f"{voucher_id} is itself a reversal")
    return original


def reversal_date(on: date | None, now: datetime, policy: AccountingPolicy) -> date:
    """The date a reversal or correction is booked on: the one asked for, else today in the books'
    time zone (and, like every voucher, moved on if its period is closed: `book_into_open_period`)."""
    return on if on is not None else policy.local_date(now)


def reverse_voucher(original: Voucher, on: date, reason: str, revision: int = 1) -> Voucher:
    """The red-letter reversal (红字冲销) of a posted voucher: same lines, negative amounts."""
    if original.kind is VoucherKind.REVERSAL:
        raise PostingRejected("reverse_reversal", f"{original.voucher_id} is itself a reversal")
    if not reason.strip():
        raise PostingRejected("missing_reason", "a reversal needs a reason")
    return Voucher(
        voucher_id=f"{original.voucher_id}~R{revision}",
        accounting_unit=original.accounting_unit,
        voucher_date=on,
        summary=f"冲销 {original.summary}: {reason}",
        source_event_id=original.source_event_id,
        source_event_type=original.source_event_type,
        occurred_at=original.occurred_at,
        lines=tuple(line.negated() for line in original.lines),
        kind=VoucherKind.REVERSAL,
        reverses=original.voucher_id,
        note=reason,
    )


def correct_voucher(
    original: Voucher, lines: Sequence[VoucherLine], on: date, reason: str, revision: int = 1
) -> tuple[Voucher, Voucher]:
    """A correction: the reversal of `original` and a new voucher with the right `lines`."""
    reversal = reverse_voucher(original, on, reason, revision)
    corrected = Voucher(
        voucher_id=f"{original.voucher_id}~C{revision}",
        accounting_unit=original.accounting_unit,
        voucher_date=on,
        summary=f"更正 {original.summary}: {reason}",
        source_event_id=original.source_event_id,
        source_event_type=original.source_event_type,
        occurred_at=original.occurred_at,
        lines=tuple(lines),
        kind=VoucherKind.CORRECTION,
        reverses=original.voucher_id,
        note=reason,
    )
    return reversal, corrected


def book_into_open_period(voucher: Voucher, closed: set[str] | frozenset[str]) -> Voucher:
    """Move a voucher dated in a closed period to the first day of the first open one, noting why."""
    period = voucher.period
    if period not in closed:
        return voucher
    target = next_period(period)
    while target in closed:
        target = next_period(target)
    note = f"原属期间 {period} 已结账，记入 {target}"
    return replace(
        voucher, voucher_date=first_day(target), note="; ".join(filter(None, [voucher.note, note]))
    )


# ---------------------------------------------------------------------------- balances
@dataclass(frozen=True, slots=True)
class AccountTotal:
    """Debits and credits on one account of one set of books over some of its lines (a single
    line, or the lines of a store that sums them before handing them over)."""

    accounting_unit: str
    account_code: str
    account_name: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    accounting_unit: str
    account_code: str
    account_name: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Debit balance (negative: a credit balance)."""
        return self.debit - self.credit


def trial_balance_of(totals: Iterable[AccountTotal]) -> list[TrialBalanceRow]:
    """The trial balance (试算平衡表): one row per set of books and account, in that order, with
    its debit and credit totals. An account keeps the first of its names in sort order, should
    the chart have renamed it."""
    sums: dict[tuple[str, str], list[Any]] = {}
    for t in totals:
        row = sums.get((t.accounting_unit, t.account_code))
        if row is None:
            sums[(t.accounting_unit, t.account_code)] = [t.account_name, t.debit, t.credit]
        else:
            row[0] = min(row[0], t.account_name)
            row[1] += t.debit
            row[2] += t.credit
    return [
        TrialBalanceRow(unit, code, name, to_money(debit), to_money(credit))
        for (unit, code), (name, debit, credit) in sorted(sums.items())
    ]


def trial_balance(vouchers: Iterable[Voucher]) -> list[TrialBalanceRow]:
    """The trial balance of `vouchers` (see `trial_balance_of`)."""
    return trial_balance_of(
        AccountTotal(v.accounting_unit, line.account_code, line.account_name, line.debit, line.credit)
        for v in vouchers
        for line in v.lines
    )


@dataclass(frozen=True, slots=True)
class LocationBalance:
    """Debit balance of one account on one location dimension (over some of its lines)."""

    account_code: str
    location: str
    balance: Decimal


def inventory_by_location_of(
    balances: Iterable[LocationBalance], policy: AccountingPolicy
) -> dict[str, Decimal]:
    """The inventory accounts' balance per location (= the stock value the books hold there);
    locations at zero are left out."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for b in balances:
        if policy.is_inventory_account(b.account_code):
            out[b.location] += b.balance
    return {loc: value for loc, value in out.items() if value}


def inventory_by_location(vouchers: Iterable[Voucher], policy: AccountingPolicy) -> dict[str, Decimal]:
    """Balance of the inventory accounts per location dimension (= stock value per location)."""
    return inventory_by_location_of(
        (
            LocationBalance(line.account_code, line.location, line.debit - line.credit)
            for v in vouchers
            for line in v.lines
        ),
        policy,
    )


@dataclass(frozen=True, slots=True)
class StockCheck:
    """The books' inventory accounts against the stock ledger's value, per location."""

    inventory: Mapping[str, Decimal]
    stock: Mapping[str, Decimal]

    @property
    def differences(self) -> dict[str, Decimal]:
        """Inventory accounts minus stock value, where they differ."""
        return {
            loc: self.inventory.get(loc, ZERO) - self.stock.get(loc, ZERO)
            for loc in sorted(set(self.inventory) | set(self.stock))
            if self.inventory.get(loc, ZERO) != self.stock.get(loc, ZERO)
        }

    @property
    def equal(self) -> bool:
        return not self.differences

    @property
    def stock_value(self) -> Decimal:
        return sum(self.stock.values(), ZERO)
