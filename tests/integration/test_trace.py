"""The recall trace of a simulated batch matches the simulator's own record.

The simulated retail company (one warehouse, two stores) plays three days; every event it sent
is landed the way the stream lands it (its record and its movements through the lake writer).
A batch received at the warehouse and sent to both stores is traced from the lake
(`stores.trace.LakeTrace`) by the CLI and the page, and compared with an oracle worked out here
from the events the simulator sent and the stock its own ledger holds, never through
`stockflow.trace`: receipts, inspections and holds by their ids; transfers, write-offs and what
is left per location by the batch the messages name; and what went to customers per location
(tills and sales orders name no batch: the ledger takes it first-expired-first-out) as what
came in less what left otherwise and what is left, with each ticket and order the trace lists
being one of that SKU at that location."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from lake import LakeWriter, event_row, movement_row
from simulator.company import Simulation, build_catalog
from stockflow.events import (
    GoodsReceipt,
    HoldAction,
    PalletInspected,
    PosReturn,
    PosSale,
    QualityHold,
    SalesIssue,
    StockAdjustment,
    TransferIn,
    TransferOut,
)
from stockflow.i18n import Language, catalogue
from stockflow.masking import Role
from stockflow.services.accounts import add_account
from stockflow.services.trace import trace_batch
from stockflow.trace import BatchKey, Flow
from stores.accounts import AccountFile
from stores.audit_log import AuditLog
from stores.trace import LakeTrace

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
START = date(2026, 3, 2)


def recorded(sim: Simulation) -> list:
    """What the simulator's own books do as it plays: (event, result) for every event they
    take, its transfers' transit legs included, in order."""
    books = getattr(sim, "processor", None)
    name = "process" if books is not None else "apply"
    books = books if books is not None else sim.ledger
    taken: list = []
    real = getattr(books, name)

    def take(event, *args, **kwargs):
        result = real(event, *args, **kwargs)
        taken.append((event, result))
        return result

    setattr(books, name, take)
    return taken


