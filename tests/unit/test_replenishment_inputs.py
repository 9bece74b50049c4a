"""Replenishment's input rules: usable stock, units on order, observed lead times, the demand and
forecast windows, and which location × SKU pairs are planned. Expected values are worked out by
hand in each test."""

from datetime import UTC, date, datetime

from stockflow.replenishment import (
    ApprovedOrder,
    BatchCount,
    BatchStock,
    OrderSuggestion,
    PurchaseOrderLine,
    StockCount,
    StockPosition,
    TransferSuggestion,
    approval_event,
    approval_reference,
    demand_window,
    forecast_window,
    observed_lead_times,
    on_order,
    series_inputs,
    usable_stock,
)

TODAY = date(2026, 3, 31)


def test_quarantined_stock_is_not_usable_and_a_batch_gives_what_is_neither_held_nor_reserved():
    count = StockCount(
        on_hand=100,
        quarantined=10,
        reserved=25,
        in_transit=7,
        batches=(
            BatchCount("B1", on_hand=60, quarantined=10, reserved=20, expiry=date(2026, 4, 10)),  # 30
            BatchCount("B2", on_hand=35, quarantined=0, reserved=5),  # 30, no expiry
            BatchCount("B3", on_hand=5, quarantined=5, reserved=0),  # nothing to give
            BatchCount("B4", on_hand=0, quarantined=0, reserved=0),
        ),
    )
    position, batches = usable_stock(count, on_order=12)
    assert position == StockPosition(on_hand=90, reserved=25, in_transit=7, on_order=12)
    assert position.inventory_position == 90 - 25 + 7 + 12  # 84
    assert batches == (BatchStock("B1", 30, date(2026, 4, 10)), BatchStock("B2", 30, None))


def test_a_batch_reserved_beyond_what_it_holds_gives_nothing():
    _, batches = usable_stock(StockCount(10, batches=(BatchCount("B1", 10, quarantined=4, reserved=8),)))
    assert batches == ()


def test_on_order_is_open_lines_plus_approved_orders_the_warehouse_does_not_have_yet():
    lines = [
        PurchaseOrderLine("PO-1", "ST01", "MILK", 40),
        PurchaseOrderLine("PO-1", "ST01", "BREAD", 0),  # fully received
        PurchaseOrderLine("PO-2", "ST01", "MILK", 10),
        PurchaseOrderLine("PO-3", "WH1", "MILK", 200),
    ]
    approved = [
        ApprovedOrder("PO-1", "ST01", "BREAD", 99),  # in the warehouse already: its lines count
        ApprovedOrder("PO-S1", "ST01", "BREAD", 24),  # not landed yet
        ApprovedOrder("PO-S2", "ST01", "MILK", 6),
    ]
    assert on_order(lines, approved) == {("ST01", "MILK"): 56, ("WH1", "MILK"): 200, ("ST01", "BREAD"): 24}
    assert on_order([], []) == {}


def test_lead_times_are_observed_on_orders_placed_in_the_last_90_days():
    lines = [
        PurchaseOrderLine("PO-1", "ST01", "MILK", 0, "SUP-A", 3.0, date(2026, 3, 30)),
        PurchaseOrderLine("PO-2", "ST01", "MILK", 0, "SUP-A", 5.0, date(2026, 1, 1)),  # day 89 back
        PurchaseOrderLine("PO-3", "ST01", "MILK", 0, "SUP-A", 9.0, date(2025, 12, 31)),  # day 90: out
        PurchaseOrderLine("PO-4", "ST01", "MILK", 5, "SUP-A", None, date(2026, 3, 29)),  # not received
        PurchaseOrderLine("PO-5", "WH1", "OIL", 0, "SUP-B", 2.0, date(2026, 3, 1)),
        PurchaseOrderLine("PO-6", "WH1", "OIL", 0, None, 4.0, date(2026, 3, 1)),  # no supplier
    ]
    assert observed_lead_times(lines, TODAY) == {"SUP-A": [3.0, 5.0], "SUP-B": [2.0]}
    # 1 March is 30 days before 31 March: outside a 30-day window, inside a 31-day one
    assert observed_lead_times(lines, TODAY, days=30) == {"SUP-A": [3.0]}
    assert observed_lead_times(lines, TODAY, days=31) == {"SUP-A": [3.0], "SUP-B": [2.0]}


def test_the_demand_window_is_the_28_days_ending_today_and_the_forecast_the_next_14():
    assert demand_window(TODAY) == (date(2026, 3, 4), TODAY)  # 4 March to 31 March: 28 days
    assert forecast_window(TODAY) == (date(2026, 4, 1), 14)


def test_every_pair_with_stock_demand_transfers_or_orders_is_planned_in_order():
    stock = {("ST02", "MILK"): StockCount(20, quarantined=2, reserved=3, in_transit=1)}
    history = {("ST01", "MILK"): [1.0, 2.0]}
    sent = {("WH1", "MILK"): [0.0, 5.0]}
    ordered = {("ST02", "MILK"): 10, ("ST03", "OIL"): 4}
    forecast = {("ST01", "MILK"): 1.5, ("ST09", "TEA"): 3.0}  # a forecast alone plans nothing
    items = series_inputs(stock, history, sent, ordered, forecast)
    assert [(i.location, i.sku) for i in items] == [
        ("ST01", "MILK"),
        ("ST02", "MILK"),
        ("ST03", "OIL"),
        ("WH1", "MILK"),
    ]
    st01, st02, st03, wh1 = items
    assert st01.position == StockPosition(0) and list(st01.history) == [1.0, 2.0]
    assert st01.forecast_mean == 1.5
    assert st02.position == StockPosition(18, 3, 1, 10) and st02.forecast_mean is None
    assert st03.position == StockPosition(0, 0, 0, 4) and list(st03.history) == []
    assert list(wh1.transfers_out) == [0.0, 5.0]


def test_an_approval_yields_the_purchase_order_or_the_transfer_and_names_its_document():
    at = datetime(2026, 3, 31, 9, tzinfo=UTC)
    order = OrderSuggestion("ST01", "MILK", "SUP-A", 24, TODAY, date(2026, 4, 3), 5, 12, 3.5)
    po = approval_event("S-1", order, at, "王经理")
    assert (po.event_id, po.purchase_order, po.supplier, int(po.qty)) == ("S-1:po", "PO-S-1", "SUP-A", 24)
    assert approval_reference(po) == "PO-S-1"
    transfer = TransferSuggestion("MILK", "WH1", "ST01", "B1", 6, 3.2, None)
    out = approval_event("S-2", transfer, at, "王经理")
    assert (out.event_id, out.transfer_id, out.from_location, int(out.qty)) == (
        "S-2:transfer",
        "TR-S-2",
        "WH1",
        6,
    )
    assert approval_reference(out) == "TR-S-2"
