"""Planning's use cases against in-memory ports: the order of publish, record, audit and commit,
what a refusal leaves behind, and what replenishment and the accuracy measure read and write."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from stockflow.events import ForecastReviewed, PurchaseOrder, TransferOut
from stockflow.forecasting import Decision, ReviewAlreadyDecided, ReviewError
from stockflow.replenishment import (
    ApprovedOrder,
    OrderSuggestion,
    StockCount,
    StockPosition,
    SuggestionAlreadyDecided,
    SuggestionError,
    TransferSuggestion,
)
from stockflow.services import planning as service

LAST_DAY = date(2026, 3, 31)


class Journal(list):
    """What the ports were asked to do, in order."""


class Publisher:
    def __init__(self, fails: bool = False, journal: Journal | None = None) -> None:
        self.events: list[Any] = []
        self.fails = fails
        self.journal = journal if journal is not None else Journal()

    def publish(self, event: Any) -> None:
        if self.fails:
            raise RuntimeError("the stream is down")
        self.journal.append(("publish", event.event_id))
        self.events.append(event)


class Audit:
    def __init__(self, fails: bool = False, journal: Journal | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self.fails = fails
        self.journal = journal if journal is not None else Journal()

    def append(self, actor, action, target, role="", reason="", details=None):  # noqa: ANN001, ANN201
        if self.fails:
            raise OSError("the disk is full")
        self.entries.append(
            {"actor": actor, "action": action, "target": target, "role": role, "reason": reason, **details}
        )
        self.journal.append(("audit", action))
        return SimpleNamespace(seq=len(self.entries))


class Pending:
    """A decision unit: `record` claims the item only where it is still pending (else False and
    `row` read again); changes become visible only on commit."""

    pending_status = "open"

    def __init__(self, store: Store, key: Any) -> None:
        self.store, self.key, self.change = store, key, None
        self.row = dict(store.items[key]) if key in store.items else None

    def claim(self, change: dict[str, Any]) -> bool:
        if self.store.before_claim is not None:  # another decision gets there first
            self.store.before_claim(self.store.items[self.key])
        if self.store.items[self.key]["status"] != self.pending_status:
            self.row = dict(self.store.items[self.key])
            return False
        self.change = change
        return True

    def commit(self) -> Any:
        self.store.items[self.key].update(self.change)
        self.store.commits += 1
        self.store.journal.append(("commit", self.key))
        return dict(self.store.items[self.key])


class PendingReview(Pending):
    @property
    def status(self) -> str | None:
        return self.row and self.row["status"]

    def record(self, decision, reviewer, role, reason, decided_at, override_daily):  # noqa: ANN001, ANN201
        return self.claim({"status": decision.value, "reviewer": reviewer, "override_daily": override_daily})


class PendingSuggestion(Pending):
    pending_status = "proposed"

    @property
    def suggestion(self) -> Any:
        return self.row and self.row["suggestion"]

    def record(self, status, decided_at, reviewer, role, reason, event_id, reference):  # noqa: ANN001, ANN201
        return self.claim(
            {
                "status": status.value,
                "event_id": event_id,
                "reference": reference,
                "reviewer": reviewer,
                "decided_at": decided_at,
            }
        )


class Store:
    def __init__(self, items: dict[Any, dict[str, Any]], journal: Journal | None = None) -> None:
        self.items, self.commits = items, 0
        self.journal = journal if journal is not None else Journal()
        self.before_claim = None

    @contextmanager
    def deciding_review(self, run_id, location, sku):  # noqa: ANN001, ANN201
        yield PendingReview(self, (run_id, location, sku))

    @contextmanager
    def deciding_suggestion(self, suggestion_id):  # noqa: ANN001, ANN201
        yield PendingSuggestion(self, suggestion_id)

    def suggestions(self, status):  # noqa: ANN001, ANN201
        return [r for r in self.items.values() if status is None or r["status"] == status]


def reviews(journal: Journal | None = None) -> Store:
    return Store(
        {("run-1", "S1", "MILK-1L"): {"status": "open"}, ("run-1", "S1", "RICE-5KG"): {"status": "accepted"}},
        journal,
    )


DECIDED_AT = datetime(2026, 3, 31, 9, 15, 7, tzinfo=UTC)


def someone_else_decides(status: str):  # noqa: ANN201
    """Another decision that takes the item between our read and our claim."""

    def decide(item: dict[str, Any]) -> None:
        item.update(status=status, reviewer="李会计", decided_at=DECIDED_AT)

    return decide


# ----------------------------------------------------------------------------- reviews
def test_an_override_is_audited_then_published_then_committed():
    journal = Journal()
    store, audit, publisher = reviews(journal), Audit(journal=journal), Publisher(journal=journal)
    service.decide_review(
        store,
        audit,
        "run-1",
        "S1",
        "MILK-1L",
        Decision.OVERRIDDEN,
        "王经理",
        "promotion",
        "manager",
        12.0,
        publisher,
    )
    assert journal == [
        ("audit", "forecast_review.overridden"),
        ("publish", "review:run-1:S1:MILK-1L"),
        ("commit", ("run-1", "S1", "MILK-1L")),
    ]
    assert store.items[("run-1", "S1", "MILK-1L")] == {
        "status": "overridden",
        "reviewer": "王经理",
        "override_daily": 12.0,
    }
    (event,) = publisher.events
    assert isinstance(event, ForecastReviewed)
    assert (event.event_id, event.decision, event.override_daily) == (
        "review:run-1:S1:MILK-1L",
        "overridden",
        12.0,
    )
    assert audit.entries == [
        {
            "actor": "王经理",
            "action": "forecast_review.overridden",
            "target": "forecast S1 × MILK-1L (run-1)",
            "role": "manager",
            "reason": "promotion",
            "run_id": "run-1",
            "location": "S1",
            "sku": "MILK-1L",
            "override_daily": 12.0,
            "decision_id": "review:run-1:S1:MILK-1L",
            "event_id": "review:run-1:S1:MILK-1L",
        }
    ]


def test_without_a_publisher_a_review_decision_is_recorded_with_no_event_id():
    store, audit = reviews(), Audit()
    service.decide_review(store, audit, "run-1", "S1", "MILK-1L", Decision.ACCEPTED, "李会计", "looks right")
    assert store.items[("run-1", "S1", "MILK-1L")]["status"] == "accepted"
    assert audit.entries[0]["event_id"] is None
    assert audit.entries[0]["decision_id"] == "review:run-1:S1:MILK-1L"


def test_a_review_decision_the_stream_refuses_stays_open_with_its_entry_and_a_failed_one():
    store, audit = reviews(), Audit()
    with pytest.raises(RuntimeError, match="stream is down"):
        service.decide_review(
            store, audit, "run-1", "S1", "MILK-1L", Decision.ACCEPTED, "x", "y", publish=Publisher(fails=True)
        )
    assert store.items[("run-1", "S1", "MILK-1L")] == {"status": "open"} and store.commits == 0
    entry, failed = audit.entries
    assert entry["action"] == "forecast_review.accepted"
    assert failed["action"] == "forecast_review.accepted.failed" and failed["voids_entry"] == 1
    assert failed["decision_id"] == entry["decision_id"] and "stream is down" in failed["error"]


def test_a_review_decision_the_audit_log_refuses_is_not_sent_nor_taken():
    store, publisher = reviews(), Publisher()
    with pytest.raises(OSError, match="disk is full"):
        service.decide_review(
            store, Audit(fails=True), "run-1", "S1", "MILK-1L", Decision.ACCEPTED, "x", "y", publish=publisher
        )
    assert store.items[("run-1", "S1", "MILK-1L")] == {"status": "open"} and store.commits == 0
    assert publisher.events == []


def test_a_decided_or_missing_review_and_an_invalid_decision_are_refused_before_anything_is_sent():
    store, audit, publisher = reviews(), Audit(), Publisher()
    with pytest.raises(ReviewAlreadyDecided, match="already accepted"):
        service.decide_review(
            store, audit, "run-1", "S1", "RICE-5KG", Decision.ACCEPTED, "x", "y", publish=publisher
        )
    with pytest.raises(ReviewError, match="no review"):
        service.decide_review(
            store, audit, "run-2", "S1", "MILK-1L", Decision.ACCEPTED, "x", "y", publish=publisher
        )
    with pytest.raises(ReviewError, match="daily quantity"):
        service.decide_review(
            store, audit, "run-1", "S1", "MILK-1L", Decision.OVERRIDDEN, "x", "y", publish=publisher
        )
    assert publisher.events == [] and audit.entries == [] and store.commits == 0


def test_a_review_taken_by_another_decision_before_the_claim_says_by_whom_and_when():
    store, audit, publisher = reviews(), Audit(), Publisher()
    store.before_claim = someone_else_decides("overridden")
    with pytest.raises(ReviewAlreadyDecided) as refused:
        service.decide_review(
            store, audit, "run-1", "S1", "MILK-1L", Decision.ACCEPTED, "王经理", "ok", publish=publisher
        )
    assert (refused.value.status, refused.value.by, refused.value.at) == ("overridden", "李会计", DECIDED_AT)
    assert str(refused.value) == (
        "the review of S1 × MILK-1L in run run-1 was already overridden by 李会计 at 2026-03-31 09:15:07 UTC"
    )
    assert publisher.events == [] and audit.entries == [] and store.commits == 0


# ----------------------------------------------------------------------------- suggestions
def suggestions(journal: Journal | None = None) -> Store:
    order = OrderSuggestion("S1", "MILK-1L", "SUP1", 24, LAST_DAY, LAST_DAY + timedelta(days=3), 5, 12, 3.0)
    transfer = TransferSuggestion("MILK-1L", "WH1", "S1", "B1", 6, 3.2, None)
    row = {"location": "S1", "sku": "MILK-1L", "status": "proposed"}
    return Store(
        {
            "s-1": {**row, "suggestion_id": "s-1", "kind": "purchase", "quantity": 24, "suggestion": order},
            "s-2": {**row, "suggestion_id": "s-2", "kind": "transfer", "quantity": 6, "suggestion": transfer},
        },
        journal,
    )


def test_approving_a_purchase_suggestion_audits_then_places_its_order_then_commits():
    journal = Journal()
    store, audit, publisher = suggestions(journal), Audit(journal=journal), Publisher(journal=journal)
    row = service.decide_suggestion(store, audit, "s-1", "approved", "王经理", publish=publisher)
    assert journal == [("audit", "suggestion.approved"), ("publish", "s-1:po"), ("commit", "s-1")]
    (event,) = publisher.events
    assert isinstance(event, PurchaseOrder) and (event.event_id, event.purchase_order) == ("s-1:po", "PO-s-1")
    assert (row["status"], row["event_id"], row["reference"]) == ("approved", "s-1:po", "PO-s-1")
    assert [
        (e["action"], e["target"], e["quantity"], e["decision_id"], e["event_id"]) for e in audit.entries
    ] == [("suggestion.approved", "purchase suggestion s-1", 24, "suggestion:s-1", "s-1:po")]


def test_approving_a_transfer_dispatches_it():
    store, publisher = suggestions(), Publisher()
    row = service.decide_suggestion(store, Audit(), "s-2", "approved", "王经理", publish=publisher)
    assert isinstance(publisher.events[0], TransferOut)
    assert (row["event_id"], row["reference"]) == ("s-2:transfer", "TR-s-2")


def test_a_rejection_sends_nothing_and_needs_a_reason():
    store, audit, publisher = suggestions(), Audit(), Publisher()
    with pytest.raises(SuggestionError, match="reason"):
        service.decide_suggestion(store, audit, "s-1", "rejected", "王经理", " ", publish=publisher)
    row = service.decide_suggestion(
        store, audit, "s-1", "rejected", "王经理", "overstocked", publish=publisher
    )
    assert (row["status"], row["event_id"]) == ("rejected", None) and publisher.events == []
    assert [e["action"] for e in audit.entries] == ["suggestion.rejected"]


def test_refused_suggestion_decisions_change_nothing():
    store, audit = suggestions(), Audit()
    with pytest.raises(SuggestionError, match="a way to send"):
        service.decide_suggestion(store, audit, "s-1", "approved", "王经理")
    with pytest.raises(SuggestionError, match="no suggestion"):
        service.decide_suggestion(store, audit, "s-9", "approved", "王经理", publish=Publisher())
    assert store.items["s-1"]["status"] == "proposed" and store.commits == 0 and audit.entries == []
    service.decide_suggestion(store, audit, "s-1", "approved", "王经理", publish=Publisher())
    with pytest.raises(SuggestionAlreadyDecided, match="already approved by 王经理 at 20"):
        service.decide_suggestion(store, audit, "s-1", "rejected", "x", "too late", publish=Publisher())
    assert [e["action"] for e in audit.entries] == ["suggestion.approved"]


def test_an_approval_the_stream_refuses_leaves_its_entry_a_failed_entry_and_the_suggestion_proposed():
    store, audit = suggestions(), Audit()
    with pytest.raises(RuntimeError, match="stream is down"):
        service.decide_suggestion(store, audit, "s-1", "approved", "王经理", publish=Publisher(fails=True))
    assert store.items["s-1"]["status"] == "proposed" and store.commits == 0
    assert [(e["action"], e["decision_id"], e["event_id"]) for e in audit.entries] == [
        ("suggestion.approved", "suggestion:s-1", "s-1:po"),
        ("suggestion.approved.failed", "suggestion:s-1", "s-1:po"),
    ]
    # taken again, the same decision id and event id: the stream takes the order once
    publisher = Publisher()
    service.decide_suggestion(store, audit, "s-1", "approved", "王经理", publish=publisher)
    assert [e.event_id for e in publisher.events] == ["s-1:po"] and store.items["s-1"]["status"] == "approved"


@pytest.mark.parametrize("status", ["approved", "rejected"])
def test_a_suggestion_taken_by_another_decision_before_the_claim_is_refused_with_who_and_when(status):
    store, audit, publisher = suggestions(), Audit(), Publisher()
    store.before_claim = someone_else_decides(status)
    with pytest.raises(SuggestionAlreadyDecided) as refused:
        service.decide_suggestion(store, audit, "s-2", "approved", "王经理", publish=publisher)
    assert (refused.value.status, refused.value.by, refused.value.at) == (status, "李会计", DECIDED_AT)
    assert (
        str(refused.value)
        == f"transfer suggestion s-2 was already {status} by 李会计 at 2026-03-31 09:15:07 UTC"
    )
    assert publisher.events == [] and audit.entries == [] and store.commits == 0


def test_an_expired_suggestion_is_refused_with_why():
    store = suggestions()
    store.items["s-1"].update(status="expired", decided_at=DECIDED_AT, reason="replaced by run r-2")
    with pytest.raises(
        SuggestionAlreadyDecided, match=r"already expired at 2026-03-31 09:15:07 UTC \(replaced by run r-2\)"
    ):
        service.decide_suggestion(store, Audit(), "s-1", "approved", "王经理", publish=Publisher())


# ----------------------------------------------------------------------------- replenishment
class Demand:
    """Two days of demand at S1, WH1 sending 5 units on the last day, one open purchase line."""

    def __init__(self, last_day: date | None = LAST_DAY) -> None:
        self.last_day = last_day
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def last_business_day(self) -> date | None:
        return self.last_day

    def demand_days(self) -> tuple[date, date] | None:
        return (LAST_DAY - timedelta(days=9), LAST_DAY)

    def daily_demand(self, through, **kw):  # noqa: ANN001, ANN003, ANN201
        self.asked.append(("demand", {"through": through, **kw}))
        days = [LAST_DAY - timedelta(days=1), LAST_DAY]
        return pd.DataFrame({"location": "S1", "sku": "MILK-1L", "day": days, "units": [4.0, 6.0]})

    def daily_transfers_out(self, since, through):  # noqa: ANN001, ANN201
        self.asked.append(("transfers_out", {"since": since, "through": through}))
        return pd.DataFrame({"location": ["WH1"], "sku": ["MILK-1L"], "day": [LAST_DAY], "units": [5.0]})

    def daily_recipe_use(self, since, through):  # noqa: ANN001, ANN201
        self.asked.append(("recipe_use", {"since": since, "through": through}))
        return pd.DataFrame({"location": [], "sku": [], "day": [], "units": []})

    def purchase_order_lines(self):  # noqa: ANN201
        from stockflow.replenishment import PurchaseOrderLine

        return [PurchaseOrderLine("PO-1", "S1", "MILK-1L", 12, "SUP1", 2.0, LAST_DAY - timedelta(days=5))]


class Plans:
    def __init__(self) -> None:
        self.stored: list[Any] = []
        self.window: tuple[date, int] | None = None

    def daily_forecasts(self, first_day, days):  # noqa: ANN001, ANN201
        self.window = (first_day, days)
        return {("S1", "MILK-1L", first_day + timedelta(days=i)): 7.0 for i in range(days)}

    def approved_purchase_orders(self):  # noqa: ANN201
        return [ApprovedOrder("PO-S9", "WH1", "RICE-5KG", 8)]

    def store_plan(self, run_id, started_at, business_date, plan):  # noqa: ANN001, ANN201
        self.stored.append((run_id, business_date, plan))
        return {
            "series": len(plan.series),
            "orders": len(plan.orders),
            "transfers": len(plan.transfers),
            "expired": 0,
        }


class Stock:
    def __init__(self) -> None:
        self.locations: list[str] = []

    def stock(self, locations):  # noqa: ANN001, ANN201
        self.locations = list(locations)
        return {("WH1", "MILK-1L"): StockCount(100, quarantined=10, reserved=5, in_transit=0)}


def test_replenishment_plans_from_live_stock_on_order_and_the_forecast(catalog):
    plans, demand, stock = Plans(), Demand(), Stock()
    summary = service.run_replenishment(plans, demand, stock, catalog, run_id="r-1")
    assert summary["run_id"] == "r-1" and summary["series"] == 3
    assert stock.locations == ["S1", "WH1"]
    assert plans.window == (date(2026, 4, 1), 14)
    assert demand.asked == [
        ("demand", {"through": LAST_DAY, "since": date(2026, 3, 4)}),
        ("recipe_use", {"since": date(2026, 3, 4), "through": LAST_DAY}),
        ("transfers_out", {"since": date(2026, 3, 4), "through": LAST_DAY}),
    ]
    ((run_id, business_date, plan),) = plans.stored
    assert (run_id, business_date) == ("r-1", LAST_DAY)
    positions = {(s.location, s.sku): s.position for s in plan.series}
    assert positions == {
        ("S1", "MILK-1L"): StockPosition(0, 0, 0, 12),  # the open purchase line
        ("WH1", "MILK-1L"): StockPosition(90, 5, 0, 0),  # quarantine is not usable
        ("WH1", "RICE-5KG"): StockPosition(0, 0, 0, 8),  # approved, not in the warehouse yet
    }
    demand_of = {(s.location, s.sku): s.demand.mean for s in plan.series}
    assert demand_of[("S1", "MILK-1L")] == 7.0  # the forecast
    assert demand_of[("WH1", "MILK-1L")] == 5.0  # 5 sent on its only day


def test_replenishment_without_a_business_day_plans_nothing(catalog):
    plans = Plans()
    summary = service.run_replenishment(plans, Demand(last_day=None), Stock(), catalog)
    assert summary["series"] == 0 and plans.stored == []


# ----------------------------------------------------------------------------- demand and accuracy
def test_recent_demand_covers_the_last_days_but_not_before_the_first():
    demand = Demand()
    service.recent_demand(demand, "S1", "MILK-1L", 60)
    service.recent_demand(demand, "S1", "MILK-1L", 3)
    assert [kw["since"] for _, kw in demand.asked] == [date(2026, 3, 22), date(2026, 3, 29)]
    assert all(kw["series"] == [("S1", "MILK-1L")] and kw["dense"] for _, kw in demand.asked)


class Accuracy:
    def __init__(self) -> None:
        self.stored: Any = None

    def runs_to_measure(self, through, since_days):  # noqa: ANN001, ANN201
        return [("run-1", LAST_DAY - timedelta(days=3))]

    def run_forecasts(self, run_id, through):  # noqa: ANN001, ANN201
        days = [LAST_DAY - timedelta(days=2), LAST_DAY - timedelta(days=1)]
        return pd.DataFrame(
            {"location": "S1", "sku": "MILK-1L", "day": days, "forecast": [5.0, 5.0], "effective": [8.0, 8.0]}
        )

    def run_series(self, run_id):  # noqa: ANN001, ANN201
        return [("S1", "MILK-1L")]

    def store_accuracy(self, through, measured, at):  # noqa: ANN001, ANN201
        self.stored = (through, measured)


def test_accuracy_compares_the_elapsed_days_with_the_demand_since():
    store = Accuracy()
    demand = Demand()
    summary = service.measure_accuracy(store, demand)
    assert summary == {"runs": 1, "through_day": LAST_DAY - timedelta(days=1)}
    # actual on the two elapsed days: 0 on 29 March (no demand recorded), 4 on 30 March
    ((run_id, series, total),) = store.stored[1]
    row = series.iloc[0]
    assert (run_id, row["location"], row["sku"], row["days"]) == ("run-1", "S1", "MILK-1L", 2)
    assert row["actual"] == 4.0 and row["abs_error"] == 5.0 + 1.0 and row["wape"] == 6.0 / 4.0
    assert row["effective_error"] == 8.0 + 4.0 and total["series"] == 1
    insample = [kw for kind, kw in demand.asked if kw.get("through") == LAST_DAY - timedelta(days=3)]
    assert insample[0]["since"] == LAST_DAY - timedelta(days=3 + 55)