def land(var: Path, sim: Simulation, taken: list) -> None:
    """Each event the simulator's books took, landed with their movements, as the stream lands
    them."""
    sim.catalog.save(var / "masterdata.json")
    writer = LakeWriter(var / "lake", "test")
    for offset, (event, result) in enumerate(taken):
        topic = event.topic.value
        writer.append(topic, event_row(event, b"", topic, 0, offset, writer.next_seq()))
        for mv in result.movements:
            writer.append("inventory_changed", movement_row(mv, 0, writer.next_seq(), datetime.now(UTC)))
    writer.flush()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Three days of the company, landed; the events it sent and its own books."""
    var = tmp_path_factory.mktemp("trace") / "var"
    var.mkdir()
    sim = Simulation(build_catalog(11, n_skus=30, n_stores=2, n_warehouses=1), seed=11)
    taken = recorded(sim)
    events = list(sim.history(START, 3))
    land(var, sim, taken)
    return var, sim, events


def units(sim: Simulation, sku: str, qty, unit: str) -> int:
    return int(qty * sim.catalog.skus[sku].units()[unit])


def chosen_batch(sim: Simulation, events: list) -> BatchKey:
    """The batch received at the warehouse that was sent to the most stores (then in the most
    transfers)."""
    warehouses = {w.location for w in sim.warehouses}
    received = {BatchKey(e.sku, e.batch) for e in events if isinstance(e, GoodsReceipt) and e.batch
                and e.location in warehouses}  # fmt: skip
    sent: dict[BatchKey, Counter] = defaultdict(Counter)
    for e in events:
        if isinstance(e, TransferOut) and e.batch and BatchKey(e.sku, e.batch) in received:
            sent[BatchKey(e.sku, e.batch)][e.to_location] += 1
    return max(sent, key=lambda k: (len(sent[k]), sum(sent[k].values()), k))


def oracle(sim: Simulation, events: list, key: BatchKey) -> dict:
    """What the simulator's events and its ledger say of the batch."""
    ours = [
        e for e in events if getattr(e, "sku", None) == key.sku and getattr(e, "batch", None) == key.batch
    ]
    out: dict = {"receipts": [], "inspections": [], "holds": set(), "moved_out": Counter(), "moved_in": Counter(),
                 "written_off": Counter(), "inflow": Counter()}  # fmt: skip
    for e in ours:
        if isinstance(e, GoodsReceipt):
            qty = units(sim, e.sku, e.qty, e.unit)
            out["receipts"].append((e.event_id, e.location, qty, e.supplier, e.purchase_order))
            out["inflow"][e.location] += qty
        elif isinstance(e, PalletInspected):
            out["inspections"].append((e.inspection_id, e.verdict.value))
        elif isinstance(e, QualityHold):
            out["holds"].add(e.event_id)
            if e.action is HoldAction.SCRAP:
                out["written_off"][e.location] += units(sim, e.sku, e.qty, e.unit)
        elif isinstance(e, TransferOut):
            out["moved_out"][(e.from_location, e.to_location)] += units(sim, e.sku, e.qty, e.unit)
        elif isinstance(e, TransferIn):
            qty = units(sim, e.sku, e.qty, e.unit)
            out["moved_in"][e.to_location] += qty
            out["inflow"][e.to_location] += qty
        elif isinstance(e, StockAdjustment) and e.qty < 0:
            out["written_off"][e.location] += units(sim, e.sku, -e.qty, e.unit)
    out["positions"] = {
        k.location: (p.on_hand, p.quarantined, p.in_transit)
        for k, p in sim.ledger.positions()
        if (k.sku, k.batch) == (key.sku, key.batch)
    }
    # to customers (net of returns): what came in less what left otherwise and what is left
    places = set(out["inflow"]) | set(out["positions"]) | {f for f, _ in out["moved_out"]}
    out["to_customers"] = {
        loc: out["inflow"][loc]
        - sum(q for (f, _), q in out["moved_out"].items() if f == loc)
        - out["written_off"][loc]
        - out["positions"].get(loc, (0, 0, 0))[0]
        for loc in places
    }
    # the documents that sold or delivered the SKU at each location
    out["tickets"] = defaultdict(dict)
    for e in events:
        if isinstance(e, PosSale):
            for line in e.lines:
                if line.sku == key.sku:
                    out["tickets"][e.store][e.ticket] = out["tickets"][e.store].get(e.ticket, 0) + units(
                        sim, line.sku, line.qty, line.unit
                    )
        elif isinstance(e, SalesIssue) and e.sku == key.sku:
            out["tickets"][e.location][e.sales_order] = units(sim, e.sku, e.qty, e.unit)
    out["returns"] = {e.original_ticket for e in events if isinstance(e, PosReturn)}
    return out


def test_the_trace_of_a_simulated_batch_matches_the_simulators_record(simulated):
    var, sim, events = simulated
    key = chosen_batch(sim, events)
    expected = oracle(sim, events, key)
    trace = trace_batch(LakeTrace(var / "lake"), key.batch, key.sku)
    (traced,) = trace.batches  # a retail company makes nothing from its batches
    assert traced.key == key
    # backward
    assert [(r.event_id, r.location, r.qty, r.supplier, r.purchase_order) for r in traced.receipts] == sorted(
        expected["receipts"], key=lambda r: r[0]
    )
    assert [(i.inspection_id, i.verdict) for i in traced.inspections] == expected["inspections"]
    assert {q.event_id for q in traced.quality if q.action in ("hold", "release", "scrap")} == expected[
        "holds"
    ]
    # forward: transfers, write-offs and what is left, location by location
    moved_out = Counter()
    for s in traced.steps_in(Flow.TRANSFERRED_OUT):
        moved_out[(s.location, s.counterparty)] += s.qty
    assert moved_out == expected["moved_out"] and len(expected["moved_out"]) >= 2
    assert {
        b.location: b.qty(Flow.TRANSFERRED_IN) for b in traced.balances if b.qty(Flow.TRANSFERRED_IN)
    } == dict(expected["moved_in"])
    assert {b.location: b.qty(Flow.WRITTEN_OFF) for b in traced.balances if b.qty(Flow.WRITTEN_OFF)} == {
        loc: q for loc, q in expected["written_off"].items() if q
    }
    assert {
        b.location: (b.on_hand, b.quarantined, b.in_transit)
        for b in traced.balances
        if (b.on_hand, b.quarantined, b.in_transit) != (0, 0, 0)
    } == {loc: p for loc, p in expected["positions"].items() if p != (0, 0, 0)}
    # to customers: the same quantity per location, on tickets and orders of that SKU there
    net = {
        b.location: b.qty(Flow.SOLD) + b.qty(Flow.DELIVERED) - b.qty(Flow.RETURNED) for b in traced.balances
    }
    assert {loc: q for loc, q in net.items() if q} == {
        loc: q for loc, q in expected["to_customers"].items() if q
    }
    sold = traced.steps_in(Flow.SOLD, Flow.DELIVERED)
    assert sold, "the batch reached customers"
    for step in sold:
        assert step.qty <= expected["tickets"][step.location][step.reference], step
    for step in traced.steps_in(Flow.RETURNED):
        assert step.reference in expected["returns"]
    assert all(b.reconciles for b in (*traced.balances, traced.total))


