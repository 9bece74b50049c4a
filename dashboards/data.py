"""Every query the dashboards make, in one place.

* The **warehouse** is opened read-only. A build writes a new file and renames it over the old
  one, so a page never waits for a build and never sees one half done.
* The **planning** and **quality** stores are read with a short retry while a flow writes them.
* **Alerts** are read straight from the lake's Parquet files (seconds fresh).
* **Live stock** comes from the stream workers' HTTP API.

Personal data leaves this module only through the core's masking, for the signed-in role.
Functions return pandas DataFrames; `Unavailable` says why a source cannot be read yet."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from stockflow.config import Settings
from stockflow.i18n import Language, translator
from stockflow.kpis import KPIS, PeriodComparison, compare_periods, daily_values
from stockflow.ledger import Position
from stockflow.masking import DEFAULT_POLICY, Role
from stockflow.masterdata import Catalog
from stockflow.risk import prior_only
from stockflow.risk import supplier_risk as score_suppliers


class Unavailable(RuntimeError):
    """A source the page needs cannot be read (yet): a message key of the catalogues and its
    fields say why (the page shows it in the interface's language, `ui.reason`)."""

    def __init__(self, key: str, **fields: Any) -> None:
        super().__init__(key, fields)
        self.key = key
        self.fields = fields

    def __str__(self) -> str:  # logs and tracebacks: the English message
        return translator(Language.EN)(self.key, **self.fields)


#: the stores the pages read, each with its own messages (no sentence built from a noun)
_STORE_MESSAGES = {
    "planning": ("data.planning_missing", "data.planning_busy", "data.planning_empty"),
    "quality": ("data.quality_missing", "data.quality_busy", "data.quality_empty"),
}


# ----------------------------------------------------------------------------- connections
def warehouse_file(settings: Settings) -> Path:
    from stores.warehouse import warehouse_path

    return warehouse_path(settings.var_dir)


def warehouse(settings: Settings, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    path = warehouse_file(settings)
    if not path.exists():
        raise Unavailable("data.warehouse_missing")
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, list(params)).df()


def warehouse_built_at(settings: Settings) -> float | None:
    path = warehouse_file(settings)
    return path.stat().st_mtime if path.exists() else None


def _store(
    path: Path, sql: str, params: Sequence[Any] = (), what: str = "planning", wait: float = 5.0
) -> pd.DataFrame:
    missing, busy, empty = _STORE_MESSAGES[what]
    if not path.exists():
        raise Unavailable(missing, file=path.name)
    deadline = time.monotonic() + wait
    while True:
        try:
            with duckdb.connect(str(path), read_only=True) as con:
                return con.execute(sql, list(params)).df()
        except duckdb.IOException as exc:  # a flow holds the file for writing
            if time.monotonic() > deadline:
                raise Unavailable(busy) from exc
            time.sleep(0.2)
        except duckdb.CatalogException as exc:
            raise Unavailable(empty) from exc


def planning(settings: Settings, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    return _store(settings.var_dir / "planning.duckdb", sql, params, "planning")


def quality(settings: Settings, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    return _store(settings.var_dir / "quality" / "quality.duckdb", sql, params, "quality")


def _reconciliation_store(settings: Settings) -> Any:
    from stores.reconciliation import ReconciliationStore

    return ReconciliationStore(settings.reconciliation_path, read_timeout=5.0)


def _reconciliation_rows(read: Any, *args: Any) -> list[dict[str, Any]]:
    try:
        return read(*args)
    except duckdb.IOException as exc:  # a run holds the file for writing
        raise Unavailable("data.reconciliation_busy") from exc


def reconciliation_runs(settings: Settings, limit: int = 200) -> pd.DataFrame:
    """The newest reconciliation runs (the live state's and legacy comparisons), newest first."""
    rows = _reconciliation_rows(_reconciliation_store(settings).runs, limit)
    if not rows:
        raise Unavailable("data.reconciliation_missing")
    return pd.DataFrame(rows)


DISCREPANCY_COLUMNS = [
    "classification", "location", "sku", "batch", "qty", "value", "action", "event_id", "applied", "detail",
    "on_hand_diff", "reserved_diff", "quarantined_diff", "in_transit_diff", "observed_on_hand", "ledger_on_hand",
]  # fmt: skip


def discrepancies(settings: Settings, run_id: str) -> pd.DataFrame:
    """What one run found: position, class, difference, value, and the action taken (by class,
    the largest value first)."""
    rows = _reconciliation_rows(_reconciliation_store(settings).discrepancies, run_id)
    return pd.DataFrame(rows, columns=DISCREPANCY_COLUMNS)


def catalog(settings: Settings) -> Catalog:
    if not settings.masterdata_path.exists():
        raise Unavailable("data.masterdata_missing")
    from stores.masterdata import read_catalog  # personal fields decrypted

    return read_catalog(settings.masterdata_path)


# ----------------------------------------------------------------------------- overview
#: Each KPI's daily series, read from its mart (the definitions live in dbt_project/ once).
_KPI_SQL = {
    "inventory_value": """
        SELECT business_date AS day, sum(stock_value)::DOUBLE AS value
        FROM kpi_daily_inventory GROUP BY ALL""",
    "turnover_days": """
        SELECT business_date AS day, sum(stock_value)::DOUBLE AS numerator,
               sum(cost_of_sales)::DOUBLE AS denominator
        FROM kpi_daily_inventory GROUP BY ALL""",
    "stockout_rate": """
        SELECT business_date AS day, sum(stockout_sku_days)::DOUBLE AS numerator,
               sum(active_sku_days)::DOUBLE AS denominator
        FROM kpi_stockout_rate GROUP BY ALL""",
    "dead_stock_ratio": """
        SELECT business_date AS day,
               (sum(dead_stock_value) / nullif(sum(on_hand_value), 0))::DOUBLE AS value
        FROM kpi_daily_inventory GROUP BY ALL""",
    "near_expiry_value": """
        SELECT business_date AS day, sum(near_expiry_value)::DOUBLE AS value
        FROM kpi_daily_near_expiry_value GROUP BY ALL""",
    "fill_rate": """
        SELECT business_date AS day, sum(filled_qty)::DOUBLE AS numerator,
               sum(ordered_qty)::DOUBLE AS denominator
        FROM kpi_fill_rate GROUP BY ALL""",
    "data_freshness": """
        SELECT business_date AS day, max(landed_lag_p95_seconds)::DOUBLE AS value
        FROM fct_data_freshness GROUP BY ALL""",
    "voucher_lag": """
        SELECT posted_date AS day, avg(lag_p50_seconds)::DOUBLE AS value
        FROM kpi_voucher_lag GROUP BY ALL""",
}


def kpi_series(settings: Settings, key: str) -> pd.DataFrame:
    """One KPI's daily series: `day` and `value` (a ratio KPI: also numerator, denominator)."""
    frame = warehouse(settings, f"SELECT * FROM ({_KPI_SQL[key]}) ORDER BY day")
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    if "numerator" in frame:
        frame["value"] = frame["numerator"] / frame["denominator"].where(frame["denominator"] != 0)
    return frame


def kpi_comparison(frame: pd.DataFrame, key: str, days: int = 7) -> PeriodComparison:
    return compare_periods(KPIS[key], daily_values(frame.to_dict("records")), days)


# ----------------------------------------------------------------------------- live stock
def live_stock(settings: Settings, locations: Sequence[str]) -> pd.DataFrame:
    """One row per location × SKU × batch, straight from the workers (on hand, reserved,
    quarantined, in transit, available)."""
    from infra.worker_client import StockApiError, WorkerClient

    workers = WorkerClient(settings.web_url, attempts=1, timeout=5.0)
    rows = []
    for location in locations:
        try:
            body = workers.stock(location)
        except StockApiError as exc:
            if exc.status == 503:
                raise Unavailable("data.stock_rebalancing") from exc
            if exc.status is not None:
                raise Unavailable("data.stock_api_status", status=exc.status, location=location) from exc
            raise Unavailable("data.stock_api_unreachable", url=settings.web_url, error=str(exc)) from exc
        for item in body["items"]:
            for batch in item["batches"]:
                rows.append(
                    {
                        "location": location,
                        "sku": item["sku"],
                        "batch": batch["batch"],
                        "on_hand": batch.get("on_hand", 0),
                        "reserved": batch.get("reserved", 0),
                        "quarantined": batch.get("quarantined", 0),
                        "in_transit": batch.get("in_transit", 0),
                        "available": Position.from_dict(batch).unrestricted,
                        "expiry_date": batch.get("expiry_date"),
                    }
                )
    columns = [
        "location",
        "sku",
        "batch",
        "on_hand",
        "reserved",
        "quarantined",
        "in_transit",
        "available",
        "expiry_date",
    ]
    return pd.DataFrame(rows, columns=columns)


def stock_ledger(settings: Settings, sku: str, location: str | None = None) -> pd.DataFrame:
    """A SKU's valued movements (as of the last warehouse build), newest first."""
    return warehouse(
        settings,
        """
        SELECT occurred_at, location_id AS location, batch_id AS batch, event_type, valuation_method,
               qty_change, qty_after, valuation_rate, value_change, stock_value_after
        FROM stg_books__stock_ledger_entries
        WHERE sku_id = ? AND (? IS NULL OR location_id = ?)
        ORDER BY occurred_at DESC, location_id LIMIT 500""",
        [sku, location, location],
    )


# ----------------------------------------------------------------------------- alerts
def alerts(settings: Settings, since: date | None = None) -> pd.DataFrame:
    folder = settings.lake_dir / "alerts"
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return pd.DataFrame(
            columns=[
                "raised_at",
                "occurred_at",
                "alert_type",
                "severity",
                "location",
                "sku",
                "batch",
                "message",
                "details",
            ]
        )
    with duckdb.connect() as con:
        frame = con.execute(
            f"""
            SELECT raised_at, occurred_at, alert_type, severity, location, sku, batch, message, details, alert_id
            FROM read_parquet('{folder.as_posix()}/**/*.parquet', union_by_name = true, hive_partitioning = false)
            WHERE ? IS NULL OR occurred_at >= CAST(? AS TIMESTAMPTZ)
            QUALIFY row_number() OVER (PARTITION BY alert_id ORDER BY raised_at) = 1
            ORDER BY occurred_at DESC
            """,
            [since, since],
        ).df()
    return frame.drop(columns=["alert_id"])


# ----------------------------------------------------------------------------- cold chain
def supplier_risk(settings: Settings) -> pd.DataFrame:
    """Every supplier's risk from the pallet inspections in the lake (the core's formula); a
    supplier never inspected shows the prior."""
    from stockflow.events import parse_event

    folder = settings.lake_dir / "scans"
    events = []
    if folder.is_dir() and any(folder.rglob("*.parquet")):
        with duckdb.connect() as con:
            rows = con.execute(
                f"""
                SELECT payload FROM read_parquet('{folder.as_posix()}/**/*.parquet', union_by_name = true,
                                                 hive_partitioning = false)
                WHERE event_type = 'pallet_inspected'
                QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY apply_seq) = 1
                """
            ).fetchall()
        events = [parse_event(payload) for (payload,) in rows]
    suppliers = catalog(settings).suppliers
    scores = score_suppliers(events, datetime.now(UTC))
    out = []
    for code in sorted(suppliers.keys() | scores.keys()):
        r = scores.get(code) or prior_only(code)
        out.append(
            {
                "supplier": code,
                "name": suppliers[code].name if code in suppliers else "",
                "risk": r.risk,
                "level": r.level.value,
                "pallets": r.pallets,
                "damaged_pallets": r.damaged_pallets,
                "observed_rate": r.observed_rate,
                "damaged_cartons": r.damaged_cartons,
                "cartons": r.cartons,
                "mixed_pallets": r.mixed_pallets,
            }
        )
    return pd.DataFrame(out).sort_values(["risk", "supplier"], ascending=[False, True], ignore_index=True)


def cold_chain_skus(settings: Settings) -> pd.DataFrame:
    return warehouse(
        settings,
        "SELECT sku_id, sku_name, cold_chain_min_c, cold_chain_max_c FROM dim_skus"
        " WHERE is_current AND cold_chain_min_c IS NOT NULL ORDER BY sku_id",
    )


def temperature_locations(settings: Settings) -> list[str]:
    frame = warehouse(settings, "SELECT DISTINCT location_id FROM stg_lake__temperature_readings ORDER BY 1")
    return frame["location_id"].tolist()


def temperature_readings(settings: Settings, location: str, days: int = 7) -> pd.DataFrame:
    return warehouse(
        settings,
        """
        SELECT occurred_at, sensor_id, celsius FROM stg_lake__temperature_readings
        WHERE location_id = ?
          AND occurred_at >= (SELECT max(occurred_at) FROM stg_lake__temperature_readings
                              WHERE location_id = ?) - to_days(?)
        ORDER BY occurred_at""",
        [location, location, days],
    )


def excursions(settings: Settings, location: str | None = None) -> pd.DataFrame:
    return warehouse(
        settings,
        "SELECT * FROM fct_temperature_excursions WHERE ? IS NULL OR location_id = ?"
        " ORDER BY last_excursion_at DESC",
        [location, location],
    )


# ----------------------------------------------------------------------------- finance
def periods(settings: Settings) -> list[str]:
    frame = warehouse(settings, "SELECT DISTINCT period FROM fct_vouchers ORDER BY period DESC")
    return frame["period"].tolist()


_JOURNAL_FILTER = """
    FROM fct_voucher_lines
    WHERE (? IS NULL OR period = ?) AND (? IS NULL OR accounting_unit = ?)
      AND (? IS NULL OR account_code LIKE ? || '%')"""


def _journal_params(period: str | None, unit: str | None, account: str | None) -> list[Any]:
    return [period, period, unit, unit, account, account]


def accounting_units(settings: Settings) -> list[str]:
    frame = warehouse(settings, "SELECT DISTINCT accounting_unit FROM fct_voucher_lines ORDER BY 1")
    return frame["accounting_unit"].dropna().tolist()


def journal_summary(
    settings: Settings, period: str | None, unit: str | None = None, account: str | None = None
) -> dict[str, Any]:
    """Vouchers, lines, debit and credit of the filtered journal (summed in the warehouse)."""
    frame = warehouse(
        settings,
        "SELECT count(DISTINCT voucher_id) AS vouchers, count(*) AS lines,"
        " coalesce(sum(debit), 0) AS debit, coalesce(sum(credit), 0) AS credit" + _JOURNAL_FILTER,
        _journal_params(period, unit, account),
    )
    return frame.to_dict("records")[0]


def voucher_journal(
    settings: Settings,
    role: Role,
    period: str | None,
    unit: str | None = None,
    account: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Voucher lines, newest first (`limit`: only the first lines, for the screen), masked for
    `role` (a customer code or a summary can hold a phone number)."""
    frame = warehouse(
        settings,
        "SELECT voucher_id, line_no, accounting_unit, period, voucher_date, account_code, account_name,"
        " debit, credit, summary, location_id, sku_id, supplier_id, customer_id"
        + _JOURNAL_FILTER
        + " ORDER BY voucher_date DESC, voucher_id, line_no"
        + (f" LIMIT {int(limit)}" if limit else ""),
        _journal_params(period, unit, account),
    )
    return masked(frame, role)


class _WarehouseAccountTotals:
    """The warehouse's voucher lines as the books' `AccountTotals` port: debit and credit per set
    of books and account, summed in DECIMAL and read as `Decimal` (never through floats)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def account_totals(
        self, up_to_period: str | None = None, accounting_unit: str | None = None
    ) -> list[Any]:
        from stockflow.vouchers import AccountTotal

        path = warehouse_file(self.settings)
        if not path.exists():
            raise Unavailable("data.warehouse_missing")
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute(
                """
                SELECT accounting_unit, account_code, account_name, sum(debit), sum(credit)
                FROM fct_voucher_lines
                WHERE (?::VARCHAR IS NULL OR period <= ?) AND (?::VARCHAR IS NULL OR accounting_unit = ?)
                GROUP BY ALL""",
                [up_to_period, up_to_period, accounting_unit, accounting_unit],
            ).fetchall()
        return [AccountTotal(u, c, n or "", d, k) for u, c, n, d, k in rows]


def trial_balance(settings: Settings, period: str | None, unit: str | None = None) -> pd.DataFrame:
    """Per set of books and account, up to the end of `period` (all periods: None), of one set of
    books or all: the books' trial balance (`stockflow.services.books`) over the warehouse."""
    from stockflow.services.books import trial_balance as books_trial_balance

    rows = books_trial_balance(_WarehouseAccountTotals(settings), period, unit)
    columns = ["accounting_unit", "account_code", "account_name", "debit", "credit", "balance"]
    return pd.DataFrame(
        [(r.accounting_unit, r.account_code, r.account_name, r.debit, r.credit, r.balance) for r in rows],
        columns=columns,
    )


def trial_balance_totals(settings: Settings, period: str | None, unit: str | None = None) -> dict[str, Any]:
    """Total debit and credit up to the end of `period`, and whether they are equal: compared
    in the warehouse, in DECIMAL, before anything becomes a float."""
    frame = warehouse(
        settings,
        """
        SELECT coalesce(sum(debit), 0) AS debit, coalesce(sum(credit), 0) AS credit,
               coalesce(sum(debit), 0) = coalesce(sum(credit), 0) AS balanced
        FROM fct_voucher_lines WHERE (? IS NULL OR period <= ?) AND (? IS NULL OR accounting_unit = ?)""",
        [period, period, unit, unit],
    )
    totals = frame.to_dict("records")[0]
    return {**totals, "balanced": bool(totals["balanced"])}


def receivables(settings: Settings, role: Role) -> pd.DataFrame:
    """B2B customers' balances on the receivable account of the company's chart of accounts,
    with their contact details masked for `role`."""
    from stockflow.vouchers import AccountingPolicy
    from stockflow.vouchers import Role as AccountRole

    receivable = AccountingPolicy.load(settings.accounting_policy_file).account(AccountRole.RECEIVABLE).code
    frame = warehouse(
        settings,
        """
        SELECT c.customer_id, c.customer_name, c.phone, c.id_number,
               coalesce(sum(l.debit) - sum(l.credit), 0) AS receivable
        FROM dim_customers AS c
        LEFT JOIN fct_voucher_lines AS l ON l.customer_id = c.customer_id AND l.account_code = ?
        GROUP BY ALL ORDER BY receivable DESC, c.customer_id""",
        [receivable],
    )
    return masked(plain_customers(frame), role)


#: The warehouse's columns of a customer's personal fields, and the field each was sealed as.
_CUSTOMER_FIELDS = {
    "customer_name": "customer.name",
    "phone": "customer.phone",
    "id_number": "customer.id_number",
}


def plain_customers(frame: pd.DataFrame) -> pd.DataFrame:
    """The customers' personal fields decrypted where the warehouse holds them SM4-encrypted
    (`Settings.encrypt_personal_data`); where the key cannot be read, or a value was changed,
    the value is left sealed (and the masking hides it like any other)."""
    from stores.crypto import DecryptionRefused, PersonalDataKeyError, is_encrypted
    from stores.masterdata import configured_cipher

    columns = [c for c in _CUSTOMER_FIELDS if c in frame.columns]
    if frame.empty or not any(is_encrypted(v) for c in columns for v in frame[c]):
        return frame
    try:
        cipher, _ = configured_cipher()
    except PersonalDataKeyError:
        return frame
    if cipher is None:
        return frame

    def plain(value: Any, field: str) -> Any:
        try:
            return cipher.decrypt(value, field) if isinstance(value, str) else value
        except DecryptionRefused:
            return value

    out = frame.copy()
    for column in columns:
        out[column] = [plain(v, _CUSTOMER_FIELDS[column]) for v in frame[column]]
    return out


def masked(frame: pd.DataFrame, role: Role) -> pd.DataFrame:
    """The frame as `role` may see it (the core's rules): every field the role may not see
    masked, and every phone number inside a text column; other columns are left as they are."""
    if frame.empty:
        return frame
    out = frame.copy()
    for name in frame.columns:
        column = frame[name]
        text = pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
        if text or str(name) in DEFAULT_POLICY.maskers:
            out[name] = [DEFAULT_POLICY.mask_value(str(name), value, role) for value in column]
    return out


# ----------------------------------------------------------------------------- ageing
#: the ageing marts' buckets, youngest first (stockflow.finance.AGEING_BUCKETS)
AGEING_BUCKETS = ("bucket_0_30", "bucket_31_60", "bucket_61_90", "bucket_over_90")
#: each subledger's ageing mart, by the kind of party it owes or is owed by
_AGEING_MARTS = {"supplier": "fct_ap_ageing", "customer": "fct_ar_ageing"}


def ageing(settings: Settings, party_kind: str) -> pd.DataFrame:
    """One subledger's ageing (`party_kind`: supplier for payables, customer for receivables):
    one row per set of books × party, the largest total first, then one row of the totals over
    every party (`is_total`; summed in the warehouse, in DECIMAL); no rows when nothing is open."""
    amounts = ", ".join(f"sum({c}) AS {c}" for c in (*AGEING_BUCKETS, "total"))
    try:
        return warehouse(
            settings,
            f"""
            SELECT accounting_unit, party, {amounts}, max(as_of_date) AS as_of_date,
                   grouping(accounting_unit, party) > 0 AS is_total
            FROM {_AGEING_MARTS[party_kind]}
            GROUP BY GROUPING SETS ((accounting_unit, party), ())
            HAVING count(*) > 0
            ORDER BY is_total, total DESC, accounting_unit, party""",
        )
    except duckdb.CatalogException as exc:  # a warehouse built before the ageing marts were
        raise Unavailable("ageing.not_built") from exc


# ----------------------------------------------------------------------------- data quality
def quality_results(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest run (one row) and its expectation results."""
    run = quality(settings, "SELECT * FROM quality_runs ORDER BY checked_at DESC LIMIT 1")
    if run.empty:
        raise Unavailable("data.quality_not_run")
    results = quality(
        settings,
        "SELECT * FROM expectation_results WHERE run_id = ? ORDER BY success, suite, expectation",
        [run["run_id"].iloc[0]],
    )
    return run, results


def sku_completeness(settings: Settings) -> pd.DataFrame:
    return quality(
        settings,
        """
        SELECT s.sku_id, s.completeness, s.gtin_valid FROM sku_completeness AS s
        WHERE s.run_id = (SELECT run_id FROM quality_runs ORDER BY checked_at DESC LIMIT 1)
        ORDER BY s.completeness, s.sku_id""",
    )


# ----------------------------------------------------------------------------- planning
def forecast_run(settings: Settings) -> pd.DataFrame:
    return planning(settings, "SELECT * FROM forecast_runs ORDER BY finished_at DESC LIMIT 1")


def forecast_series(settings: Settings, run_id: str) -> pd.DataFrame:
    return planning(
        settings,
        "SELECT location, sku, model, pattern, confidence, needs_review, backtest_wape"
        " FROM forecast_series WHERE run_id = ? ORDER BY location, sku",
        [run_id],
    )


def forecast(settings: Settings, run_id: str, location: str, sku: str) -> pd.DataFrame:
    return planning(
        settings,
        "SELECT day, forecast, model_forecast, overridden, lo80, hi80, lo95, hi95 FROM effective_forecasts"
        " WHERE run_id = ? AND location = ? AND sku = ? ORDER BY day",
        [run_id, location, sku],
    )


def actual_demand(settings: Settings, location: str, sku: str, days: int = 60) -> pd.DataFrame:
    """Units sold per day over the last `days` business days (0 on a day without sales)."""
    from stockflow.services.planning import recent_demand
    from stores.demand import open_warehouse_demand

    if not warehouse_file(settings).exists():
        raise Unavailable("data.warehouse_missing")
    with open_warehouse_demand(settings.var_dir) as demand:
        return recent_demand(demand, location, sku, days)


def reviews(settings: Settings, run_id: str) -> pd.DataFrame:
    return planning(
        settings,
        "SELECT location, sku, status, confidence, reviewer, role, reason, override_daily, decided_at"
        " FROM reviews WHERE run_id = ? ORDER BY status = 'open' DESC, confidence, location, sku",
        [run_id],
    )


def review_learning(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The measured reviews per reviewer, and per category with its review threshold
    (`stockflow.services.planning.learn_from_reviews`)."""
    from stockflow.services.planning import learn_from_reviews
    from stores.planning import Planning

    categories = catalog(settings).categories()
    learning = learn_from_reviews(Planning(settings.var_dir), categories)
    return learning.by_reviewer, learning.by_category


def accuracy(settings: Settings) -> pd.DataFrame:
    return planning(settings, "SELECT * FROM forecast_accuracy_runs ORDER BY through_day")


def suggestions(settings: Settings) -> pd.DataFrame:
    return planning(
        settings,
        "SELECT suggestion_id, kind, location, sku, supplier, from_location, quantity, order_by,"
        " status, reviewer, reason FROM suggestions"
        " ORDER BY status = 'proposed' DESC, kind DESC, order_by NULLS LAST, suggestion_id",
    )


# ----------------------------------------------------------------------------- decisions
def decide_review(
    settings: Settings,
    run_id: str,
    location: str,
    sku: str,
    override_daily: float | None,
    reviewer: str,
    role: Role,
    reason: str,
) -> None:
    """Accept a forecast under review, or override it with a daily quantity (the core checks
    it); the decision goes into the stream as an event, then into the planning store."""
    from infra.worker_client import StockApiError, WorkerClient
    from stockflow.forecasting import Decision
    from stockflow.services.planning import decide_review as decide
    from stores.audit_log import AuditLog
    from stores.planning import Planning

    decision = Decision.ACCEPTED if override_daily is None else Decision.OVERRIDDEN
    try:
        decide(
            Planning(settings.var_dir),
            AuditLog(settings.var_dir),
            run_id,
            location,
            sku,
            decision,
            reviewer,
            reason,
            role.value,
            override_daily,
            publish=WorkerClient(settings.web_url),
        )
    except StockApiError as exc:
        raise Unavailable("data.decision_not_recorded", error=str(exc)) from exc


def decide_suggestion(
    settings: Settings, suggestion_id: str, approve: bool, reviewer: str, role: Role, reason: str
) -> dict[str, Any]:
    """Approve (its purchase order or transfer goes into the stream) or reject a suggestion."""
    from infra.worker_client import StockApiError, WorkerClient
    from stockflow.services.planning import decide_suggestion as decide
    from stores.audit_log import AuditLog
    from stores.planning import Planning

    try:
        return decide(
            Planning(settings.var_dir),
            AuditLog(settings.var_dir),
            suggestion_id,
            "approved" if approve else "rejected",
            reviewer,
            reason,
            role.value,
            publish=WorkerClient(settings.web_url),
        )
    except StockApiError as exc:
        raise Unavailable("data.decision_not_recorded", error=str(exc)) from exc


def record_export(settings: Settings, actor: str, role: Role, file_name: str, rows: int) -> None:
    """A download, in the audit log under the signed-in person's account name and role."""
    from stores.audit_log import AuditLog

    AuditLog(settings.var_dir).append(
        actor, "dashboard.exported", file_name, role.value, details={"rows": rows}
    )


# ----------------------------------------------------------------------------- audit
def audit_trail(settings: Settings) -> tuple[Any, pd.DataFrame]:
    """The verdict on the whole chain, and its entries newest first."""
    from stores.audit_log import AuditLog

    log = AuditLog(settings.var_dir)
    records = log.records()
    rows = [
        {k: r.get(k) for k in ("seq", "at", "actor", "role", "action", "target", "reason")}
        if r is not None
        else {"action": "unreadable line"}
        for r in records
    ]
    columns = ["seq", "at", "actor", "role", "action", "target", "reason"]
    return log.verify(), pd.DataFrame(rows[::-1], columns=columns)


# ----------------------------------------------------------------------------- live operation
#: What each KPI that describes live operation (`Kpi.live_only`) left out per day, read from its
#: mart: the events (freshness) or the vouchers (voucher lag) of backfilled or replayed history.
_KPI_EXCLUDED_SQL = {
    "data_freshness": """
        SELECT business_date AS day, sum(backfilled_events)::DOUBLE AS excluded
        FROM fct_data_freshness GROUP BY ALL""",
    "voucher_lag": """
        SELECT posted_date AS day, sum(backfilled_vouchers)::DOUBLE AS excluded
        FROM kpi_voucher_lag GROUP BY ALL""",
}


def kpi_series_with_excluded(settings: Settings, key: str) -> pd.DataFrame:
    """`kpi_series`, and for a KPI that counts live operation only (`Kpi.live_only`) an
    `excluded` column: what each day left out. `kpi_comparison` of it has the current period's
    total in `excluded`."""
    frame = kpi_series(settings, key)
    if not KPIS[key].live_only:
        return frame
    excluded = warehouse(settings, f"SELECT * FROM ({_KPI_EXCLUDED_SQL[key]}) ORDER BY day")
    excluded["day"] = pd.to_datetime(excluded["day"]).dt.date
    return frame.merge(excluded, on="day", how="left")


# ----------------------------------------------------------------------------- master data
def _masterdata_store(settings: Settings) -> Any:
    from stores.masterdata import MasterDataFiles

    return MasterDataFiles(settings.masterdata_path, settings.lake_dir)


def masterdata(settings: Settings) -> Catalog:
    """Master data as recorded now (empty for a company with none yet), read afresh: the page
    that changes it shows the change on its next run."""
    return _masterdata_store(settings).load()


def change_masterdata(
    settings: Settings, proposals: Sequence[Any], actor: str, role: Role, reason: str = ""
) -> Any:
    """Master-data changes through the core's one use case: checked, audited under `actor` and
    `role`, recorded, then published to the stream workers when they run (`ChangeResult`)."""
    from infra.worker_client import StockApiError, masterdata_publisher
    from stockflow.services.masterdata import change_master_data
    from stores.audit_log import AuditLog

    try:
        return change_master_data(
            _masterdata_store(settings), masterdata_publisher(settings), AuditLog(settings.var_dir),
            proposals, actor, role=role.value, reason=reason,
        )  # fmt: skip
    except StockApiError as exc:  # recorded, not published: the workers read it when they start
        raise Unavailable("data.masterdata_not_published", error=str(exc)) from exc


def import_masterdata(
    settings: Settings, files: Sequence[tuple[str, bytes]], actor: str, role: Role, dry_run: bool
) -> Any:
    """Uploaded files (name, bytes) through the core's import: every row of every file checked;
    unless `dry_run` or any problem, all of it recorded as one change (`ImportResult`)."""
    from infra.worker_client import StockApiError, masterdata_publisher
    from stockflow.services.masterdata_import import import_master_data
    from stores.audit_log import AuditLog
    from stores.spreadsheets import read_spreadsheet

    tables = [table for name, content in files for table in read_spreadsheet(content, name)]
    try:
        return import_master_data(
            _masterdata_store(settings), None if dry_run else masterdata_publisher(settings),
            AuditLog(settings.var_dir), tables, actor, role=role.value, dry_run=dry_run,
        )  # fmt: skip
    except StockApiError as exc:
        raise Unavailable("data.masterdata_not_published", error=str(exc)) from exc


# ----------------------------------------------------------------------------- conflicts
CONFLICT_COLUMNS = [
    "detected_at", "status", "kind", "location", "sku", "batch", "event_type", "event_id", "edge",
    "source", "occurred_at", "on_hand_delta", "on_hand_after", "suggested_on_hand", "reference",
    "decision", "decided_on_hand", "decided_by", "role", "note", "decided_at", "conflict_id",
]  # fmt: skip


def conflicts(settings: Settings) -> pd.DataFrame:
    """Every conflict the stream found between a late edge event and the books, with its
    decision once taken (from the lake, seconds fresh); newest found first."""
    from stores.conflicts import ConflictLake

    return pd.DataFrame(ConflictLake(settings.lake_dir).states(), columns=CONFLICT_COLUMNS)


def decide_conflict(
    settings: Settings,
    conflict_id: str,
    decision: str,
    actor: str,
    role: Role,
    note: str,
    adjustment: int = 0,
) -> Any:
    """A decision on a conflict through the core's use case (checked, audited, then published
    to the stream workers); returns the `conflict_decided` event."""
    from infra.worker_client import StockApiError, WorkerClient
    from stockflow.services.conflicts import decide_conflict as decide
    from stores.audit_log import AuditLog
    from stores.conflicts import ConflictLake

    try:
        return decide(
            ConflictLake(settings.lake_dir), WorkerClient(settings.web_url, attempts=3),
            AuditLog(settings.var_dir), conflict_id, decision, actor, role, note, adjustment,
        )  # fmt: skip
    except StockApiError as exc:
        raise Unavailable("data.decision_not_recorded", error=str(exc)) from exc


# ----------------------------------------------------------------------------- restaurants
def dish_sales(settings: Settings, days: int = 30) -> pd.DataFrame:
    """The dishes' sales of the last `days` days with any (fct_dish_sales), one row per store ×
    dish × channel × day; no rows when no dish was sold."""
    try:
        return warehouse(
            settings,
            """
            SELECT * FROM fct_dish_sales
            WHERE business_date > (SELECT max(business_date) FROM fct_dish_sales) - ?::INTEGER
            ORDER BY business_date, location_id, dish_sku_id, channel""",
            [days],
        )
    except duckdb.CatalogException as exc:  # a warehouse built before the restaurant marts were
        raise Unavailable("restaurant.not_built") from exc


def dish_margins(settings: Settings, by: str, days: int = 30) -> pd.DataFrame:
    """Margins summed in the warehouse (DECIMAL) over the last `days` days with sales, one row
    per dish (`by` = dish_sku_id) or per channel (`by` = channel), the largest margin first."""
    if by not in ("dish_sku_id", "channel"):
        raise ValueError(by)
    try:
        return warehouse(
            settings,
            f"""
            SELECT {by}, sum(portions_net) AS portions_net, sum(revenue_net) AS revenue_net,
                   sum(ingredient_cost) AS ingredient_cost, sum(gross_margin) AS gross_margin,
                   CASE WHEN sum(revenue_net) <> 0
                        THEN round(sum(gross_margin) / sum(revenue_net), 4) END AS margin_pct
            FROM fct_dish_sales
            WHERE business_date > (SELECT max(business_date) FROM fct_dish_sales) - ?::INTEGER
            GROUP BY {by}
            ORDER BY gross_margin DESC, {by}""",
            [days],
        )
    except duckdb.CatalogException as exc:
        raise Unavailable("restaurant.not_built") from exc


def ingredient_variance(settings: Settings, days: int) -> pd.DataFrame:
    """Theoretical against actual usage per location × ingredient × count of the last `days`
    days with counts (fct_ingredient_variance); no rows when no kitchen counted twice."""
    try:
        return warehouse(
            settings,
            """
            SELECT business_date, location_id, sku_id, count_id, opening_qty, net_other, closing_qty,
                   theoretical_usage, actual_usage, variance_qty, variance_pct, recorded_waste,
                   theoretical_value, variance_value
            FROM fct_ingredient_variance
            WHERE business_date > (SELECT max(business_date) FROM fct_ingredient_variance) - ?::INTEGER
            ORDER BY business_date DESC, location_id, sku_id, counted_at""",
            [days],
        )
    except duckdb.CatalogException as exc:
        raise Unavailable("restaurant.not_built") from exc


# ----------------------------------------------------------------------------- production
def work_orders(settings: Settings) -> pd.DataFrame:
    """Every work order (fct_work_orders): the open ones first, by due date."""
    try:
        return warehouse(
            settings,
            "SELECT * FROM fct_work_orders ORDER BY status = 'closed', due_date, work_order_id",
        )
    except duckdb.CatalogException as exc:  # a warehouse built before the production marts were
        raise Unavailable("production.not_built") from exc


def kitting(settings: Settings, horizon_days: int | None) -> dict[str, Any]:
    """The kitting report of the open work orders due within `horizon_days` (all: None), as
    frames: per order (its rate and whether it is kitted), per order × material (need, from
    stock, from purchases, from substitutes, short), the shortages, what to make and to buy;
    and the overall rates."""
    from stockflow.services.production import kitting_report
    from stores.production import open_warehouse_production

    path = warehouse_file(settings)
    if not path.exists():
        raise Unavailable("data.warehouse_missing")
    cat = catalog(settings)
    today = datetime.now(settings.tz).date()
    try:
        with open_warehouse_production(settings.var_dir) as records:
            report = kitting_report(cat, records, today, horizon_days)
    except duckdb.CatalogException as exc:
        raise Unavailable("production.not_built") from exc
    orders, lines = [], []
    for kit in report.result.orders:
        d = kit.demand
        orders.append(
            {
                "work_order_id": d.order,
                "location_id": d.location,
                "product_sku_id": d.product,
                "due_date": d.due,
                "kitting_rate": float(kit.rate),
                "kitted": kit.kitted,
            }
        )
        for line in kit.lines:
            lines.append(
                {
                    "work_order_id": d.order,
                    "sku_id": line.material,
                    "need": line.need,
                    "from_stock": line.from_stock,
                    "from_on_order": sum(q for _, q in line.from_on_order),
                    "from_substitutes": ", ".join(f"{s} × {q}" for s, q in line.from_substitutes),
                    "short": math.ceil(line.short),
                }
            )

    def listed(found: Any) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"location_id": s.location, "sku_id": s.sku, "quantity": s.qty, "needed_by": s.needed_by}
                for s in found
            ],
            columns=["location_id", "sku_id", "quantity", "needed_by"],
        )

    return {
        "orders": pd.DataFrame(
            orders,
            columns=["work_order_id", "location_id", "product_sku_id", "due_date", "kitting_rate", "kitted"],
        ),
        "lines": pd.DataFrame(
            lines,
            columns=[
                "work_order_id",
                "sku_id",
                "need",
                "from_stock",
                "from_on_order",
                "from_substitutes",
                "short",
            ],
        ),
        "shortages": listed(report.shortages),
        "make": listed(report.planned.make),
        "buy": listed(report.planned.buy),
        "kitted_rate": float(report.result.kitted_rate),
        "line_rate": float(report.result.line_rate),
    }
