"""Reconciliation: the live stock state, the ledger and the cycle counts, compared.

Three sources describe the same location × SKU × batch positions:

* the **state** the stream workers serve (what people and systems see, milliseconds fresh);
* the **ledger**: the lake's accepted events replayed through the core (the record);
* the **counts**: what people found on the shelf (the latest cycle count per position).

Every difference is classified:

* ``in_flight``: the state has applied events whose lake rows are not written yet. The ledger
  will catch up by itself; nothing to do.
* ``drift``: state ≠ ledger with everything landed. The state is repaired by a
  `StockCorrection` event through the stream (never by writing its tables), which a replay of
  the lake skips, so state and ledger agree afterwards and stay agreed after any rebuild.
* ``count_variance``: a count found other than the book said. The difference is booked by a
  ``count_variance`` `StockAdjustment` whose id derives from the count (so it is booked once,
  whoever posts it); the vouchers book it to 待处理财产损溢 pending approval.

What each class calls for (`state_action`, `count_variance_action`, `legacy_action`), what a
run found and did (`Finding`, `RunReport`) and the alert a drift raises (`drift_alert`, warning
when every repair was confirmed, critical otherwise) are rules of this module; the run itself
is the use case `stockflow.services.reconciliation`.

A legacy system's stock export (双写+校验 during a migration) is compared with the ledger in
the same terms: `parse_legacy_csv` then `compare_legacy`. The export may use the legacy system's
own codes: those master data knows as aliases are read as ours; a code that stands for several
of ours cannot be compared, and its row is reported as ``ambiguous_code`` with the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from stockflow.alerts import Alert, AlertType, Severity, alert
from stockflow.events import AdjustmentReason, StockAdjustment, StockCorrection
from stockflow.i18n import Message
from stockflow.ledger import NO_BATCH, CountRecord, Position, PositionKey
from stockflow.masterdata import AliasKind, AmbiguousAlias, Catalog, UnitConversionError
from stockflow.money import to_money

FIELDS = ("on_hand", "reserved", "quarantined", "in_transit")
#: Who the reconciliation's events say produced them.
SOURCE = "reconcile_stock"


class Classification(StrEnum):
    IN_FLIGHT = "in_flight"
    DRIFT = "drift"
    COUNT_VARIANCE = "count_variance"
    #: A legacy export's row whose SKU or location code stands for several of ours: not compared.
    AMBIGUOUS_CODE = "ambiguous_code"


class Action(StrEnum):
    NONE = "none"  # in flight: resolves itself
    CORRECTION = "correction"  # drift: a StockCorrection event
    ADJUSTMENT = "adjustment"  # count variance: a count_variance StockAdjustment
    ALREADY_POSTED = "already_posted"  # count variance booked before (by the counter)
    REPORT_ONLY = "report_only"  # asked not to repair, or a legacy comparison


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One position whose sources disagree."""

    key: PositionKey
    classification: Classification
    #: The side compared with the ledger (the state, a count, a legacy export).
    observed: Position
    ledger: Position
    #: Observed − ledger per field, in base units (for a count: counted − book at the count).
    difference: Mapping[str, int]
    value: Decimal
    detail: str = ""
    count: CountRecord | None = None

    @property
    def qty(self) -> int:
        """The on-hand difference, else the first field that differs."""
        for name in FIELDS:
            if self.difference.get(name):
                return self.difference[name]
        return 0


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of comparing two sets of positions."""

    discrepancies: tuple[Discrepancy, ...]
    positions_compared: int

    def of(self, classification: Classification) -> list[Discrepancy]:
        return [d for d in self.discrepancies if d.classification is classification]


def _difference(observed: Position, ledger: Position, fields: Sequence[str] = FIELDS) -> dict[str, int]:
    return {name: getattr(observed, name) - getattr(ledger, name) if name in fields else 0 for name in FIELDS}


def value_of(catalog: Catalog, sku: str, qty: int) -> Decimal:
    """A quantity in base units at the SKU's standard cost (what the difference is worth)."""
    found = catalog.skus.get(sku)
    return to_money(found.standard_cost * qty) if found is not None else to_money(0)


def describe(diff: Mapping[str, int]) -> str:
    """A difference in words: ``on_hand +3, reserved -1``."""
    return ", ".join(f"{name} {diff[name]:+d}" for name in FIELDS if diff.get(name))


