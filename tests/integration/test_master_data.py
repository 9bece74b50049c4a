"""A company's own master data, live: a catalogue of a few thousand rows imported from files
(a dry run lists each mistake first), changes recorded by the one service, published on the
compacted master-data topic and applied by every running worker without a restart, enforced
by the ledger (lifecycle, aliases), and kept as history by the warehouse.

One broker and two workers for the module (module-scoped)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from infra.worker_client import MasterDataPublisher, WorkerClient
from simulator.company import build_catalog
from stockflow.masterdata import Alias, Sku, SkuStatus
from stockflow.masterdata_changes import SetAlias, SetStatus, Upsert
from stockflow.services.masterdata import change_master_data
from stockflow.services.masterdata_import import import_master_data
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles, read_change_log
from stores.spreadsheets import csv_files, read_spreadsheet
from streams.broker import EmbeddedBroker, ensure_topics
from tests.support import Worker, free_port, settings_for, wait_until
from tests.support.network import get_json, post_json

pytestmark = pytest.mark.integration

#: A GTIN no simulated SKU has (valid check digit).
NEW_GTIN = "06901234567892"


def gtin13(n: int) -> str:
    """A valid EAN-13 from a running number (the GS1 check digit)."""
    body = f"698{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


#: Rows a person got wrong, appended after the good ones: (what is wrong, the row's changes,
#: the column and reason the dry run must name). Row numbers as the spreadsheet shows them.
MISTAKES = [
    ("a GTIN with a wrong check digit", {"gtin": "6980000000010"}, "gtin", "bad_gtin"),
    ("a pallet that is not whole cases", {"packs": "case=12;pallet=100"}, "packs", "pack_not_multiple"),
    ("a chilled product without a shelf life", {"category": "chilled_food", "shelf_life_days": ""},
     "shelf_life_days", "shelf_life_missing"),
    ("an MOQ in a unit the SKU does not have", {"moq": "2 crate"}, "moq", "unknown_unit"),
    ("a supplier nobody knows", {"supplier": "SUP-NOBODY"}, "supplier", "unknown_supplier"),
    ("the code of a row above", {"sku": "GEN-00001"}, "sku", "duplicate_code"),
]  # fmt: skip
GENERATED = 2_700


def catalogue_files(simulated, supplier: str) -> tuple[dict[str, bytes], dict[str, bytes], set]:
    """The simulated company plus a few thousand SKUs as the CSV files a company imports: clean,
    and with `MISTAKES` appended to skus.csv; and the problems the dry run must list."""
    files = csv_files(simulated)
    reader = csv.DictReader(io.StringIO(files["skus.csv"].decode("utf-8-sig")))
    columns, rows = reader.fieldnames, list(reader)
    template = {c: "" for c in columns} | {
        "category": "dry_goods", "status": "active", "serial_managed": "no", "base_unit": "each",
        "packs": "case=12", "batch_managed": "no", "reorder_point": "0", "supplier": supplier,
        "moq": "12", "negative_stock": "reject", "standard_cost": "3.50", "vat_rate": "0.13",
    }  # fmt: skip
    rows += [
        template | {"sku": f"GEN-{i:05d}", "gtin": gtin13(i), "name": f"干货 {i}"}
        for i in range(1, GENERATED + 1)
    ]
    expected = set()
    broken = list(rows)
    for n, (_, change, column, reason) in enumerate(MISTAKES):
        broken.append(template | {"sku": f"BAD-{n}", "gtin": gtin13(90_000 + n), "name": "有误"} | change)
        expected.add(("skus.csv", len(broken) + 1, column, reason))  # the header is row 1

    def encoded(table: list[dict]) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(table)
        return out.getvalue().encode("utf-8")

    return {**files, "skus.csv": encoded(rows)}, {**files, "skus.csv": encoded(broken)}, expected


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """A company whose catalogue is imported from files (a dry run of the ones with mistakes
    first), then a broker and two workers over it."""
    tmp = tmp_path_factory.mktemp("masterdata")
    broker_port = free_port()
    settings = settings_for(tmp / "var", broker_port, free_port())
    store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
    audit = AuditLog(settings.var_dir)
    simulated = build_catalog(settings.seed)
    clean, broken, expected = catalogue_files(simulated, next(iter(simulated.suppliers)))

    def tables(files: dict[str, bytes]) -> list:
        return [table for name, data in files.items() for table in read_spreadsheet(data, name)]

    dry = import_master_data(store, None, audit, tables(broken), "importer", dry_run=True)
    found = {(p.file, p.row, p.column, p.reason) for p in dry.problems}
    assert found == expected, (found ^ expected, [p.english for p in dry.problems])
    assert not settings.masterdata_path.exists()  # a dry run writes nothing
    imported = import_master_data(store, None, audit, tables(clean), "importer")
    assert imported.ok and imported.written, [p.english for p in imported.problems]
    assert len(store.load().skus) == len(simulated.skus) + GENERATED

    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp / "broker.log")
    broker.start()
    ensure_topics(broker.bootstrap, settings.topic_partitions)
    ports = [free_port(), free_port()]
    workers = [Worker(settings_for(settings.var_dir, broker_port, port), port, tmp) for port in ports]
    for w in workers:
        w.start()

    class Company:
        pass

    c = Company()
    c.settings, c.store, c.audit, c.workers, c.tmp = settings, store, audit, workers, tmp
    c.publisher = MasterDataPublisher(WorkerClient(workers[0].url))
    yield c
    for w in workers:
        w.stop()
    broker.stop()


def change(company, *proposals, actor="buyer.li"):
    """Make the changes; return once every worker uses them (a change takes effect for events a
    worker takes after it has read it: a refused event waits for it, an accepted one does not)."""
    result = change_master_data(company.store, company.publisher, company.audit, list(proposals), actor)
    assert result.ok, [p.english for p in result.problems]
    version = result.changes[-1].version
    for w in company.workers:
        wait_until(
            lambda w=w: get_json(f"{w.url}/health")["masterdata_version"] >= version, 30, "the change applied"
        )
    return result


def post(company, worker, event: dict) -> None:
    status, answer = post_json(f"{worker.url}/events", event)
    assert status == 202, answer


def decided(company, event_id: str) -> dict:
    """The event's fate as the owner worker reports it, once it is decided."""
    location = company.location

    def fate():
        found = get_json(f"{company.workers[1].url}/events/{event_id}?location={location}")
        return found if found.get("status") in ("landed", "dead_lettered") else None

    return wait_until(fate, 60, f"event {event_id} decided")


