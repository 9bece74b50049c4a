"""The finance documents' use cases: record supplier invoices, payments, sales invoices, credit
notes and customer receipts; decide match exceptions; request and approve write-offs; keep the
AP and AR subledgers' open items in step with their control accounts; ageing.

Written against the `FinanceStore` port below (`stores.finance.FinanceBooks` on the books' own
DuckDB file). A document is recorded once (by its `event_id`: sending it again is a duplicate,
sending another content under the same id is refused); its vouchers, stock ledger rows (price
differences), open items and audit entry are written in one transaction. The rules are
`stockflow.finance`'s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from stockflow.finance import (
    AgeingRow,
    CreditNote,
    CreditOnAccount,
    CustomerReceipt,
    DocumentRefused,
    MatchedLine,
    MatchProblem,
    OpenItem,
    PartyKind,
    ReceiptPosition,
    SalesInvoice,
    SupplierInvoice,
    SupplierPayment,
    Tolerance,
    WriteOffCause,
    WriteOffRequest,
    ageing,
    apply_settlement,
    check_approver,
    document_number,
    due_date,
    match_line,
    party_of,
    settle,
    settled_items,
    split_difference,
)
from stockflow.finance_vouchers import (
    InvoicedLine,
    PriceDifference,
    control_changes,
    credit_note_voucher,
    customer_receipt_voucher,
    pending_balance,
    sales_invoice_voucher,
    supplier_invoice_voucher,
    supplier_payment_voucher,
    write_off_voucher,
)
from stockflow.masterdata import UnitConversionError
from stockflow.money import ZERO, to_money
from stockflow.services.books import BooksSession, LedgerEntry, PassResult, now_utc, restored_valuation
from stockflow.services.ports import AuditTrail
from stockflow.valuation import Valuation
from stockflow.vouchers import (
    AccountingPolicy,
    NumberedVoucher,
    Role,
    Voucher,
    VoucherRules,
    book_into_open_period,
    number_vouchers,
)

Clock = Callable[[], datetime]
Document = SupplierInvoice | SupplierPayment | CustomerReceipt | SalesInvoice | CreditNote


class Status:
    POSTED = "posted"
    EXCEPTION = "exception"  # a supplier invoice outside tolerance, waiting for a person
    REJECTED = "rejected"


# ---------------------------------------------------------------------------- ports
class FinanceSession(BooksSession, Protocol):
    items_changed: bool
    #: What a transaction keeps between the documents it records (valuation, run, numbers).
    cache: dict[str, Any]

    def document(self, event_id: str) -> dict[str, Any] | None: ...

    def add_document(self, record: dict[str, Any]) -> None: ...

    def decide_document(
        self, event_id: str, status: str, by: str, at: datetime, note: str, problems: list[Any]
    ) -> None: ...

    def receipt_position(
        self, location: str, purchase_order: str, sku: str, ordered: int
    ) -> ReceiptPosition: ...

    def ordered_payloads(self, location: str, purchase_orders: Iterable[str]) -> list[str]: ...

    def add_invoice_lines(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def open_items(self, accounting_unit: str, party_kind: PartyKind, party: str) -> list[OpenItem]: ...

    def items_of_order(
        self, accounting_unit: str, customer: str, sales_order: str, sku: str
    ) -> list[OpenItem]: ...

    def save_items(self, items: Sequence[OpenItem], at: datetime) -> None: ...

    def add_settlements(self, event_id: str, settled: Sequence[tuple[str, Decimal]]) -> None: ...

    def unitemized_vouchers(self, account_codes: Iterable[str]) -> list[Voucher]: ...

    def mark_itemized(self, voucher_ids: Iterable[str]) -> None: ...

    def stock_references(self, event_ids: Iterable[str]) -> dict[str, tuple[str, str]]: ...

    def write_off(self, voucher_id: str) -> dict[str, Any] | None: ...

    def save_write_off(self, record: dict[str, Any]) -> None: ...


class FinanceStore(Protocol):
    def session(self) -> AbstractContextManager[FinanceSession]: ...

    def open_items(self, party_kind: PartyKind | None = None) -> list[OpenItem]: ...

    def documents(self, status: str | None = None) -> list[dict[str, Any]]: ...

    def write_offs(self) -> list[dict[str, Any]]: ...

    def control_balance(self, account_code: str, credit_side: bool) -> dict[str, Decimal]: ...


@dataclass(frozen=True)
class SubledgerCheck:
    """A control account's balance against its open items, in one set of books."""

    accounting_unit: str
    party_kind: str
    control_account: str
    control_balance: Decimal
    subledger: Decimal
    difference: Decimal