def compare_state(
    state: Mapping[PositionKey, Position],
    ledger: Mapping[PositionKey, Position],
    unlanded: Iterable[PositionKey],
    catalog: Catalog,
    observed_as: str = "the live state",
    fields: Sequence[str] = FIELDS,
) -> Comparison:
    """State vs ledger; differences at positions that events not yet landed touched are in
    flight, every other difference is drift. Only `fields` are compared."""
    pending = set(unlanded)
    found = []
    keys = state.keys() | ledger.keys()
    for key in sorted(keys):
        observed, book = state.get(key, Position()), ledger.get(key, Position())
        diff = _difference(observed, book, fields)
        if not any(diff.values()):
            continue
        if key in pending:
            cls, detail = Classification.IN_FLIGHT, f"{observed_as} is ahead of the lake ({describe(diff)})"
        else:
            cls, detail = Classification.DRIFT, f"{observed_as} − ledger: {describe(diff)}"
        value = value_of(catalog, key.sku, diff["on_hand"])
        found.append(Discrepancy(key, cls, observed, book, diff, value, detail))
    return Comparison(tuple(found), len(keys))


def count_variances(
    counts: Iterable[CountRecord],
    ledger: Mapping[PositionKey, Position],
    catalog: Catalog,
) -> list[Discrepancy]:
    """Every latest count that disagreed with the book at the moment it was taken."""
    out = []
    for record in sorted(counts, key=lambda r: r.key):
        if record.variance == 0:
            continue
        book = ledger.get(record.key, Position())
        observed = Position(record.counted, book.reserved, book.quarantined, book.in_transit)
        what = "more" if record.variance > 0 else "less"
        out.append(
            Discrepancy(
                record.key,
                Classification.COUNT_VARIANCE,
                observed,
                Position(record.book, book.reserved, book.quarantined, book.in_transit),
                {"on_hand": record.variance, "reserved": 0, "quarantined": 0, "in_transit": 0},
                value_of(catalog, record.key.sku, record.variance),
                f"count {record.count_id} found {abs(record.variance)} {what} than the book's {record.book}",
                record,
            )
        )
    return out


def variance_adjustment_id(count_event_id: str) -> str:
    """The id of the adjustment that books a count's difference: one per count, whoever posts it."""
    candidate = f"{count_event_id}:variance"
    if len(candidate) <= 64:
        return candidate
    return "variance:" + hashlib.sha256(count_event_id.encode()).hexdigest()[:40]


def variance_adjustment(
    record: CountRecord, occurred_at: datetime, source: str = SOURCE, unit: str = "each"
) -> StockAdjustment:
    """The ``count_variance`` adjustment that books what a count found (counted − book), in the
    SKU's base unit `unit` (a count record is kept in base units: grams of an ingredient)."""
    if record.variance == 0:
        raise ValueError(f"count {record.count_id} agrees with the book: nothing to adjust")
    return StockAdjustment(
        event_id=variance_adjustment_id(record.event_id),
        occurred_at=occurred_at,
        source=source,
        location=record.key.location,
        sku=record.key.sku,
        batch=record.key.batch or None,
        qty=Decimal(record.variance),
        unit=unit,
        reason=AdjustmentReason.COUNT_VARIANCE,
        count_id=record.count_id,
        note=f"count {record.count_id}: counted {record.counted}, book {record.book}",
    )


def correction_id(run_id: str, key: PositionKey) -> str:
    """One correction per run and position (a retried run sends the same id)."""
    digest = hashlib.sha256(f"{run_id}|{key.location}|{key.sku}|{key.batch}".encode()).hexdigest()[:32]
    return f"correction:{digest}"


def correction(
    found: Discrepancy, run_id: str, occurred_at: datetime, source: str = SOURCE
) -> StockCorrection:
    """The event that moves the state's position onto the ledger's (ledger − state)."""
    if found.classification is not Classification.DRIFT:
        raise ValueError(f"only drift is corrected, not {found.classification}")
    return StockCorrection(
        event_id=correction_id(run_id, found.key),
        occurred_at=occurred_at,
        source=source,
        location=found.key.location,
        sku=found.key.sku,
        batch=found.key.batch or None,
        run_id=run_id,
        note=found.detail[:500],
        **{name: -found.difference[name] for name in FIELDS},
    )


# ----------------------------------------------------------------------------- what a run does
def state_action(found: Discrepancy) -> Action:
    """State vs ledger: in flight resolves itself, drift is corrected."""
    return Action.NONE if found.classification is Classification.IN_FLIGHT else Action.CORRECTION


def count_variance_action(posted: bool, counted_since_last_run: bool) -> Action | None:
    """A count variance is booked unless its adjustment is posted already; one posted already is
    reported by the first run after the count only (None: nothing to report)."""
    if not posted:
        return Action.ADJUSTMENT
    return Action.ALREADY_POSTED if counted_since_last_run else None


def legacy_action(found: Discrepancy) -> Action:
    """A legacy comparison repairs nothing: in flight resolves itself, the rest is reported."""
    return Action.NONE if found.classification is Classification.IN_FLIGHT else Action.REPORT_ONLY


