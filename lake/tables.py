"""The lake's tables: one definition per table, the record every other layer reads.

Each table is defined once here, as columns with a logical type; its pyarrow schema (what the
writers write) and its DuckDB DDL (what the books keep, what a check reads) are generated from
that definition, and a test holds the dbt sources to it.

Layout: ``<lake>/<table>/date=YYYY-MM-DD/part-<apply_seq>-<writer>.parquet`` for the tables the
workers land (partitioned by a date column), ``<lake>/<table>/part-*.parquet`` for the books'
exports, ``<lake>/masterdata/<table>.parquet`` for master data. Stream rows carry ``apply_seq``,
strictly increasing in the order the worker applied them, which is the order a rebuild replays
them in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from stockflow.events import OutputTopic, Topic


class Layout(StrEnum):
    DAILY = "daily"  # <table>/date=YYYY-MM-DD/part-*.parquet
    FLAT = "flat"  # <table>/part-*.parquet
    MASTERDATA = "masterdata"  # masterdata/<table>.parquet (replaced whole)


_DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)")
_SIMPLE_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "string": (pa.string(), "VARCHAR"),
    "int32": (pa.int32(), "INTEGER"),
    "int64": (pa.int64(), "BIGINT"),
    "float64": (pa.float64(), "DOUBLE"),
    "bool": (pa.bool_(), "BOOLEAN"),
    "binary": (pa.binary(), "BLOB"),
    "date": (pa.date32(), "DATE"),
    "timestamp": (pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ"),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # a key of _SIMPLE_TYPES, or decimal(P,S)
    nullable: bool = True

    @property
    def arrow_type(self) -> pa.DataType:
        found = _DECIMAL.fullmatch(self.type)
        if found:
            return pa.decimal128(int(found[1]), int(found[2]))
        return _SIMPLE_TYPES[self.type][0]

    @property
    def duckdb_type(self) -> str:
        found = _DECIMAL.fullmatch(self.type)
        if found:
            return f"DECIMAL({found[1]},{found[2]})"
        return _SIMPLE_TYPES[self.type][1]


@dataclass(frozen=True, slots=True)
class LakeTable:
    name: str
    columns: tuple[Column, ...]
    layout: Layout = Layout.DAILY
    #: The column whose date partitions the table (Layout.DAILY).
    date_column: str | None = None
    #: What a copy of the table in DuckDB keys on (its DDL's PRIMARY KEY).
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self, relation: str | None = None) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for a DuckDB copy of this table."""
        keyed = set(self.primary_key)
        parts = [
            f'"{c.name}" {c.duckdb_type}{"" if c.nullable and c.name not in keyed else " NOT NULL"}'
            for c in self.columns
        ]
        if self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(map(_quoted, self.primary_key))})")
        parts += [f"UNIQUE ({', '.join(map(_quoted, cols))})" for cols in self.unique]
        return f"CREATE TABLE IF NOT EXISTS {relation or self.name} (\n    " + ",\n    ".join(parts) + "\n)"


def _quoted(name: str) -> str:
    return f'"{name}"'


def _cols(spec: str) -> tuple[Column, ...]:
    """Columns from ``name type[!]`` lines (``!``: NOT NULL)."""
    out = []
    for line in spec.strip().splitlines():
        name, kind = line.split()
        out.append(Column(name, kind.rstrip("!"), nullable=not kind.endswith("!")))
    return tuple(out)


_EVENT_COLUMNS = _cols(
    """
    event_id string
    event_type string
    occurred_at timestamp
    source string
    source_seq int64
    location string
    payload string
    topic string
    partition int32
    offset int64
    apply_seq int64
    delivery string
    landed_at timestamp
    """
)
EVENT_TABLES: tuple[str, ...] = tuple(t.value for t in Topic)

