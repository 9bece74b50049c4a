"""Property: replaying any event sequence with any duplication gives the same positions as once."""

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockflow.events import (
    CycleCount,
    PosLine,
    PosReturn,
    PosSale,
    QualityHold,
    SalesIssue,
    StockAdjustment,
    StockReservation,
    TransferIn,
    TransferOut,
)
from stockflow.ledger import Ledger, StockRejected
from tests.unit.conftest import at, receipt

SKUS = ["MILK-1L", "RICE-5KG"]
BATCHES = ["B1", "B2", None]
EXPIRY = {"B1": date(2026, 3, 10), "B2": date(2026, 3, 6)}


@st.composite
def events(draw, n):
    eid = f"e{n}"
    sku = draw(st.sampled_from(SKUS))
    batch = draw(st.sampled_from(BATCHES))
    qty = Decimal(draw(st.integers(1, 30)))
    loc = draw(st.sampled_from(["WH1", "S1"]))
    kind = draw(
        st.sampled_from(
            [
                "receipt",
                "sale",
                "return",
                "transfer_out",
                "transfer_in",
                "count",
                "adjust",
                "hold",
                "reserve",
                "issue",
            ]
        )
    )
    t = at(n)
    if kind == "receipt":
        b = batch or "B1"
        return receipt(
            eid, sku=sku, qty=str(qty), unit="each", batch=b, expiry=EXPIRY[b], location=loc, occurred_at=t
        )
    if kind in ("sale", "return"):
        model = PosSale if kind == "sale" else PosReturn
        return model(
            event_id=eid,
            occurred_at=t,
            source="till",
            store="S1",
            ticket=eid,
            channel="retail",
            lines=[PosLine(sku=sku, qty=qty, unit_price=Decimal(1), batch=batch)],
        )
    if kind in ("transfer_out", "transfer_in"):
        model = TransferOut if kind == "transfer_out" else TransferIn
        return model(
            event_id=eid,
            occurred_at=t,
            source="s",
            transfer_id="T",
            from_location="WH1",
            to_location="S1",
            sku=sku,
            batch=batch,
            qty=qty,
        )
    if kind == "count":
        return CycleCount(
            event_id=eid,
            occurred_at=t,
            source="s",
            location=loc,
            count_id=eid,
            sku=sku,
            batch=batch or "B1",
            counted_qty=qty,
        )
    if kind == "adjust":
        sign = draw(st.sampled_from([1, -1]))
        return StockAdjustment(
            event_id=eid,
            occurred_at=t,
            source="s",
            location=loc,
            sku=sku,
            batch=batch or "B1",
            qty=sign * qty,
            reason="correction",
        )
    if kind == "hold":
        return QualityHold(
            event_id=eid,
            occurred_at=t,
            source="qa",
            location=loc,
            sku=sku,
            batch=batch,
            action=draw(st.sampled_from(["hold", "release", "scrap"])),
            qty=draw(st.sampled_from([None, qty])),
        )
    if kind == "reserve":
        return StockReservation(
            event_id=eid,
            occurred_at=t,
            source="erp",
            location=loc,
            sales_order=f"SO{n % 3}",
            sku=sku,
            qty=qty,
            action=draw(st.sampled_from(["reserve", "release"])),
        )
    return SalesIssue(
        event_id=eid,
        occurred_at=t,
        source="s",
        location=loc,
        sales_order=f"SO{n % 3}",
        customer="C1",
        sku=sku,
        batch=batch,
        qty=qty,
    )


@st.composite
def sequences(draw):
    n = draw(st.integers(1, 40))
    return [draw(events(i)) for i in range(n)]


def run(catalog, seq, partitioned=False):
    """Apply a sequence as the stream does; the transit leg of a transfer is forwarded next.

    partitioned: one ledger per location (as partitions own locations) instead of one for all."""
    ledgers: dict[str, Ledger] = {}
    pending = list(seq)
    while pending:
        ev = pending.pop(0)
        ledger = ledgers.setdefault(ev.location_id if partitioned else "", Ledger(catalog))
        try:
            result = ledger.apply(ev)
        except StockRejected:
            continue
        pending[:0] = list(result.follow_ups)
    return {k: p.as_dict() for ledger in ledgers.values() for k, p in ledger.positions()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=sequences(), data=st.data())
def test_any_duplication_gives_the_same_positions(catalog, seq, data):
    once = run(catalog, seq)
    # Duplicate every event any number of times, each copy landing anywhere after the original.
    duplicated = list(seq)
    for ev in seq:
        for _ in range(data.draw(st.integers(0, 2))):
            first = duplicated.index(ev)
            duplicated.insert(data.draw(st.integers(first + 1, len(duplicated))), ev)
    assert run(catalog, duplicated) == once
    assert run(catalog, seq + seq) == once


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=sequences())
def test_positions_never_break_invariants(catalog, seq):
    for key, p in run(catalog, seq).items():
        assert p["quarantined"] >= 0 and p["reserved"] >= 0, key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=sequences())
def test_reject_policy_goes_negative_only_through_the_till(catalog, seq):
    without_sales = [e for e in seq if not isinstance(e, PosSale)]
    for key, p in run(catalog, without_sales).items():
        if key.sku == "MILK-1L":
            assert p["on_hand"] >= 0, key


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=sequences())
def test_state_does_not_depend_on_partitioning(catalog, seq):
    assert run(catalog, seq, partitioned=True) == run(catalog, seq)