def test_the_cli_prints_the_trace_in_json_and_as_tables(simulated, monkeypatch):
    from cli.main import app

    var, sim, events = simulated
    key = chosen_batch(sim, events)
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    from stockflow.config import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    done = runner.invoke(app, ["trace", key.batch, "--sku", key.sku, "--format", "json"])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    receipts = [r for r in rows if r["section"] == "receipt"]
    assert receipts and all(r["sku"] == key.sku and r["batch"] == key.batch for r in receipts)
    assert {r["section"] for r in rows} >= {"receipt", "step", "balance"}
    table = runner.invoke(app, ["trace", key.batch, "--sku", key.sku])
    assert table.exit_code == 0, table.output
    en = catalogue(Language.EN)
    assert en["column.transferred_out"] in table.stdout and en["value.flow.sold"] in table.stdout
    missing = runner.invoke(app, ["trace", "NO-SUCH-BATCH"])
    assert missing.exit_code == 1
    assert en["cli.trace.not_found"].format(batch="NO-SUCH-BATCH") in missing.output
    get_settings.cache_clear()


def test_the_page_traces_a_batch(simulated, monkeypatch):
    var, sim, events = simulated
    key = chosen_batch(sim, events)
    add_account(AccountFile(var / "accounts.json"), AuditLog(var), "zhou.min", Role.MANAGER, "pw-manager-2026",
                "test-admin")  # fmt: skip
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sign_in_name").input("zhou.min")
    at.text_input(key="sign_in_password").input("pw-manager-2026")
    at.button[0].click().run()
    at.switch_page("pages/trace.py").run()
    assert not at.exception, at.exception
    en = catalogue(Language.EN)
    assert at.title[0].value == en["page.trace"]
    assert [i.value for i in at.info] == [en["trace.hint"]]
    at.text_input(key="trace_batch").input(key.batch)
    at.text_input(key="trace_sku").input(key.sku)
    at.run()
    assert not at.exception, at.exception
    frames = [d.value for d in at.dataframe]
    receipts = frames[0]
    assert receipts[en["column.supplier"]].tolist()  # the receipt, with its supplier
    balances = frames[-1]
    assert en["column.on_hand"] in balances.columns
    shown = {m.label: m.value for m in at.metric}
    assert shown[en["trace.locations"]] == "3"  # the warehouse and both stores
    assert not [h.value for h in at.subheader if h.value.startswith("GSP")]  # dry goods: no cold chain
    # a chilled batch: its arrivals' curves checked (the simulated trucks keep the cold chain)
    chilled = next(
        BatchKey(e.sku, e.batch)
        for e in events
        if isinstance(e, GoodsReceipt) and e.batch and sim.catalog.skus[e.sku].is_cold_chain
    )
    at.text_input(key="trace_batch").input(chilled.batch)
    at.text_input(key="trace_sku").input(chilled.sku)
    at.run()
    assert not at.exception, at.exception
    sku = sim.catalog.skus[chilled.sku]
    assert [h.value for h in at.subheader if h.value.startswith("GSP")] == [
        en["trace.gsp"].format(low=sku.cold_chain_min_c, high=sku.cold_chain_max_c)
    ]
    arrivals = next(f for f in (d.value for d in at.dataframe) if en["column.verdict"] in f.columns)
    assert set(arrivals[en["column.verdict"]]) == {en["value.curve_check.clear"]}
    at.text_input(key="trace_batch").input("NO-SUCH-BATCH")
    at.run()
    assert en["trace.not_found"].format(batch="NO-SUCH-BATCH") in [i.value for i in at.info]