INVENTORY_CHANGED = LakeTable(
    OutputTopic.INVENTORY_CHANGED.value,
    _cols(
        """
        event_id string
        event_type string
        occurred_at timestamp
        location string
        sku string
        batch string
        on_hand_delta int64
        reserved_delta int64
        quarantined_delta int64
        in_transit_delta int64
        on_hand int64
        reserved int64
        quarantined int64
        in_transit int64
        reference string
        counterparty string
        unit_cost decimal(18,6)
        unit_price decimal(18,6)
        original_currency string
        original_unit_cost decimal(18,6)
        dish string
        portions int64
        labour decimal(18,2)
        overhead decimal(18,2)
        service_fee decimal(18,2)
        order_open_qty int64
        hold_reason string
        negative_stock bool
        partition int32
        apply_seq int64
        processed_at timestamp
        landed_at timestamp
        """
    ),
    date_column="occurred_at",
)
ALERTS = LakeTable(
    OutputTopic.ALERTS.value,
    _cols(
        """
        alert_id string
        alert_type string
        severity string
        occurred_at timestamp
        location string
        sku string
        batch string
        message string
        details string
        raised_at timestamp
        landed_at timestamp
        """
    ),
    date_column="occurred_at",
)
DEAD_LETTERS = LakeTable(
    OutputTopic.DEAD_LETTERS.value,
    _cols(
        """
        topic string
        partition int32
        offset int64
        key string
        event_id string
        reason string
        detail string
        payload binary
        rejected_at timestamp
        refused_by_ledger bool
        apply_seq int64
        landed_at timestamp
        """
    ),
    date_column="rejected_at",
)

#: Conflicts between late edge events and the central books (`stockflow.conflicts`): one
#: ``open`` row per conflict when it is found, one ``decided`` row when a person decides it
#: (the decision's own event id, time and fields; the finding's columns empty). A conflict's
#: state is its latest row by ``apply_seq``.
CONFLICTS = LakeTable(
    "conflicts",
    _cols(
        """
        conflict_id string
        status string
        kind string
        event_id string
        event_type string
        source string
        edge string
        location string
        sku string
        batch string
        occurred_at timestamp
        detected_at timestamp
        on_hand_delta int64
        on_hand_after int64
        suggested_on_hand int64
        reference string
        detail string
        decision string
        decided_on_hand int64
        decided_by string
        role string
        note string
        partition int32
        apply_seq int64
        landed_at timestamp
        """
    ),
    date_column="detected_at",
)

# The books' exports (written by the voucher posting, read by the warehouse).
STOCK_LEDGER = LakeTable(
    "stock_ledger",
    _cols(
        """
        event_id string!
        apply_seq int64
        event_type string
        occurred_at timestamp
        location string!
        sku string!
        batch string!
        reference string
        counterparty string
        method string
        qty_change int64
        in_transit_change int64
        unit_cost decimal(18,6)
        value_change decimal(18,2)
        transit_value_change decimal(18,2)
        transit_location string
        cost_variance decimal(18,2)
        provisional bool
        qty_after int64
        stock_value_after decimal(18,2)
        valuation_rate decimal(18,6)
        unit_price decimal(18,6)
        landed_at timestamp
        valued_at timestamp
        run_id string
        original_currency string
        original_unit_cost decimal(18,6)
        dish string
        portions int64
        wip_change decimal(18,2)
        labour decimal(18,2)
        overhead decimal(18,2)
        service_fee decimal(18,2)
        """
    ),
    layout=Layout.FLAT,
    primary_key=("event_id", "location", "sku", "batch"),
)
#: A receipt invoiced in another currency than the books': in inventory_changed and the stock
#: ledger, `unit_cost` is the cost per base unit converted into the books' currency at the rate
#: valid on the receipt's day, and `original_currency` / `original_unit_cost` what the invoice
#: said (per base unit). Both are NULL on every other row: whatever was booked in the books' own
#: currency (receipts in it, and every movement that is not a receipt).
ORIGINAL_AMOUNT_COLUMNS = ("original_currency", "original_unit_cost")
#: Made to a recipe (`stockflow.recipes`): `dish` names the dish or semi-finished item a row
#: belongs to (the dish's own row of a till line, each ingredient it took, every row of a
#: prep), `portions` the base units of the dish sold or refunded on its own row (it moves no
#: stock). "" and 0 on every other row (NULL in files landed before recipes).
RECIPE_COLUMNS = ("dish", "portions")
#: One file per posting run whose exports (stock ledger, vouchers, lines) are complete, written
#: after them: a warehouse build reads the books' runs up to the newest listed here when it
#: starts, so all its models see the same runs (never a run's stock ledger without its
#: vouchers, which a build reading the folders one model after another would otherwise see).
BOOK_RUNS = "book_runs"
#: Work orders (`stockflow.production`), the order being the row's `reference`: in
#: inventory_changed, the labour and overhead of an operation report, a subcontractor's fee on
#: the finished goods' row, and there the units the order still had to make; in the stock
#: ledger, the change of the order's cost in production (`wip_change`) and what of it came from
#: labour, overhead and fees. NULL (stock ledger: 0) on every other row, and NULL in files and
#: books kept before work orders.
WORK_ORDER_COLUMNS = ("wip_change", "labour", "overhead", "service_fee", "order_open_qty")
VOUCHERS = LakeTable(
    "vouchers",
    _cols(
        """
        voucher_id string!
        voucher_no string!
        accounting_unit string!
        period string!
        voucher_date date!
        summary string
        kind string!
        reverses string
        note string
        source_event_id string
        source_event_type string
        occurred_at timestamp
        landed_at timestamp
        posted_at timestamp!
        lag_seconds float64
        total decimal(18,2)
        run_id string
        """
    ),
    layout=Layout.FLAT,
    primary_key=("voucher_id",),
    unique=(("accounting_unit", "period", "voucher_no"),),
)
VOUCHER_LINES = LakeTable(
    "voucher_lines",
    _cols(
        """
        voucher_id string!
        line_no int32!
        account_code string!
        account_name string
        debit decimal(18,2)!
        credit decimal(18,2)!
        summary string
        location string
        sku string
        batch string
        supplier string
        customer string
        counterpart_unit string
        run_id string
        """
    ),
    layout=Layout.FLAT,
    primary_key=("voucher_id", "line_no"),
)

