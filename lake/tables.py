"""The lake's tables: one definition per table, the record every other layer reads.

Layout: ``<lake>/<table>/date=YYYY-MM-DD/part-<apply_seq>-<writer>.parquet``. Rows carry
``apply_seq``, strictly increasing in the order the worker applied them, which is the order a
rebuild replays them in.
"""

from __future__ import annotations

import pyarrow as pa

from stockflow.events import OutputTopic, Topic

TS = pa.timestamp("us", tz="UTC")

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("occurred_at", TS),
        ("source", pa.string()),
        ("source_seq", pa.int64()),
        ("location", pa.string()),
        ("payload", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("apply_seq", pa.int64()),
        ("landed_at", TS),
    ]
)
INVENTORY_CHANGED_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("occurred_at", TS),
        ("location", pa.string()),
        ("sku", pa.string()),
        ("batch", pa.string()),
        ("on_hand_delta", pa.int64()),
        ("reserved_delta", pa.int64()),
        ("quarantined_delta", pa.int64()),
        ("in_transit_delta", pa.int64()),
        ("on_hand", pa.int64()),
        ("reserved", pa.int64()),
        ("quarantined", pa.int64()),
        ("in_transit", pa.int64()),
        ("reference", pa.string()),
        ("counterparty", pa.string()),
        ("unit_cost", pa.decimal128(18, 6)),
        ("unit_price", pa.decimal128(18, 6)),
        ("negative_stock", pa.bool_()),
        ("partition", pa.int32()),
        ("apply_seq", pa.int64()),
        ("processed_at", TS),
        ("landed_at", TS),
    ]
)
ALERT_SCHEMA = pa.schema(
    [
        ("alert_id", pa.string()),
        ("alert_type", pa.string()),
        ("severity", pa.string()),
        ("occurred_at", TS),
        ("location", pa.string()),
        ("sku", pa.string()),
        ("batch", pa.string()),
        ("message", pa.string()),
        ("details", pa.string()),
        ("raised_at", TS),
        ("landed_at", TS),
    ]
)
DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("key", pa.string()),
        ("event_id", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("payload", pa.binary()),
        ("rejected_at", TS),
        ("refused_by_ledger", pa.bool_()),
        ("apply_seq", pa.int64()),
        ("landed_at", TS),
    ]
)

EVENT_TABLES = tuple(t.value for t in Topic)
SCHEMAS: dict[str, pa.Schema] = {
    **{t: EVENT_SCHEMA for t in EVENT_TABLES},
    OutputTopic.INVENTORY_CHANGED.value: INVENTORY_CHANGED_SCHEMA,
    OutputTopic.ALERTS.value: ALERT_SCHEMA,
    OutputTopic.DEAD_LETTERS.value: DEAD_LETTER_SCHEMA,
}
#: The column whose date partitions each table.
DATE_COLUMN = {
    **{t: "occurred_at" for t in EVENT_TABLES},
    OutputTopic.INVENTORY_CHANGED.value: "occurred_at",
    OutputTopic.ALERTS.value: "occurred_at",
    OutputTopic.DEAD_LETTERS.value: "rejected_at",
}