def withheld(action: Action) -> Action:
    """The action of a run asked to report only: repairs become reports."""
    return Action.REPORT_ONLY if action in (Action.CORRECTION, Action.ADJUSTMENT) else action


@dataclass
class Finding:
    """A discrepancy with what the run did about it."""

    discrepancy: Discrepancy
    action: Action
    event_id: str = ""
    #: For a repair: whether the state had applied it when the run ended.
    applied: bool | None = None
    #: The state partition it was found in (where a repair is confirmed); None for a legacy export.
    partition: int | None = None


def new_run_id(prefix: str, started_at: datetime) -> str:
    return f"{prefix}-{started_at.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass
class RunReport:
    """One reconciliation run: what was compared, what was found and what was done."""

    run_id: str
    source: str  # "stream", or "legacy:<file name>"
    started_at: datetime
    positions_compared: int = 0
    events_replayed: int = 0
    findings: list[Finding] = field(default_factory=list)
    finished_at: datetime | None = None

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    def count(self, classification: Classification) -> int:
        return sum(1 for f in self.findings if f.discrepancy.classification is classification)

    def sent(self, action: Action) -> int:
        return sum(1 for f in self.findings if f.action is action)

    @property
    def unconfirmed(self) -> int:
        return sum(1 for f in self.findings if f.applied is False)

    def of(self, classification: Classification) -> list[Finding]:
        return [f for f in self.findings if f.discrepancy.classification is classification]

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "seconds": round(self.seconds, 2),
            "positions_compared": self.positions_compared,
            "events_replayed": self.events_replayed,
            **{c.value: self.count(c) for c in Classification},
            "corrections": self.sent(Action.CORRECTION),
            "adjustments": self.sent(Action.ADJUSTMENT),
            "unconfirmed": self.unconfirmed,
        }


def drift_severity(unconfirmed: int) -> Severity:
    """Drift that was repaired warns; a repair the state has not confirmed is critical."""
    return Severity.CRITICAL if unconfirmed else Severity.WARNING


def drift_alert(report: RunReport) -> Alert | None:
    """The alert a run that found drift raises (None when it found none). Its id derives from
    the run, so a retried run raises the same alert."""
    drift = report.of(Classification.DRIFT)
    if not drift:
        return None
    unconfirmed = report.unconfirmed
    worth = sum(abs(f.discrepancy.value) for f in drift)
    locations = {f.discrepancy.key.location for f in drift}
    reported_only = sum(1 for f in drift if f.action is Action.REPORT_ONLY)
    fields = {"positions": len(drift), "worth": f"{worth:,}", "run": report.run_id}
    if unconfirmed:
        message = Message("alert.drift_unconfirmed", unconfirmed=unconfirmed, **fields)
    elif reported_only:
        message = Message("alert.drift_report_only", reported=reported_only, **fields)
    else:
        message = Message("alert.drift_corrected", **fields)
    return alert(
        AlertType.STOCK_DRIFT,
        drift_severity(unconfirmed),
        report.finished_at or report.started_at,
        next(iter(locations)) if len(locations) == 1 else "",
        message,
        id_parts=(report.run_id,),
        run_id=report.run_id,
        positions=[f"{f.discrepancy.key.location}|{f.discrepancy.key.sku}|{f.discrepancy.key.batch}" for f in drift][:50],
    )  # fmt: skip


# ----------------------------------------------------------------------------- legacy exports
class LegacyFormatError(ValueError):
    """A legacy stock export that cannot be read; the message names the line and the problem."""


@dataclass(frozen=True, slots=True)
class LegacyRow:
    line: int
    key: PositionKey
    position: Position
    #: The quantities the export has columns for (the others are not compared).
    fields: tuple[str, ...] = FIELDS
    #: Why the row cannot be compared (a code that names no single SKU or location); its key
    #: then holds the codes as far as they resolve, and its quantities as the export states them.
    problem: str = ""


LEGACY_REQUIRED = ("location", "sku", "on_hand")
LEGACY_OPTIONAL = ("batch", "unit", "reserved", "quarantined", "in_transit")