def receipt(company, event_id: str, sku: str, qty: str = "3") -> dict:
    return {
        "event_type": "goods_receipt",
        "event_id": event_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "handheld-1",
        "location": company.location,
        "purchase_order": f"PO-{event_id}",
        "supplier": company.supplier,
        "sku": sku,
        "qty": qty,
        "unit": "each",
        "unit_cost": "10.00",
    }


def sale(company, event_id: str, sku: str, qty: str = "1") -> dict:
    return {
        "event_type": "sales_issue",
        "event_id": event_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "handheld-1",
        "location": company.location,
        "sales_order": f"SO-{event_id}",
        "customer": company.customer,
        "sku": sku,
        "qty": qty,
        "unit": "each",
    }


def test_a_sku_created_while_the_workers_run_is_received_at_once_then_frozen(company):
    catalog = company.store.load()
    company.location = next(code for code, loc in catalog.locations.items() if loc.kind == "warehouse")
    company.supplier = next(iter(catalog.suppliers))
    company.customer = next(iter(catalog.customers))
    new = Sku(
        sku="NEW-0001",
        gtin=NEW_GTIN,
        name="新品 燕麦奶 1L",
        category="plant_milk",
        supplier=company.supplier,
        standard_cost=Decimal("9.50"),
        status=SkuStatus.ACTIVE,
    )
    # the SKU is created and, at once, received: no restart, no wait in between
    created = change_master_data(company.store, company.publisher, company.audit, [Upsert(new)], "buyer.li")
    assert created.ok
    post(company, company.workers[0], receipt(company, "r-new-1", "NEW-0001"))
    assert decided(company, "r-new-1")["status"] == "landed"

    # every worker has it
    for w in company.workers:
        health = get_json(f"{w.url}/health")
        assert health["counters"].get("masterdata_applied", 0) >= 1, health["counters"]

    # frozen: the next receipt is refused with that reason, a sale is accepted
    change(company, SetStatus("NEW-0001", SkuStatus.FROZEN, reason="supplier discontinued it"))
    post(company, company.workers[0], receipt(company, "r-new-2", "NEW-0001"))
    refused = decided(company, "r-new-2")
    assert refused["status"] == "dead_lettered" and refused["reason"] == "sku_frozen", refused
    post(company, company.workers[1], sale(company, "s-new-1", "NEW-0001"))
    assert decided(company, "s-new-1")["status"] == "landed"

    # an alias another system uses resolves to our SKU at intake
    change(company, SetAlias(Alias(system="legacy_erp", code="ERP-778", kind="sku", target="NEW-0001")))
    post(company, company.workers[0], sale(company, "s-new-2", "ERP-778"))
    assert decided(company, "s-new-2")["status"] == "landed"
    stock = get_json(f"{company.workers[0].url}/stock/{company.location}/NEW-0001")
    assert stock["on_hand"] == 3 - 1 - 1, stock

    # the change log and the audit trail name who did it
    log = read_change_log(company.settings.lake_dir)
    mine = [r for r in log if r["code"] == "NEW-0001"]
    assert [r["event_type"] for r in mine] == ["sku_upserted", "sku_status_changed"]
    assert {r["actor"] for r in mine} == {"buyer.li"}
    entries = [json.loads(line) for line in Path(company.audit.path).read_text().splitlines()]
    assert any(e["actor"] == "buyer.li" and e["target"] == "sku|NEW-0001" for e in entries)