# The subledgers' open items (AP per supplier, AR per customer): the books replace the whole
# table (one file, `open_items/part-current.parquet`) after each change, for the ageing marts
# and the workers' credit checks.
OPEN_ITEMS = LakeTable(
    "open_items",
    _cols(
        """
        item_id string!
        accounting_unit string!
        party_kind string!
        party string!
        document string!
        document_type string!
        document_date date!
        due_date date!
        amount decimal(18,2)!
        open_amount decimal(18,2)!
        source_event_id string!
        sales_order string
        sku string
        net decimal(18,2)
        vat decimal(18,2)
        updated_at timestamp!
        """
    ),
    layout=Layout.FLAT,
    primary_key=("item_id",),
)

# Master data, exported for the warehouse at each build.
SKUS = LakeTable(
    "skus",
    _cols(
        """
        sku string
        gtin string
        name string
        category string
        status string
        serial_managed bool
        base_unit string
        packs string
        min_pack_units int32
        shelf_life_days int32
        batch_managed bool
        cold_chain_min_c float64
        cold_chain_max_c float64
        reorder_point int32
        negative_stock string
        standard_cost decimal(18,6)
        vat_rate decimal(4,2)
        wholesale_price decimal(18,6)
        valuation_method string
        kind string
        """
    ),
    layout=Layout.MASTERDATA,
)
#: Recipes (`stockflow.recipes`): one row per recipe version × component. A version is
#: product × store (NULL: every store) × effective_from; one round of it makes `yield_qty` base
#: units of the product. `component_base_qty` is what one round takes of the component from
#: stock, in the component's base units, its loss included (qty in its unit ÷ (1 − loss_rate)).
RECIPES = LakeTable(
    "recipes",
    _cols(
        """
        product string
        store string
        effective_from date
        recipe_name string
        yield_qty decimal(18,4)
        component string
        qty decimal(18,4)
        unit string
        loss_rate decimal(6,4)
        component_base_qty decimal(18,6)
        """
    ),
    layout=Layout.MASTERDATA,
)
CUSTOMERS = LakeTable(  # personal data (phone, identity number): the dashboards mask it by role
    "customers",
    _cols(
        """
        customer string
        name string
        phone string
        id_number string
        """
    ),
    layout=Layout.MASTERDATA,
)

LOCATIONS = LakeTable(
    "locations",
    _cols(
        """
        location string
        name string
        kind string
        latitude float64
        longitude float64
        city string
        accounting_unit string
        """
    ),
    layout=Layout.MASTERDATA,
)
SUPPLIERS = LakeTable(
    "suppliers",
    _cols(
        """
        supplier string
        name string
        lead_time_days int64
        """
    ),
    layout=Layout.MASTERDATA,
)

# Every master-data change, in version order (the history the warehouse's dimensions keep).
MASTERDATA_CHANGES = LakeTable(
    "masterdata_changes",
    _cols(
        """
        version int64!
        event_id string!
        event_type string!
        entity string!
        code string!
        change_key string!
        actor string!
        occurred_at timestamp!
        payload string!
        """
    ),
    layout=Layout.FLAT,
    primary_key=("version",),
)