def parse_legacy_csv(text: str, catalog: Catalog) -> list[LegacyRow]:
    """Rows of a legacy export: ``location,sku,batch,on_hand`` (header names, any order; optional
    ``unit`` converts every quantity of the row into base units, and ``reserved``,
    ``quarantined``, ``in_transit``). Codes are read through master data's aliases (the legacy
    system's codes for ours); a code that stands for several of ours makes a row with a
    `LegacyRow.problem`. Master data is checked; a repeated position is an error."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in LEGACY_REQUIRED if c not in header]
    if missing:
        raise LegacyFormatError(
            f"line 1: the header lacks {', '.join(missing)} (has {', '.join(header) or 'nothing'})"
        )
    unknown = [c for c in header if c not in LEGACY_REQUIRED + LEGACY_OPTIONAL]
    if unknown:
        raise LegacyFormatError(f"line 1: unknown column(s) {', '.join(unknown)}")
    rows: list[LegacyRow] = []
    seen: dict[PositionKey, int] = {}
    present = tuple(name for name in FIELDS if name in header)
    for number, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        location, location_problem = _legacy_code(catalog, "location", row["location"])
        sku_code, sku_problem = _legacy_code(catalog, "sku", row["sku"])
        problems = [p for p in (location_problem, sku_problem) if p]
        if location not in catalog.locations and not location_problem:
            raise LegacyFormatError(f"line {number}: location {location!r} is not in master data")
        sku = catalog.skus.get(sku_code)
        if sku is None and not sku_problem:
            raise LegacyFormatError(f"line {number}: SKU {sku_code!r} is not in master data")
        batch = row.get("batch", "") if sku is None or sku.batch_managed else NO_BATCH
        unit = row.get("unit") or (sku.base_unit if sku is not None else "")
        values = {}
        for name in FIELDS:
            text_value = row.get(name, "") or ("" if name == "on_hand" else "0")
            try:
                qty = Decimal(text_value)
            except InvalidOperation:
                raise LegacyFormatError(f"line {number}: {name} {text_value!r} is not a number") from None
            if qty < 0 and name != "on_hand":
                raise LegacyFormatError(f"line {number}: {name} {qty} is negative")
            if sku is None:  # which SKU's units? the figure as the export states it
                values[name] = int(qty) if qty == qty.to_integral_value() else 0
                continue
            try:
                values[name] = catalog.to_base_units(sku, abs(qty), unit) * (1 if qty >= 0 else -1)
            except UnitConversionError as exc:
                raise LegacyFormatError(f"line {number}: {exc}") from None
        key = PositionKey(location, sku_code, batch)
        if key in seen:
            raise LegacyFormatError(
                f"line {number}: {location} {sku_code} {batch or '-'} repeats line {seen[key]}"
            )
        seen[key] = number
        problem = ""
        if problems:
            stated = f"on_hand {row.get('on_hand') or '0'}" + (f" {unit}" if unit else "")
            problem = f"line {number}: " + "; ".join(problems) + f" (the export states {stated})"
        rows.append(LegacyRow(number, key, Position(**values), present, problem))
    return rows


def _legacy_code(catalog: Catalog, kind: AliasKind, code: str) -> tuple[str, str]:
    """Our code for a legacy export's code (itself when it is ours or unknown), and why it names
    no single one of ours ("" when it does): a code that stands for several is kept as it is."""
    try:
        return catalog.resolve(kind, code), ""
    except AmbiguousAlias as exc:
        return code, f"{kind} code {code!r} stands for {', '.join(exc.targets)} in master data"


@dataclass
class LegacyReport:
    comparison: Comparison
    legacy_rows: int
    ledger_positions: int
    matched: int = field(default=0)


def compare_legacy(
    rows: Iterable[LegacyRow],
    ledger: Mapping[PositionKey, Position],
    moved_after_export: Iterable[PositionKey],
    counts: Iterable[CountRecord],
    catalog: Catalog,
    posted: Callable[[str], bool] = lambda event_id: False,
) -> LegacyReport:
    """A legacy export vs the ledger, in the quantities it has columns for. Positions the ledger
    moved after the export was taken are in flight; other differences are drift (one of the two systems is wrong); counts whose
    difference is not booked yet are count variances, as in the regular reconciliation. Rows
    whose codes name no single SKU or location are reported as ambiguous codes, not compared."""
    rows = list(rows)
    legacy = {row.key: row.position for row in rows if not row.problem}
    fields = rows[0].fields if rows else FIELDS
    compared = compare_state(legacy, ledger, moved_after_export, catalog, "the legacy export", fields)
    found = list(compared.discrepancies)
    found += [
        Discrepancy(
            row.key,
            Classification.AMBIGUOUS_CODE,
            row.position,
            Position(),
            {name: getattr(row.position, name) if name in fields else 0 for name in FIELDS},
            to_money(0),
            row.problem,
        )
        for row in rows
        if row.problem
    ]
    found += [
        d
        for d in count_variances(counts, ledger, catalog)
        if d.count is not None and not posted(variance_adjustment_id(d.count.event_id))
    ]
    matched = sum(1 for key in legacy if key not in {d.key for d in compared.discrepancies})
    return LegacyReport(
        Comparison(tuple(found), compared.positions_compared), len(rows), len(ledger), matched
    )
