"""Every Kafka topic of the pipeline (names match the lake folders and dbt sources)."""

from __future__ import annotations

from stockflow.events import Topic
from streams.app import app

# Incoming events: raw bytes, parsed by the core (a parse failure becomes a dead letter).
scans = app.topic(Topic.SCANS.value, key_serializer="raw", value_serializer="raw")
pos_transactions = app.topic(Topic.POS_TRANSACTIONS.value, key_serializer="raw", value_serializer="raw")
temperature_readings = app.topic(
    Topic.TEMPERATURE_READINGS.value, key_serializer="raw", value_serializer="raw"
)
stock_transits = app.topic(Topic.STOCK_TRANSITS.value, key_serializer="raw", value_serializer="raw")

#: The agent's input: every topic keyed by location, co-partitioned.
stock_inputs = app.topic(
    Topic.SCANS.value,
    Topic.POS_TRANSACTIONS.value,
    Topic.TEMPERATURE_READINGS.value,
    Topic.STOCK_TRANSITS.value,
    key_serializer="raw",
    value_serializer="raw",
)
BY_NAME = {t.get_topic_name(): t for t in (scans, pos_transactions, temperature_readings, stock_transits)}

# Outputs.
inventory_changed = app.topic("inventory_changed", key_serializer="raw", value_serializer="raw")
alerts = app.topic("alerts", key_serializer="raw", value_serializer="raw")
dead_letters = app.topic("dead_letters", key_serializer="raw", value_serializer="raw")
