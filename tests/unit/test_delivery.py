"""An event's delivery: live unless its producer marked it as history sent after the fact."""

import pytest

from stockflow.delivery import DELIVERY_HEADER, Delivery, delivery_headers, delivery_of


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (None, Delivery.LIVE),
        ((), Delivery.LIVE),  # what a Kafka record without headers has
        ((("stockflow-delivery", b"backfill"),), Delivery.BACKFILL),  # as aiokafka hands them
        ([("Stockflow-Delivery", b" Backfill ")], Delivery.BACKFILL),
        ({"stockflow-delivery": "backfill"}, Delivery.BACKFILL),  # HTTP request headers
        ([("stockflow-delivery", b"live")], Delivery.LIVE),
        ([("stockflow-delivery", b"replayed?")], Delivery.LIVE),  # a value it does not know: live
        ([("stockflow-delivery", None)], Delivery.LIVE),
        ([("traceparent", b"backfill")], Delivery.LIVE),  # another header's value
        ([("traceparent", b"x"), ("stockflow-delivery", b"backfill")], Delivery.BACKFILL),
        ([("stockflow-delivery", b"\xff\xfe")], Delivery.LIVE),
    ],
)
def test_an_event_is_live_unless_its_producer_marked_it_backfilled(headers, expected):
    assert delivery_of(headers) is expected


def test_the_headers_a_producer_sends_round_trip():
    assert delivery_headers(Delivery.LIVE) == []  # live is the default: nothing to send
    assert delivery_headers(Delivery.BACKFILL) == [("stockflow-delivery", b"backfill")]
    assert DELIVERY_HEADER == "stockflow-delivery"
    for delivery in Delivery:
        assert delivery_of(delivery_headers(delivery)) is delivery
