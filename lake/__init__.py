"""The lake: the record of every accepted event, inventory change, alert and dead letter.

This package is the lake's one owner: the table registry, the codecs between core objects and
rows, the writer the workers (and tests and benchmarks) use, reading, replay and checkpoints."""

from lake.checkpoints import Checkpoint, CheckpointError, CheckpointStore
from lake.partitions import partition_for
from lake.reader import iter_rows, lake_files, read_table
from lake.replay import STATE_ONLY_EVENT_TYPES, LedgerOnly, Replay, Replayable, replay_lake, replay_partitions
from lake.rows import alert_row, conflict_decision_row, conflict_row, event_row, movement_row
from lake.tables import (
    ALERT_SCHEMA,
    DATE_COLUMN,
    DEAD_LETTER_SCHEMA,
    EVENT_SCHEMA,
    EVENT_TABLES,
    INVENTORY_CHANGED_SCHEMA,
    SCHEMAS,
    TS,
)
from lake.writer import ApplySequence, LakeWriter, now_utc

__all__ = [
    "ALERT_SCHEMA",
    "DATE_COLUMN",
    "DEAD_LETTER_SCHEMA",
    "EVENT_SCHEMA",
    "EVENT_TABLES",
    "INVENTORY_CHANGED_SCHEMA",
    "SCHEMAS",
    "STATE_ONLY_EVENT_TYPES",
    "TS",
    "ApplySequence",
    "Checkpoint",
    "CheckpointError",
    "CheckpointStore",
    "LakeWriter",
    "LedgerOnly",
    "Replay",
    "Replayable",
    "alert_row",
    "conflict_decision_row",
    "conflict_row",
    "event_row",
    "iter_rows",
    "lake_files",
    "movement_row",
    "now_utc",
    "partition_for",
    "read_table",
    "replay_partitions",
    "replay_lake",
]
