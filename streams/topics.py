"""The Faust topics of the pipeline. Names come from the core (`Topic`, `OutputTopic`) and
match the lake folders and dbt sources."""

from __future__ import annotations

from stockflow.events import ServiceTopic, Topic
from streams.app import app, reread_in_full

#: The stock agent's input: every event topic, keyed by location and co-partitioned. Values
#: stay raw bytes, parsed by the core (a parse failure becomes a dead letter).
stock_inputs = app.topic(*(t.value for t in Topic), key_serializer="raw", value_serializer="raw")

#: The no-stock edition's input (`streams.services`): service orders, deliveries and
#: consumption, keyed by customer.
service_inputs = app.topic(ServiceTopic.SERVICE_EVENTS.value, key_serializer="raw", value_serializer="raw")

#: Both agents recognise a repeated event by its id: after a rebalance their topics are read
#: again in full from the committed offset (`streams.app.reread_in_full`).
reread_in_full(stock_inputs, service_inputs)