#: The no-stock edition's record (`streams.services`): one row per order line placed, per delivery,
#: per consumption, per revenue voucher line; every row carries its event's id and apply_seq.
SERVICE_ORDER_LINES = LakeTable(
    "service_order_lines",
    _cols(
        """
        event_id string!
        occurred_at timestamp!
        customer string!
        service_order string!
        line int32!
        item string!
        item_name string
        unit string
        qty decimal(18,3)!
        unit_price decimal(18,4)!
        vat_rate decimal(6,4)!
        net decimal(18,2)!
        apply_seq int64
        landed_at timestamp
        """
    ),
    date_column="occurred_at",
)
SERVICE_FULFILMENTS = LakeTable(
    "service_fulfilments",
    _cols(
        """
        event_id string!
        occurred_at timestamp!
        customer string!
        service_order string!
        line int32!
        item string!
        unit string
        qty decimal(18,3)!
        beyond_order bool!
        delivered_by string
        net decimal(18,2)!
        vat decimal(18,2)!
        gross decimal(18,2)!
        voucher_id string!
        apply_seq int64
        landed_at timestamp
        """
    ),
    date_column="occurred_at",
)
SERVICE_CONSUMPTIONS = LakeTable(
    "service_consumptions",
    _cols(
        """
        event_id string!
        occurred_at timestamp!
        customer string!
        service_order string
        material string!
        qty decimal(18,3)!
        unit string
        cost decimal(18,2)!
        apply_seq int64
        landed_at timestamp
        """
    ),
    date_column="occurred_at",
)
SERVICE_VOUCHER_LINES = LakeTable(
    "service_voucher_lines",
    _cols(
        """
        voucher_id string!
        voucher_date date!
        occurred_at timestamp!
        source_event_id string!
        line_no int32!
        account_code string!
        account_name string!
        debit decimal(18,2)!
        credit decimal(18,2)!
        summary string
        customer string
        item string
        apply_seq int64
        landed_at timestamp
        """
    ),
    date_column="occurred_at",
)
#: The no-stock edition's tables, by name (landed by the service worker only).
SERVICE_TABLES: tuple[str, ...] = (
    SERVICE_ORDER_LINES.name,
    SERVICE_FULFILMENTS.name,
    SERVICE_CONSUMPTIONS.name,
    SERVICE_VOUCHER_LINES.name,
)

TABLES: dict[str, LakeTable] = {
    **{name: LakeTable(name, _EVENT_COLUMNS, date_column="occurred_at") for name in EVENT_TABLES},
    **{t.name: t for t in (INVENTORY_CHANGED, ALERTS, DEAD_LETTERS, CONFLICTS)},
    **{t.name: t for t in (STOCK_LEDGER, VOUCHERS, VOUCHER_LINES, OPEN_ITEMS)},
    **{t.name: t for t in (SKUS, LOCATIONS, SUPPLIERS, CUSTOMERS, RECIPES)},
    MASTERDATA_CHANGES.name: MASTERDATA_CHANGES,
    **{
        t.name: t
        for t in (SERVICE_ORDER_LINES, SERVICE_FULFILMENTS, SERVICE_CONSUMPTIONS, SERVICE_VOUCHER_LINES)
    },
}
#: The tables the stream workers land, by name.
STREAM_TABLES: tuple[str, ...] = (
    *EVENT_TABLES,
    INVENTORY_CHANGED.name,
    ALERTS.name,
    DEAD_LETTERS.name,
    CONFLICTS.name,
)
#: Master data as the warehouse reads it, by name.
MASTERDATA_TABLES: tuple[str, ...] = (SKUS.name, LOCATIONS.name, SUPPLIERS.name, CUSTOMERS.name, RECIPES.name)
#: The books' exports, by name.
BOOKS_TABLES: tuple[str, ...] = (STOCK_LEDGER.name, VOUCHERS.name, VOUCHER_LINES.name, OPEN_ITEMS.name)

# The names the writers and readers use.
TS = pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {name: TABLES[name].schema for name in (*STREAM_TABLES, *SERVICE_TABLES)}
DATE_COLUMN: dict[str, str] = {
    name: TABLES[name].date_column or "" for name in (*STREAM_TABLES, *SERVICE_TABLES)
}
EVENT_SCHEMA = TABLES[EVENT_TABLES[0]].schema
INVENTORY_CHANGED_SCHEMA = INVENTORY_CHANGED.schema
ALERT_SCHEMA = ALERTS.schema
DEAD_LETTER_SCHEMA = DEAD_LETTERS.schema
