"""The worker's monitor skips Faust's per-event timing but keeps what Faust's stall check reads.

Faust's consumer checks every few seconds that each partition with a backlog has a stream
taking its events: it reads `monitor.stream_inbound_time[tp]`, and with no entry logs "Stream
has not started processing" (an error) for the partition once the worker has run
`stream_processing_timeout`."""

import time

from faust.types import TP

from streams.app import QuietMonitor


def test_a_stream_taking_an_event_is_recorded_for_the_stall_check() -> None:
    monitor = QuietMonitor()
    scans_2 = TP("scans", 2)
    assert monitor.stream_inbound_time.get(scans_2) is None

    before = time.monotonic()
    monitor.on_stream_event_in(scans_2, 41, None, None)

    assert before <= monitor.stream_inbound_time[scans_2] <= time.monotonic()
    assert monitor.stream_inbound_time.get(TP("scans", 3)) is None


def test_per_event_timing_stays_off() -> None:
    monitor = QuietMonitor()
    monitor.on_stream_event_in(TP("scans", 0), 1, None, None)
    assert monitor.events_total == 0
    assert monitor.events_active == 0