@dataclass(frozen=True)
class Recorded:
    """What recording a document did."""

    event_id: str
    status: str  # posted | exception | duplicate
    vouchers: tuple[str, ...] = ()
    problems: tuple[MatchProblem, ...] = ()


# ---------------------------------------------------------------------------- use cases
class FinanceService:
    def __init__(
        self, store: FinanceStore, audit: AuditTrail, rules: VoucherRules, clock: Clock = now_utc
    ) -> None:
        self.store = store
        self.audit = audit
        self.rules = rules
        self.clock = clock

    @property
    def policy(self) -> AccountingPolicy:
        return self.rules.policy

    @property
    def tolerance(self) -> Tolerance:
        p = self.policy
        return Tolerance(p.match_qty_tolerance, p.match_price_tolerance, p.match_price_tolerance_abs)

    # ------------------------------------------------------------------ recording
    def record(self, doc: Document, by: str = "unknown") -> Recorded:
        """Record one finance document (idempotent by `event_id`)."""
        audits: list[tuple[str, str, str, dict[str, Any]]] = []
        with self.store.session() as books:
            self.sync_items(books)
            result = self._record_in(books, doc, by, audits)
            self._commit(books, audits)
        return result

    def _record_in(
        self,
        books: FinanceSession,
        doc: Document,
        by: str,
        audits: list[tuple[str, str, str, dict[str, Any]]],
    ) -> Recorded:
        known = books.document(doc.event_id)
        if known is not None:
            before = json.loads(known["payload"])
            if {k: v for k, v in before.items() if k != "occurred_at"} != json.loads(
                doc.model_dump_json(exclude={"occurred_at"})
            ):  # a resend may carry a new time, never a new content
                raise DocumentRefused(
                    "conflicting_duplicate",
                    f"document id {doc.event_id!r} was recorded with a different content; "
                    "a new document needs a new id",
                )
            return Recorded(doc.event_id, "duplicate")
        self._check_parties(doc)
        result = self._post(books, doc)
        kind, party = party_of(doc)
        books.add_document(
            {
                "event_id": doc.event_id,
                "event_type": doc.event_type,
                "document_no": document_number(doc),
                "party_kind": kind.value,
                "party": party,
                "accounting_unit": self.rules.unit_of(doc.location),
                "location": doc.location,
                "document_date": _document_date(doc),
                "status": result.status,
                "problems": _problem_dicts(result.problems),
                "payload": doc.model_dump_json(),
                "recorded_at": self.clock(),
                "recorded_by": by,
            }
        )
        audits.append(
            (
                by,
                f"finance.{doc.event_type}",
                f"{doc.event_type} {document_number(doc)}",
                {"event_id": doc.event_id, "status": result.status, "vouchers": list(result.vouchers)},
            )
        )
        return result

    def _commit(self, books: FinanceSession, audits: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        """The audit entries of what is about to be committed, then the commit."""
        for actor, action, target, details in audits:
            self.audit.append(actor, action, target, details=details)
        self._finish(books)

    def record_many(self, docs: Sequence[Document], by: str = "unknown") -> list[Recorded | DocumentRefused]:
        """Record documents in order in one transaction (one audit entry each); should any be
        refused, the batch is undone and each is recorded on its own, so one bad document
        never stops the others. Returns each one's outcome, or its refusal."""
        try:
            audits: list[tuple[str, str, str, dict[str, Any]]] = []
            with self.store.session() as books:
                self.sync_items(books)
                out: list[Recorded | DocumentRefused] = [
                    self._record_in(books, doc, by, audits) for doc in docs
                ]
                self._commit(books, audits)
            return out
        except DocumentRefused:
            pass
        results: list[Recorded | DocumentRefused] = []
        for doc in docs:
            try:
                results.append(self.record(doc, by))
            except DocumentRefused as exc:
                results.append(exc)
        return results

    def _check_parties(self, doc: Document) -> None:
        catalog = self.rules.catalog
        if doc.location not in catalog.locations:
            raise DocumentRefused("unknown_location", f"location {doc.location!r} is not in master data")
        kind, party = party_of(doc)
        known = catalog.suppliers if kind is PartyKind.SUPPLIER else catalog.customers
        if party not in known:
            raise DocumentRefused(f"unknown_{kind.value}", f"{kind.value} {party!r} is not in master data")
        for line in getattr(doc, "lines", ()):
            if line.sku not in catalog.skus:
                raise DocumentRefused("unknown_sku", f"SKU {line.sku!r} is not in master data")

    def _post(self, books: FinanceSession, doc: Document, force: bool = False) -> Recorded:
        if isinstance(doc, SupplierInvoice):
            return self._supplier_invoice(books, doc, force)
        if isinstance(doc, SupplierPayment):
            return self._settlement(books, doc, PartyKind.SUPPLIER, doc.supplier, doc.amount, doc.paid_on,
                                    supplier_payment_voucher(doc, self.rules.unit_of(doc.location), self.policy))  # fmt: skip
        if isinstance(doc, CustomerReceipt):
            return self._settlement(books, doc, PartyKind.CUSTOMER, doc.customer, doc.amount, doc.received_on,
                                    customer_receipt_voucher(doc, self.rules.unit_of(doc.location), self.policy))  # fmt: skip
        if isinstance(doc, SalesInvoice):
            return self._sales_invoice(books, doc)
        return self._credit_note(books, doc)

    def _base_qty(self, sku: str, qty: Decimal, unit: str) -> int:
        catalog = self.rules.catalog
        try:
            return catalog.to_base_units(catalog.skus[sku], qty, unit)
        except UnitConversionError as exc:
            raise DocumentRefused("bad_unit", str(exc)) from None

    def _ordered(
        self, books: FinanceSession, location: str, purchase_orders: Iterable[str]
    ) -> dict[tuple[str, str], int]:
        catalog = self.rules.catalog
        out: dict[tuple[str, str], int] = {}
        for payload in books.ordered_payloads(location, set(purchase_orders)):
            po = json.loads(payload)
            sku = catalog.skus.get(po.get("sku", ""))
            if sku is None:
                continue
            try:
                qty = catalog.to_base_units(sku, Decimal(str(po["qty"])), po.get("unit", "each"))
            except (UnitConversionError, KeyError, ArithmeticError):
                continue
            key = (po["purchase_order"], sku.sku)
            out[key] = out.get(key, 0) + qty
        return out

    # ------------------------------------------------------------------ supplier invoices
    def _supplier_invoice(self, books: FinanceSession, invoice: SupplierInvoice, force: bool) -> Recorded:
        unit = self.rules.unit_of(invoice.location)
        ordered = self._ordered(books, invoice.location, {line.purchase_order for line in invoice.lines})
        matched: list[MatchedLine] = []
        problems: list[MatchProblem] = []
        taken: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for n, line in enumerate(invoice.lines, start=1):
            sku = self.rules.catalog.skus[line.sku]
            qty = self._base_qty(line.sku, line.qty, line.unit)
            price = line.unit_price / sku.units()[line.unit]
            position = books.receipt_position(
                invoice.location,
                line.purchase_order,
                line.sku,
                ordered.get((line.purchase_order, line.sku), 0),
            )
            earlier = taken.get((line.purchase_order, line.sku))
            if earlier is not None:  # two lines of one invoice on the same order and SKU
                position = replace(
                    position,
                    invoiced=position.invoiced + earlier[0],
                    accrual_reversed=position.accrual_reversed + earlier[1],
                )
            outcome = match_line(
                n, line.purchase_order, line.sku, qty, price, line.vat_rate, position, self.tolerance, force
            )
            if isinstance(outcome, MatchProblem):
                problems.append(outcome)
                continue
            matched.append(outcome)
            before = taken.get((line.purchase_order, line.sku), (0, ZERO))
            taken[(line.purchase_order, line.sku)] = (before[0] + outcome.qty, before[1] + outcome.accrual)
        if problems:
            return Recorded(invoice.event_id, Status.EXCEPTION, (), tuple(problems))
        valuation = self._valuation(books)
        differences, entries = [], []
        for m in matched:
            on_hand, _ = valuation.on_hand(invoice.location, m.sku)
            to_stock, to_cost = split_difference(m.difference, m.qty, on_hand)
            rows = valuation.revalue(
                invoice.event_id, "invoice_price_difference", invoice.occurred_at, invoice.location, m.sku,
                to_stock, reference=m.purchase_order, counterparty=invoice.supplier,
            )  # fmt: skip
            placed = sum((r.value_change for r in rows), ZERO)  # what stock could not take: cost of sales
            to_cost += to_stock - placed
            differences.append(PriceDifference(m.sku, placed, to_cost))
            entries += [LedgerEntry(r, 0, self.clock()) for r in rows]
        inventory = {
            m.sku: self.rules.policy.inventory_account(self.rules.catalog.skus[m.sku].category)
            for m in matched
        }
        voucher = supplier_invoice_voucher(invoice, unit, matched, differences, self.policy, inventory)
        posted = self._book(books, [voucher], entries, valuation)
        books.add_invoice_lines(
            [
                {
                    "event_id": invoice.event_id,
                    "line_no": m.line,
                    "location": invoice.location,
                    "purchase_order": m.purchase_order,
                    "sku": m.sku,
                    "qty": m.qty,
                    "net": m.net,
                    "vat": m.vat,
                    "accrual": m.accrual,
                    "to_stock": d.to_stock,
                    "to_cost": d.to_cost_of_sales,
                }
                for m, d in zip(matched, differences, strict=True)
            ]
        )
        supplier = self.rules.catalog.suppliers[invoice.supplier]
        terms = (
            supplier.payment_terms_days
            if supplier.payment_terms_days is not None
            else self.policy.payment_terms_days
        )
        gross = sum((m.gross for m in matched), ZERO)
        item = OpenItem(
            item_id=f"{invoice.event_id}",
            accounting_unit=unit,
            party_kind=PartyKind.SUPPLIER,
            party=invoice.supplier,
            document=invoice.invoice_no,
            document_type="supplier_invoice",
            document_date=invoice.invoice_date,
            due_date=due_date(invoice.invoice_date, invoice.due_date, terms),
            amount=gross,
            open_amount=gross,
            source_event_id=invoice.event_id,
            net=sum((m.net for m in matched), ZERO),
            vat=sum((m.vat for m in matched), ZERO),
        )
        self._open_and_net(books, [item], PartyKind.SUPPLIER, invoice.supplier, unit, invoice.event_id)
        books.mark_itemized(v.voucher_id for v in posted)
        return Recorded(invoice.event_id, Status.POSTED, tuple(v.voucher_id for v in posted))

    # ------------------------------------------------------------------ payments and receipts
    def _settlement(
        self,
        books: FinanceSession,
        doc: SupplierPayment | CustomerReceipt,
        kind: PartyKind,
        party: str,
        amount: Decimal,
        on: date,
        voucher: Voucher,
    ) -> Recorded:
        unit = voucher.accounting_unit
        items = books.open_items(unit, kind, party)
        result = settle(items, amount, [(a.document, a.amount) for a in doc.allocations])
        credit = CreditOnAccount(
            doc.event_id, unit, kind, party, document_number(doc), doc.event_type, on, doc.event_id
        )
        changed = settled_items(items, result, credit)
        posted = self._book(books, [voucher])
        books.save_items(changed, self.clock())
        books.add_settlements(doc.event_id, result.settled)
        books.mark_itemized(v.voucher_id for v in posted)
        return Recorded(doc.event_id, Status.POSTED, tuple(v.voucher_id for v in posted))

    # ------------------------------------------------------------------ sales invoices, credit notes
    def _sales_invoice(self, books: FinanceSession, invoice: SalesInvoice) -> Recorded:
        catalog = self.rules.catalog
        unit = self.rules.unit_of(invoice.location)
        customer = catalog.customers[invoice.customer]
        terms = (
            customer.payment_terms_days
            if customer.payment_terms_days is not None
            else self.policy.payment_terms_days
        )
        due = due_date(invoice.invoice_date, invoice.due_date, terms)
        lines: list[InvoicedLine] = []
        changed: list[OpenItem] = []
        seen: set[str] = set()
        for line in invoice.lines:
            sku = catalog.skus[line.sku]
            qty = self._base_qty(line.sku, line.qty, line.unit)
            price = (
                (line.unit_price / sku.units()[line.unit])
                if line.unit_price is not None
                else sku.wholesale_price
            )
            if price is None:
                raise DocumentRefused(
                    "no_price", f"{line.sku} has no wholesale price: the invoice line needs unit_price"
                )
            items = [
                i
                for i in books.items_of_order(unit, invoice.customer, line.sales_order, line.sku)
                if i.document_type == "sales_issue" and i.item_id not in seen
            ]
            if not items:
                raise DocumentRefused(
                    "not_issued",
                    f"nothing of {line.sku} issued to {invoice.customer} on {line.sales_order} is left to invoice",
                )
            net = to_money(qty * price)
            vat = to_money(net * sku.vat_rate)
            lines.append(
                InvoicedLine(
                    line.sales_order, line.sku, net, vat,
                    sum((i.net for i in items), ZERO), sum((i.vat for i in items), ZERO),
                )
            )  # fmt: skip
            for i in items:
                seen.add(i.item_id)
                changed.append(
                    replace(i, document=invoice.invoice_no, document_type="sales_invoice",
                            document_date=invoice.invoice_date, due_date=due)
                )  # fmt: skip
        voucher = sales_invoice_voucher(invoice, unit, lines, customer.rebate_rate, self.policy)
        posted = self._book(books, [voucher] if voucher else [])
        difference = sum((line.gross for line in lines), ZERO) - sum(
            (line.booked_net + line.booked_vat for line in lines), ZERO
        )
        if difference:
            changed.append(
                OpenItem(
                    item_id=invoice.event_id,
                    accounting_unit=unit,
                    party_kind=PartyKind.CUSTOMER,
                    party=invoice.customer,
                    document=invoice.invoice_no,
                    document_type="sales_invoice",
                    document_date=invoice.invoice_date,
                    due_date=due,
                    amount=difference,
                    open_amount=difference,
                    source_event_id=invoice.event_id,
                )
            )
        books.save_items(changed, self.clock())
        if difference < 0:  # an invoice below what was booked: the credit settles its own items
            self._net_credits(books, PartyKind.CUSTOMER, invoice.customer, unit, invoice.event_id)
        books.mark_itemized(v.voucher_id for v in posted)
        return Recorded(invoice.event_id, Status.POSTED, tuple(v.voucher_id for v in posted))

    def _credit_note(self, books: FinanceSession, note: CreditNote) -> Recorded:
        catalog = self.rules.catalog
        unit = self.rules.unit_of(note.location)
        amounts = []
        for line in note.lines:
            sku = catalog.skus[line.sku]
            qty = self._base_qty(line.sku, line.qty, line.unit)
            net = to_money(qty * line.unit_price / sku.units()[line.unit])
            amounts.append((line.sku, net, to_money(net * sku.vat_rate)))
        voucher = credit_note_voucher(note, unit, amounts, self.policy)
        gross = sum((n + v for _, n, v in amounts), ZERO)
        items = books.open_items(unit, PartyKind.CUSTOMER, note.customer)
        allocations = []
        if note.against is not None:
            owed = sum(
                (i.open_amount for i in items if i.document == note.against and i.open_amount > 0), ZERO
            )
            if owed > 0:
                allocations.append((note.against, min(owed, gross)))
        result = settle(items, gross, allocations) if gross > 0 else None
        credit = CreditOnAccount(
            note.event_id, unit, PartyKind.CUSTOMER, note.customer, note.note_no, "credit_note", note.issued_on,
            note.event_id,
        )  # fmt: skip
        changed = [] if result is None else settled_items(items, result, credit)
        posted = self._book(books, [voucher])
        books.save_items(changed, self.clock())
        if result is not None:
            books.add_settlements(note.event_id, result.settled)
        books.mark_itemized(v.voucher_id for v in posted)
        return Recorded(note.event_id, Status.POSTED, tuple(v.voucher_id for v in posted))

    # ------------------------------------------------------------------ match exceptions
    def decide_exception(self, event_id: str, accept: bool, by: str, note: str = "") -> Recorded:
        """A person's decision on a supplier invoice in the exceptions queue: accept it as
        invoiced (posted now; a line with nothing received still cannot be) or reject it."""
        with self.store.session() as books:
            known = books.document(event_id)
            if known is None or known["event_type"] != "supplier_invoice":
                raise DocumentRefused("unknown_document", f"no supplier invoice {event_id!r}")
            if known["status"] != Status.EXCEPTION:
                raise DocumentRefused(
                    "not_an_exception", f"{event_id} is {known['status']}, not waiting for a decision"
                )
            invoice = SupplierInvoice.model_validate_json(known["payload"])
            self.sync_items(books)
            if accept:
                result = self._supplier_invoice(books, invoice, force=True)
                if result.status != Status.POSTED:
                    raise DocumentRefused(
                        "cannot_accept", "; ".join(p.detail for p in result.problems) or "nothing to post"
                    )
            else:
                result = Recorded(event_id, Status.REJECTED)
            books.decide_document(
                event_id, result.status, by, self.clock(), note, _problem_dicts(result.problems)
            )
            self.audit.append(
                by,
                "finance.exception_" + ("accepted" if accept else "rejected"),
                f"supplier_invoice {known['document_no']}",
                reason=note,
                details={"event_id": event_id, "vouchers": list(result.vouchers)},
            )
            self._finish(books)
        return result

    def recheck(self, event_id: str, by: str = "unknown") -> Recorded:
        """Match a waiting supplier invoice again (its goods may have arrived since)."""
        with self.store.session() as books:
            known = books.document(event_id)
            if known is None or known["status"] != Status.EXCEPTION:
                raise DocumentRefused("not_an_exception", f"{event_id} is not waiting for a decision")
            invoice = SupplierInvoice.model_validate_json(known["payload"])
            self.sync_items(books)
            result = self._supplier_invoice(books, invoice, force=False)
            books.decide_document(
                event_id, result.status, by, self.clock(), "rechecked", _problem_dicts(result.problems)
            )
            if result.status == Status.POSTED:
                self.audit.append(by, "finance.exception_matched", f"supplier_invoice {known['document_no']}",
                                  details={"event_id": event_id, "vouchers": list(result.vouchers)})  # fmt: skip
            self._finish(books)
        return result

    # ------------------------------------------------------------------ write-offs
    def request_write_off(self, voucher_id: str, cause: WriteOffCause, by: str, note: str = "") -> None:
        with self.store.session() as books:
            voucher = books.voucher(voucher_id)
            if voucher is None:
                raise DocumentRefused("unknown_voucher", f"no voucher {voucher_id!r}")
            if not pending_balance(voucher, self.policy).by_location:
                raise DocumentRefused("nothing_pending", f"{voucher_id} left nothing on 待处理财产损溢")
            if books.is_reversed(voucher_id):
                raise DocumentRefused("reversed", f"{voucher_id} is reversed: nothing of it is pending")
            known = books.write_off(voucher_id)
            if known is not None and known["status"] != Status.REJECTED:
                raise DocumentRefused("already_requested", f"{voucher_id} is already {known['status']}")
            books.save_write_off(
                {"voucher_id": voucher_id, "cause": cause.value, "requested_by": by, "requested_at": self.clock(),
                 "note": note, "status": "requested", "decided_by": None, "decided_at": None,
                 "write_off_voucher_id": None}
            )  # fmt: skip
            self.audit.append(
                by,
                "write_off.requested",
                f"voucher {voucher_id}",
                reason=note,
                details={"cause": cause.value},
            )
            self._finish(books)

    def approve_write_off(self, voucher_id: str, approver: str, on: date | None = None) -> Voucher:
        """A second person approves: 待处理财产损溢 is cleared to the cause's account."""
        with self.store.session() as books:
            known = books.write_off(voucher_id)
            if known is None or known["status"] != "requested":
                raise DocumentRefused("not_requested", f"no write-off of {voucher_id} waits for approval")
            request = WriteOffRequest(
                voucher_id, WriteOffCause(known["cause"]), known["requested_by"], known["note"] or ""
            )
            check_approver(request, approver)
            original = books.voucher(voucher_id)
            assert original is not None
            when = on if on is not None else self.policy.local_date(self.clock())
            voucher = write_off_voucher(
                original, request.cause, approver, when, pending_balance(original, self.policy), self.policy
            )
            (posted,) = self._book(books, [voucher])
            books.save_write_off(
                {**known, "status": "approved", "decided_by": approver, "decided_at": self.clock(),
                 "write_off_voucher_id": posted.voucher_id}
            )  # fmt: skip
            self.audit.append(
                approver, "write_off.approved", f"voucher {voucher_id}",
                details={"cause": request.cause.value, "requested_by": request.requested_by, "voucher": posted.voucher_id},
            )  # fmt: skip
            self._finish(books)
        return posted

    def reject_write_off(self, voucher_id: str, by: str, reason: str) -> None:
        with self.store.session() as books:
            known = books.write_off(voucher_id)
            if known is None or known["status"] != "requested":
                raise DocumentRefused("not_requested", f"no write-off of {voucher_id} waits for approval")
            books.save_write_off(
                {**known, "status": Status.REJECTED, "decided_by": by, "decided_at": self.clock()}
            )
            self.audit.append(by, "write_off.rejected", f"voucher {voucher_id}", reason=reason)
            self._finish(books)

    # ------------------------------------------------------------------ subledgers
    def sync(self) -> int:
        """Open items for every voucher posted on the control accounts since the last sync
        (the posting flow calls this after each pass); returns how many vouchers were taken in."""
        with self.store.session() as books:
            n = self.sync_items(books)
            if n:
                self._finish(books)
        return n

    def sync_items(self, books: FinanceSession) -> int:
        """Take in the vouchers the stock rules posted on the receivable and payable accounts
        (B2B issues, delivery-platform sales, reversals): each raises or lowers open items."""
        receivable = self.policy.roles[Role.RECEIVABLE]
        payable = self.policy.roles[Role.PAYABLE]
        vouchers = books.unitemized_vouchers({receivable, payable})
        if not vouchers:
            return 0
        refs = books.stock_references({v.source_event_id for v in vouchers})
        opened: list[OpenItem] = []  # saved together, before anything is settled against them
        for v in vouchers:
            for code, kind, field_name, on_debit in (
                (receivable, PartyKind.CUSTOMER, "customer", True),
                (payable, PartyKind.SUPPLIER, "supplier", False),
            ):
                for party, change in control_changes(v, code, field_name, on_debit).items():
                    if change > 0:
                        opened.append(self._opened_item(v, kind, party, change, refs.get(v.source_event_id)))
                        continue
                    books.save_items(opened, self.clock())
                    opened = []
                    self._lowered(books, v, kind, party, change)
        books.save_items(opened, self.clock())
        books.mark_itemized(v.voucher_id for v in vouchers)
        return len(vouchers)

    def _opened_item(
        self, v: Voucher, kind: PartyKind, party: str, change: Decimal, ref: tuple[str, str] | None
    ) -> OpenItem:
        """The open item a voucher raising a control account opens for a party."""
        reference, sku = ref if ref is not None else ("", "")
        net, vat = self._split_lines(v, party)
        issue = v.source_event_type == "sales_issue"
        return OpenItem(
            item_id=f"{v.voucher_id}|{party}",
            accounting_unit=v.accounting_unit,
            party_kind=kind,
            party=party,
            document=reference or v.voucher_id,
            document_type=v.source_event_type,
            document_date=v.voucher_date,
            due_date=due_date(v.voucher_date, None, self._terms(kind, party)),
            amount=change,
            open_amount=change,
            source_event_id=v.source_event_id,
            sales_order=reference if issue else "",
            sku=sku if issue else "",
            net=net,
            vat=vat,
        )

    def _lowered(
        self, books: FinanceSession, v: Voucher, kind: PartyKind, party: str, change: Decimal
    ) -> None:
        # lowered: settle the items of the same source first (a reversal), then the oldest
        items = books.open_items(v.accounting_unit, kind, party)
        own = [
            (i.document, i.open_amount)
            for i in items
            if i.source_event_id == v.source_event_id and i.open_amount > 0
        ]
        allocations, left = [], -change
        for document, open_amount in own:
            n = min(open_amount, left)
            if n > 0:
                allocations.append((document, n))
                left -= n
        result = settle(items, -change, _merged(allocations))
        credit = CreditOnAccount(
            f"{v.voucher_id}|{party}", v.accounting_unit, kind, party, v.voucher_id, v.source_event_type,
            v.voucher_date, v.source_event_id,
        )  # fmt: skip
        changed = settled_items(items, result, credit)
        books.save_items(changed, self.clock())
        books.add_settlements(v.voucher_id, result.settled)

    def _split_lines(self, v: Voucher, customer: str) -> tuple[Decimal, Decimal]:
        """Revenue and output VAT a voucher booked for a customer (for an issue's open item)."""
        revenue, vat = self.policy.roles[Role.REVENUE], self.policy.roles[Role.OUTPUT_VAT]
        net = sum(
            (
                line.credit - line.debit
                for line in v.lines
                if line.account_code == revenue and line.customer == customer
            ),
            ZERO,
        )
        tax = sum(
            (
                line.credit - line.debit
                for line in v.lines
                if line.account_code == vat and line.customer == customer
            ),
            ZERO,
        )
        return net, tax

    def _terms(self, kind: PartyKind, party: str) -> int:
        catalog = self.rules.catalog
        record = (catalog.suppliers if kind is PartyKind.SUPPLIER else catalog.customers).get(party)
        days = getattr(record, "payment_terms_days", None)
        return days if days is not None else self.policy.payment_terms_days

    def _open_and_net(
        self,
        books: FinanceSession,
        new: list[OpenItem],
        kind: PartyKind,
        party: str,
        unit: str,
        event_id: str,
    ) -> None:
        books.save_items(new, self.clock())
        self._net_credits(books, kind, party, unit, event_id)

    def _net_credits(
        self, books: FinanceSession, kind: PartyKind, party: str, unit: str, event_id: str
    ) -> None:
        """Credits on a party's account (paid on account, credit notes) settle its open debts,
        oldest first, as soon as there are any."""
        items = books.open_items(unit, kind, party)
        credits = sorted((i for i in items if i.open_amount < 0), key=lambda i: (i.document_date, i.item_id))
        available = -sum((i.open_amount for i in credits), ZERO)
        if available <= 0 or not any(i.open_amount > 0 for i in items):
            return
        result = settle(items, available)
        used = available - result.on_account
        if used <= 0:
            return
        changed = [i for i in apply_settlement(items, result) if i.item_id in dict(result.settled)]
        for credit in credits:  # use up the oldest credits first
            if used <= 0:
                break
            n = min(used, -credit.open_amount)
            changed.append(replace(credit, open_amount=credit.open_amount + n))
            used -= n
        books.save_items(changed, self.clock())
        books.add_settlements(f"{event_id}|net", result.settled)

    # ------------------------------------------------------------------ posting helpers
    def _valuation(self, books: FinanceSession) -> Valuation:
        """The valuation as the books left it (restored once per transaction)."""
        valuation = books.cache.get("valuation")
        if valuation is None:
            valuation = books.cache["valuation"] = restored_valuation(self.rules, books)
        return valuation

    def _book(
        self,
        books: FinanceSession,
        vouchers: Sequence[Voucher],
        entries: Sequence[LedgerEntry] = (),
        valuation: Valuation | None = None,
    ) -> list[Voucher]:
        """Number and post vouchers (and stock ledger rows) into the session's run (one run per
        transaction: the lake export writes one file per table for it)."""
        closed = books.closed_periods()
        booked = [(book_into_open_period(v, closed), None) for v in vouchers]
        numbered: list[NumberedVoucher] = number_vouchers(
            booked, books.last_voucher_numbers(), books.posted_voucher_ids({v.voucher_id for v, _ in booked})
        )
        run = books.cache.setdefault(
            "run", {"run_id": f"finance-{time.time_ns()}", "entries": 0, "vouchers": 0}
        )
        posted_at = self.clock()
        if entries:
            books.add_ledger_entries(entries, posted_at, run["run_id"])
            books.cache["valuation_changed"] = valuation is not None
        books.add_vouchers(numbered, posted_at, run["run_id"])
        run["entries"] += len(entries)
        run["vouchers"] += len(numbered)
        return [n.voucher for n in numbered]

    def _finish(self, books: FinanceSession) -> None:
        """What a transaction keeps until its end: the valuation state, the run's row; then commit."""
        at = self.clock()
        valuation = books.cache.get("valuation")
        if valuation is not None and books.cache.get("valuation_changed"):
            books.save_valuation_state(valuation.state(), at)
        run = books.cache.get("run")
        if run is not None:
            books.add_run(
                PassResult(run["run_id"], 0, run["entries"], 0, run["vouchers"], None, None, None), at, at
            )
        books.commit()

    # ------------------------------------------------------------------ reports
    def check_subledgers(self) -> list[SubledgerCheck]:
        """Each control account against the sum of its open items, per set of books (after
        taking in what was posted since the last sync)."""
        self.sync()
        rows = []
        for kind, role, credit_side in (
            (PartyKind.SUPPLIER, Role.PAYABLE, True),
            (PartyKind.CUSTOMER, Role.RECEIVABLE, False),
        ):
            code = self.policy.roles[role]
            control = self.store.control_balance(code, credit_side)
            items: dict[str, Decimal] = {}
            for item in self.store.open_items(kind):
                items[item.accounting_unit] = items.get(item.accounting_unit, ZERO) + item.open_amount
            for unit in sorted(set(control) | set(items)):
                c, s = control.get(unit, ZERO), items.get(unit, ZERO)
                rows.append(SubledgerCheck(unit, kind.value, code, c, s, c - s))
        return rows

    def exceptions(self) -> list[dict[str, Any]]:
        """Supplier invoices waiting in the match exceptions queue, with their problems."""
        return self.store.documents(status=Status.EXCEPTION)

    def write_offs(self) -> list[dict[str, Any]]:
        return self.store.write_offs()

    def ageing(self, as_of: date | None = None, party_kind: PartyKind | None = None) -> list[AgeingRow]:
        day = as_of if as_of is not None else self.policy.local_date(self.clock())
        return ageing(self.store.open_items(party_kind), day)


def _document_date(doc: Document) -> date:
    for name in ("invoice_date", "paid_on", "received_on", "issued_on"):
        value = getattr(doc, name, None)
        if value is not None:
            return value
    return doc.occurred_at.date()


def _problem_dicts(problems: Iterable[MatchProblem]) -> list[dict[str, Any]]:
    return [{"line": p.line, "reason": p.reason, "detail": p.detail} for p in problems]


def _merged(allocations: Sequence[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    out: dict[str, Decimal] = {}
    for document, amount in allocations:
        out[document] = out.get(document, ZERO) + amount
    return list(out.items())
