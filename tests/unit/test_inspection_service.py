"""Recording an inspection: what the command line and the workers' POST /inspections share."""

import asyncio

import pytest

from stockflow.inspection import InspectionResult, InspectionVerdict
from stockflow.services.inspections import (
    Delivery,
    InspectionRefused,
    record_inspection,
    record_inspection_async,
)
from tests.unit.conftest import at

FOUND = InspectionResult(True, 12, 3, confidence=0.91234, verdict=InspectionVerdict.ACCEPT)
DELIVERY = Delivery("SUP01", "MILK-1L", "WH1", batch="B1", purchase_order="PO-1")


class Published(list):
    def publish(self, event):
        self.append(event)


class AsyncPublished(list):
    async def publish(self, event):
        self.append(event)


def record(result, publish=None, **kwargs):
    publish = Published() if publish is None else publish
    event = record_inspection(
        result, DELIVERY, publish, event_id="insp-1", source="test", model="m", clock=lambda: at(0), **kwargs
    )
    return event, publish


def test_a_pallet_found_is_published_as_one_pallet_inspected_event():
    event, published = record(FOUND, image="inspections/insp-1.jpg")
    assert published == [event]
    assert (event.event_id, event.inspection_id, event.location, event.batch, event.purchase_order) == (
        "insp-1", "insp-1", "WH1", "B1", "PO-1",
    )  # fmt: skip
    assert (event.cartons, event.confidence, event.verdict, event.occurred_at) == (
        12, 0.9123, InspectionVerdict.ACCEPT, at(0),
    )  # fmt: skip


def test_no_pallet_records_nothing_sync_or_async():
    assert record(InspectionResult(pallet_found=False)) == (None, [])
    published = AsyncPublished()
    found = asyncio.run(
        record_inspection_async(
            FOUND, DELIVERY, published, event_id="insp-2", source="api", clock=lambda: at(1)
        )
    )
    assert published == [found] and found.source == "api"


def test_a_delivery_needs_supplier_sku_and_location():
    assert Delivery.from_fields(
        {"supplier": " SUP01 ", "sku": "X", "location": "WH1", "batch": ""}
    ) == Delivery("SUP01", "X", "WH1")
    with pytest.raises(InspectionRefused) as refused:
        Delivery.from_fields({"sku": "X", "location": " "})
    assert (refused.value.reason, refused.value.detail) == ("missing_fields", "required: supplier, location")
    assert not Delivery.given({"batch": "B1"}) and Delivery.given({"sku": "X"})


def test_fields_the_event_refuses_are_refused_with_a_reason():
    with pytest.raises(InspectionRefused) as refused:
        record_inspection(FOUND, DELIVERY, Published(), event_id="x" * 200, source="test")
    assert refused.value.reason == "invalid_fields"


def test_the_photo_is_kept_after_the_event_is_valid_and_before_it_is_published():
    order = []

    class Stream(list):
        def publish(self, event):
            order.append(("published", event.event_id))

    kept = record_inspection(
        FOUND, DELIVERY, Stream(), event_id="insp-3", source="test", keep_photo=lambda e: order.append(("kept", e.event_id))
    )  # fmt: skip
    assert kept is not None and order == [("kept", "insp-3"), ("published", "insp-3")]

    order.clear()
    with pytest.raises(InspectionRefused):  # an event the schema refuses: no photo, nothing published
        record_inspection(
            FOUND, DELIVERY, Stream(), event_id="x" * 200, source="test", keep_photo=lambda e: order.append("kept")
        )  # fmt: skip
    assert record_inspection(
        InspectionResult(pallet_found=False), DELIVERY, Stream(), event_id="insp-4", source="test",
        keep_photo=lambda e: order.append("kept"),
    ) is None  # fmt: skip
    assert order == []


def test_the_async_form_keeps_the_photo_before_publishing_too():
    order = []

    class Stream:
        async def publish(self, event):
            order.append("published")

    async def keep(event):
        order.append(("kept", event.image))

    asyncio.run(
        record_inspection_async(
            FOUND, DELIVERY, Stream(), event_id="insp-5", source="api", image="inspections/insp-5.jpg", keep_photo=keep
        )
    )  # fmt: skip
    assert order == [("kept", "inspections/insp-5.jpg"), "published"]
    order.clear()
    with pytest.raises(InspectionRefused):
        asyncio.run(
            record_inspection_async(
                FOUND, DELIVERY, Stream(), event_id="x" * 200, source="api", keep_photo=keep
            )
        )
    assert order == []
