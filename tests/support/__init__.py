"""Helpers the tests share: ports and HTTP calls, the real pipeline's pieces (broker clients,
worker processes, the lake as the workers leave it), waiting on a condition, and the simulated
company as the oracle of what the pipeline must end with.

Everything here is importable from `tests.support`; the whole simulated company on disk
(`tests.support.company`) and the photos for the detector tests (`tests.support.vision`) are
submodules, so that importing the helpers does not import the dashboards' or the vision stack."""

from tests.support.network import free_port, get_json, post_json, post_multipart
from tests.support.pipeline import (
    Worker,
    kill_left_behind,
    lake_dead_letters,
    lake_event_ids,
    produce_with_confluent,
    replay_lake,
    served_positions,
    settings_for,
)
from tests.support.simulated import (
    SimulatedRun,
    assert_stock_as_simulated,
    simulate,
    stock_at,
    stock_by_sku,
    wait_decided,
    wait_landed,
    wait_processed,
)
from tests.support.waiting import wait_until

__all__ = [
    "SimulatedRun",
    "Worker",
    "assert_stock_as_simulated",
    "free_port",
    "get_json",
    "kill_left_behind",
    "lake_dead_letters",
    "lake_event_ids",
    "post_json",
    "post_multipart",
    "produce_with_confluent",
    "replay_lake",
    "served_positions",
    "settings_for",
    "simulate",
    "stock_at",
    "stock_by_sku",
    "wait_decided",
    "wait_landed",
    "wait_processed",
    "wait_until",
]
