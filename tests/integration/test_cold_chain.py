"""Cold-chain custody in a real worker (食品 GSP): the company requires curves
(STOCKFLOW_COLD_CHAIN_CUSTODY), so a chilled receipt without one arrives in quarantine; one with
a clean logger curve is free stock until an excursion where it is kept holds it; a supplier
whose licence has expired delivers nothing. The expected quantities are the receipts' own."""

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from infra.worker_client import WorkerClient
from lake.reader import read_table
from simulator.company import build_catalog
from stockflow.masterdata import Licence, Supplier
from streams.broker import ensure_topics
from tests.support import (
    Worker,
    free_port,
    lake_dead_letters,
    lake_event_ids,
    post_json,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def worker(module_broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cold-chain")
    settings = settings_for(tmp / "var", module_broker.port, free_port())
    catalog = build_catalog(settings.seed)
    chilled = next(
        s for s in sorted(catalog.skus.values(), key=lambda s: s.sku) if s.is_cold_chain and s.batch_managed
    )
    lapsed = Licence(kind="食品经营许可证", number="JY-LAPSED", valid_until=NOW.date() - timedelta(days=3))
    catalog.suppliers["SUP-LAPSED"] = Supplier(supplier="SUP-LAPSED", name="过期供应商", licences=(lapsed,))
    catalog.save(settings.masterdata_path)
    ensure_topics(module_broker.bootstrap, settings.topic_partitions)
    names = ("STOCKFLOW_COLD_CHAIN_CUSTODY", "STOCKFLOW_EXCURSION_HOLDS")
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "true"))
    try:
        w = Worker(settings, settings.web_port, tmp).start()
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    w.sku = chilled
    yield w
    w.stop()


def receipt(worker, event_id: str, batch: str, supplier: str, curve: dict | None = None) -> dict:
    sku = worker.sku
    return {
        "event_type": "goods_receipt", "event_id": event_id, "occurred_at": (NOW - timedelta(hours=2)).isoformat(),
        "source": "RF-WH1", "location": "WH1", "purchase_order": f"PO-{event_id}", "supplier": supplier,
        "sku": sku.sku, "batch": batch, "expiry_date": (NOW.date() + timedelta(days=9)).isoformat(),
        "qty": "30", "unit": sku.base_unit, "unit_cost": "4.00",
        **({"temperature_curve": curve} if curve is not None else {}),
    }  # fmt: skip


def curve_inside(worker) -> dict:
    middle = (worker.sku.cold_chain_min_c + worker.sku.cold_chain_max_c) / 2
    start = NOW - timedelta(hours=5)
    return {
        "logger": "LOG-1",
        "readings": [
            {"at": (start + timedelta(minutes=10 * i)).isoformat(), "celsius": middle} for i in range(19)
        ],
    }


def batch_of(worker, batch: str) -> dict:
    stock = WorkerClient(worker.url).stock("WH1", worker.sku.sku)
    return next((row for row in stock["batches"] if row["batch"] == batch), {})


def test_custody_quarantines_without_a_curve_refuses_a_lapsed_licence_and_holds_on_an_excursion(worker):
    sku = worker.sku
    status, answer = post_json(
        f"{worker.url}/events",
        [
            receipt(worker, "cc-none", "B-NONE", sku.supplier),
            receipt(worker, "cc-good", "B-GOOD", sku.supplier, curve_inside(worker)),
            receipt(worker, "cc-lapsed", "B-LAPSED", "SUP-LAPSED", curve_inside(worker)),
        ],
    )
    assert status == 202, answer

    def letter():
        return next(
            (r for r in lake_dead_letters(worker.settings.lake_dir) if r["event_id"] == "cc-lapsed"), None
        )

    lapsed = wait_until(letter, 60, "the receipt from the supplier with a lapsed licence refused")
    assert lapsed["reason"] == "supplier_licence_expired" and "JY-LAPSED" in lapsed["detail"]
    wait_until(
        lambda: {"cc-none", "cc-good"} <= set(lake_event_ids(worker.settings.lake_dir)), 60, "receipts"
    )
    assert (batch_of(worker, "B-NONE")["on_hand"], batch_of(worker, "B-NONE")["quarantined"]) == (30, 30)
    assert (batch_of(worker, "B-GOOD")["on_hand"], batch_of(worker, "B-GOOD")["quarantined"]) == (30, 0)
    assert not batch_of(worker, "B-LAPSED")

    # the cold room warms: 20 minutes above the range (an excursion of at least 15)
    warm = sku.cold_chain_max_c + 5
    readings = [
        {
            "event_type": "temperature_reading",
            "event_id": f"cc-t{i}",
            "source": "TS-WH1-9",
            "occurred_at": (NOW - timedelta(minutes=40 - 5 * i)).isoformat(),
            "sensor": "TS-WH1-9",
            "location": "WH1",
            "celsius": warm,
        }  # fmt: skip
        for i in range(5)
    ]
    status, answer = post_json(f"{worker.url}/events", readings)
    assert status == 202, answer
    held = wait_until(
        lambda: batch_of(worker, "B-GOOD").get("quarantined") == 30, 60, "the batch on hand held"
    )
    assert held
    rows = wait_until(
        lambda: [
            r
            for r in read_table(worker.settings.lake_dir, "inventory_changed").to_pylist()
            if r["event_type"] == "quality_hold" and r["batch"] == "B-GOOD"
        ],
        60,
        "the hold's row in the lake",
    )
    assert [(r["quarantined_delta"], r["hold_reason"]) for r in rows] == [(30, "temperature_excursion")]
    receipts = {
        r["batch"]: r["hold_reason"]
        for r in read_table(worker.settings.lake_dir, "inventory_changed").to_pylist()
        if r["event_type"] == "goods_receipt"
    }
    assert receipts == {"B-NONE": "curve_missing", "B-GOOD": None}


def test_the_gsp_report_shows_each_arrival_s_curve_and_the_excursion_hold(worker, monkeypatch):
    """After the test above: the batch with a clean curve is clear on arrival, then held by the
    excursion; the batch without a curve is a finding."""
    from cli.main import app
    from stockflow.config import get_settings
    from stockflow.i18n import Language, catalogue

    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(worker.settings.var_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        good = runner.invoke(app, ["gsp", "B-GOOD", "--sku", worker.sku.sku, "--format", "json"])
        assert good.exit_code == 0, good.output
        rows = json.loads(good.stdout)
        (arrival,) = [r for r in rows if r["section"] == "arrival"]
        assert (arrival["event_id"], arrival["verdict"], arrival["quantity"]) == ("cc-good", "clear", 30)
        assert len([r for r in rows if r["section"] == "reading"]) == 19
        assert [(r["event_type"], r["quantity"], r["reason"]) for r in rows if r["section"] == "quality"] == [
            ("hold", 30, "temperature_excursion")
        ]
        (excursion,) = [r for r in rows if r["section"] == "excursion"]
        assert excursion["location"] == "WH1" and "TS-WH1-9" in excursion["reason"]
        table = runner.invoke(app, ["gsp", "B-NONE", "--sku", worker.sku.sku])
        assert table.exit_code == 0, table.output
        en = catalogue(Language.EN)
        assert en["value.curve_check.curve_missing"] in table.stdout
        assert "cc-none:curve_missing" in table.output  # the findings line, with the messages
        assert runner.invoke(app, ["gsp", "NO-SUCH-BATCH"]).exit_code == 1
    finally:
        get_settings.cache_clear()