def test_a_message_on_the_master_data_topic_that_is_no_change_is_dead_lettered_and_the_feed_goes_on(company):
    """Bad input never stops the feed: it is dead-lettered with the reason, the next change applies."""
    from confluent_kafka import Producer

    from stockflow.masterdata_changes import MASTERDATA_TOPIC

    producer = Producer({"bootstrap.servers": company.settings.bootstrap_servers})
    for key, value in (
        (b"sku|X", b"{not json"),
        (b"sku|Y", json.dumps({"event_type": "sku_upserted", "version": 10**30}).encode()),
        (b"sku|Z", b"[" * 5000 + b"]" * 5000),
    ):
        producer.produce(MASTERDATA_TOPIC, key=key, value=value)
    producer.flush(10)
    supplier = next(iter(company.store.load().suppliers))
    later = Sku(
        sku="NEW-0002", gtin="06901234567809", name="新品二", category="plant_milk", supplier=supplier
    )
    change(company, Upsert(later))  # applied by every worker after the bad messages

    def dead_letters() -> list[dict]:
        rows = []
        for table in ("dead_letters",):
            from lake import read_table

            rows += read_table(company.settings.lake_dir, table, ["topic", "reason"]).to_pylist()
        found = [r for r in rows if r["topic"] == MASTERDATA_TOPIC]
        return found if len(found) >= 3 * len(company.workers) else None

    found = wait_until(dead_letters, 60, "the bad master-data messages dead-lettered")
    assert {r["reason"] for r in found} == {"malformed_json", "schema_violation"}, found


def test_the_warehouse_keeps_both_versions_of_the_sku_and_the_movements_of_each(company):
    """After the workers have landed it all: dim_skus holds the SKU as created and as frozen,
    each valid until the next, and its movements in the books' record."""
    import duckdb

    from stores import warehouse

    for w in company.workers:  # every applied event in the lake
        wait_until(lambda w=w: get_json(f"{w.url}/health")["lake_pending_rows"] == 0, 30, "the lake written")
    result = warehouse.build(company.settings.var_dir, company.store.load(), full=True)
    assert result.success, result.failures
    with duckdb.connect(str(warehouse.warehouse_path(company.settings.var_dir)), read_only=True) as con:
        versions = con.execute(
            "SELECT sku_status, valid_from IS NOT NULL, valid_to IS NULL, is_current FROM dim_skus"
            " WHERE sku_id = 'NEW-0001' ORDER BY sku_version"
        ).fetchall()
        moved = con.execute("SELECT count(*) FROM fct_stock_movements WHERE sku_id = 'NEW-0001'").fetchone()[
            0
        ]
    assert versions == [("active", True, False, False), ("frozen", True, True, True)], versions
    assert moved == 3  # one receipt and two sales (the second by its alias); the frozen receipt refused
