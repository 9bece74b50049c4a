"""Other systems' codes made ours at intake (`stockflow.intake.resolve_codes`), and a legacy
export read through the same aliases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lake import partition_for
from lake.landing import Landing
from lake.reader import read_table
from stockflow.events import EventRejected, PosLine, PosSale, TransferOut, parse_event
from stockflow.intake import resolve_codes
from stockflow.ledger import Ledger, PositionKey, StockRejected
from stockflow.masterdata import Alias, Catalog
from stockflow.processing import StockProcessor
from stockflow.reconciliation import Action, Classification, compare_legacy, legacy_action, parse_legacy_csv
from tests.unit.conftest import at, receipt

PARTITIONS = 16


def alias(catalog: Catalog, system: str, code: str, kind: str, target: str) -> None:
    found = Alias(system=system, code=code, kind=kind, target=target)
    catalog.aliases[found.key] = found


@pytest.fixture
def aliased(catalog: Catalog) -> Catalog:
    alias(catalog, "legacy_erp", "LEGACY-DC-01", "location", "WH1")
    alias(catalog, "meituan", "MT-STORE-88", "location", "S1")
    alias(catalog, "legacy_erp", "100234", "sku", "MILK-1L")
    alias(catalog, "supplier.SUP1", "R5", "sku", "RICE-5KG")
    # two systems use one code for different SKUs
    alias(catalog, "legacy_erp", "X-9", "sku", "MILK-1L")
    alias(catalog, "meituan", "X-9", "sku", "RICE-5KG")
    return catalog


def ticket(store: str, *skus: str) -> PosSale:
    return PosSale(
        event_id="t1", occurred_at=at(5), source="till-1", store=store, ticket="T1", channel="delivery",
        lines=[PosLine(sku=sku, qty=Decimal(1), unit_price=Decimal("6.5")) for sku in skus],
    )  # fmt: skip


def test_without_aliases_the_event_is_returned_as_it_is(catalog):
    event = receipt(location="LEGACY-DC-01")
    assert resolve_codes(event, catalog) is event


def test_our_own_codes_are_kept_and_the_event_is_the_same_object(aliased):
    event = receipt()
    assert resolve_codes(event, aliased) is event
    sale = ticket("S1", "MILK-1L", "RICE-5KG")
    assert resolve_codes(sale, aliased) is sale


def test_an_alias_is_replaced_by_our_code(aliased):
    event = receipt(location="LEGACY-DC-01", sku="100234")
    resolved = resolve_codes(event, aliased)
    assert (resolved.location, resolved.sku) == ("WH1", "MILK-1L")
    assert (event.location, event.sku) == ("LEGACY-DC-01", "100234")  # the parsed event is untouched
    assert resolved.model_dump(exclude={"location", "sku"}) == event.model_dump(exclude={"location", "sku"})
    Ledger(aliased).apply(resolved)


def test_a_till_tickets_store_and_lines_are_resolved(aliased):
    sale = ticket("MT-STORE-88", "R5", "MILK-1L")
    resolved = resolve_codes(sale, aliased)
    assert resolved.store == "S1"
    assert [line.sku for line in resolved.lines] == ["RICE-5KG", "MILK-1L"]
    assert resolved.lines[1] is sale.lines[1]


def test_both_ends_of_a_transfer_are_resolved(aliased):
    out = TransferOut(
        event_id="tr1", occurred_at=at(1), source="rf", transfer_id="TR1", from_location="LEGACY-DC-01",
        to_location="MT-STORE-88", sku="100234", batch="B1", qty=Decimal(12),
    )  # fmt: skip
    resolved = resolve_codes(out, aliased)
    assert (resolved.from_location, resolved.to_location, resolved.sku) == ("WH1", "S1", "MILK-1L")


def test_a_transfer_to_itself_once_resolved_is_refused(aliased):
    out = TransferOut(
        event_id="tr1", occurred_at=at(1), source="rf", transfer_id="TR1", from_location="LEGACY-DC-01",
        to_location="WH1", sku="MILK-1L", batch="B1", qty=Decimal(12),
    )  # fmt: skip
    with pytest.raises(EventRejected) as err:
        resolve_codes(out, aliased)
    assert err.value.reason == "schema_violation"


def test_an_unknown_code_is_left_for_the_ledger_to_refuse(aliased):
    event = receipt(sku="NOPE")
    assert resolve_codes(event, aliased) is event
    with pytest.raises(StockRejected) as err:
        Ledger(aliased).apply(event)
    assert err.value.reason == "unknown_sku"


def test_an_ambiguous_code_is_refused_naming_what_it_could_mean(aliased):
    with pytest.raises(EventRejected) as err:
        resolve_codes(ticket("S1", "MILK-1L", "X-9"), aliased)
    assert err.value.reason == "ambiguous_alias"
    assert "MILK-1L" in err.value.detail and "RICE-5KG" in err.value.detail


def test_a_location_alias_takes_the_event_to_its_locations_partition(aliased):
    raw = receipt(location="LEGACY-DC-01").model_dump_json()
    parsed = parse_event(raw, "scans")
    resolved = resolve_codes(parsed, aliased)
    assert partition_for(parsed.location_id, PARTITIONS) != partition_for("WH1", PARTITIONS)
    assert partition_for(resolved.location_id, PARTITIONS) == partition_for("WH1", PARTITIONS)


def test_landing_books_our_codes_and_dead_letters_an_ambiguous_one(aliased, tmp_path):
    landing = Landing(tmp_path, PARTITIONS, lambda: StockProcessor(aliased))
    landing.apply_all([receipt(location="LEGACY-DC-01", sku="100234"), ticket("S1", "X-9")])
    (event,) = read_table(tmp_path, "scans").to_pylist()
    assert (event["location"], '"sku":"MILK-1L"' in event["payload"]) == ("WH1", True)
    (moved,) = read_table(tmp_path, "inventory_changed").to_pylist()
    assert (moved["location"], moved["sku"]) == ("WH1", "MILK-1L")
    (letter,) = read_table(tmp_path, "dead_letters").to_pylist()
    assert (letter["event_id"], letter["reason"], letter["refused_by_ledger"]) == (
        "t1",
        "ambiguous_alias",
        False,
    )
    processor = landing.processors[partition_for("WH1", PARTITIONS)]
    assert processor.ledger.position(PositionKey("WH1", "MILK-1L", "B1")).on_hand == 24


def test_a_legacy_export_in_the_legacy_systems_codes_is_compared_as_ours(aliased):
    ledger = Ledger(aliased)
    ledger.apply(receipt(qty="2"))
    legacy = parse_legacy_csv("location,sku,batch,on_hand\nLEGACY-DC-01,100234,B1,24\n", aliased)
    assert [r.key for r in legacy] == [PositionKey("WH1", "MILK-1L", "B1")]
    report = compare_legacy(legacy, dict(ledger.positions()), [], [], aliased)
    assert report.comparison.discrepancies == () and report.matched == 1


def test_a_legacy_row_with_an_ambiguous_code_is_reported_with_its_reason_not_refused(aliased):
    ledger = Ledger(aliased)
    ledger.apply(receipt(qty="2"))
    text = "location,sku,batch,on_hand,unit\nWH1,MILK-1L,B1,2,case\nLEGACY-DC-01,X-9,,7,each\n"
    rows = parse_legacy_csv(text, aliased)
    assert [r.problem for r in rows][0] == ""
    assert "X-9" in rows[1].problem and "MILK-1L, RICE-5KG" in rows[1].problem
    report = compare_legacy(rows, dict(ledger.positions()), [], [], aliased)
    (found,) = report.comparison.discrepancies
    assert found.classification is Classification.AMBIGUOUS_CODE
    assert found.key == PositionKey("WH1", "X-9", "")
    assert (found.observed.on_hand, found.qty) == (7, 7)
    assert "line 3" in found.detail and "stands for MILK-1L, RICE-5KG" in found.detail
    assert legacy_action(found) is Action.REPORT_ONLY
    assert (report.legacy_rows, report.matched) == (2, 1)


class InMemoryHistory:
    """The whole ledger, held in memory (the `LedgerHistory` port)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def replay_all(self) -> tuple[Ledger, int]:
        return self.ledger, self.ledger.applied_count

    def moved_since(self, as_of):
        return set()


def test_a_legacy_run_keeps_the_ambiguous_rows_in_its_report(aliased, tmp_path):
    from stockflow.services.reconciliation import reconcile_legacy
    from stores.reconciliation import ReconciliationStore

    ledger = Ledger(aliased)
    ledger.apply(receipt(qty="2"))
    store = ReconciliationStore(tmp_path / "reconciliation.duckdb")
    text = "location,sku,batch,on_hand\nLEGACY-DC-01,100234,B1,20\nMT-STORE-88,X-9,,3\nLEGACY-DC-01,X-9,,1\n"
    report = reconcile_legacy(text, "old.csv", aliased, InMemoryHistory(ledger), store)
    assert report.summary()["ambiguous_code"] == 2 and report.summary()["drift"] == 1
    rows = store.discrepancies(report.run_id)
    assert sorted((r["classification"], r["location"], r["sku"], r["action"]) for r in rows) == [
        ("ambiguous_code", "S1", "X-9", "report_only"),
        ("ambiguous_code", "WH1", "X-9", "report_only"),
        ("drift", "WH1", "MILK-1L", "report_only"),
    ]
