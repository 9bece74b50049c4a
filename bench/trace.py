"""Recall trace benchmark: `stockflow trace` of one batch in a lake of 5,000,000 movements,
against a plain DuckDB count of that batch's rows over the same files, in the same run.

The lake is written straight with pyarrow in the real tables' schemas and layout
(`inventory_changed/date=YYYY-MM-DD/part-*.parquet`, zstd, `BENCH_TRACE_FILES_PER_DAY` files a
day over a year: 2,920 files by default), for a company of 2 warehouses, 60 stores and 2,000
SKUs whose receipts make about 110,000 batches: till sales, transfers (out, the transit leg,
in), receipts, deliveries, adjustments, holds, work orders, in the mix a retail company makes.
Beside it, the `scans` table holds the scanner events (receipts, transfers, deliveries,
adjustments, holds, dock inspections) with their JSON records, one row per event, as landed.

The batch traced has a known story: received at W01 (inspected, its curve reference on the
receipt), transferred to six stores and sold there on 240 tickets, delivered to a customer,
damaged, one store sending some on to another, and part of it issued to a work order whose
goods (a batch of another SKU) were received and delivered in turn. The run checks the trace
tells exactly that story (every flow's total, the locations, tickets, the batch made from it)
before it reports.

Figures:

* trace: `trace_batch` over `stores.trace.LakeTrace`, a fresh DuckDB connection each run
  (reads: the batch's movements, the work order's goods, the made batch's movements, the
  receipt and hold records, the inspections); the first run and the best of three;
  baseline: `SELECT count(*) ... WHERE batch = ?` over the same movement files, fresh
  connection, best of three.

`BENCH_TRACE_MOVEMENTS` (default 5,000,000) sizes it; `BENCH_ONLY=trace` runs it alone.
Target: under 2 s.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.pipeline import Figure, report_and_save
from lake.tables import EVENT_SCHEMA, INVENTORY_CHANGED_SCHEMA
from stockflow.services.trace import trace_batch
from stockflow.trace import BatchKey, Flow, Trace
from stores.trace import LakeTrace

TARGET_SECONDS = 2.0
DAYS = 365
START = date(2026, 1, 1)
WAREHOUSES = ("W01", "W02")
STORES = tuple(f"S{i:03d}" for i in range(1, 61))
SKUS = 2_000
BATCHES_PER_DAY = 300
#: the batch traced: a code like every other's, in the middle of their range
TARGET = BatchKey("SKU-00042", f"L{START + timedelta(days=150):%y%m%d}0999")
MADE = BatchKey("SKU-01999", f"L{START + timedelta(days=160):%y%m%d}0998")
#: (event type, share of the rows, sign of the on-hand change, in-transit change?)
MIX = (
    ("pos_sale", 0.70, -1),
    ("transfer_out", 0.06, -1),
    ("transit_dispatched", 0.06, 0),
    ("transfer_in", 0.06, 1),
    ("goods_receipt", 0.03, 1),
    ("sales_issue", 0.03, -1),
    ("stock_adjustment", 0.02, -1),
    ("stock_reservation", 0.02, 0),
    ("pos_return", 0.01, 1),
    ("quality_hold", 0.005, 0),
    ("material_issued", 0.005, -1),
    ("production_receipt", 0.005, 1),
)
_RECORDED = {
    "goods_receipt",
    "transfer_out",
    "transfer_in",
    "sales_issue",
    "stock_adjustment",
    "quality_hold",
}


@dataclass(frozen=True)
class Story:
    """What the lake holds of the traced batch (and the batch made from it)."""

    flows: dict[Flow, int]
    locations: frozenset[str]
    tickets: int
    made_flows: dict[Flow, int]


def _at(day: int, seconds: int) -> datetime:
    return datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC) + timedelta(
        seconds=seconds
    )


class _Rows:
    """Rows of the movement table and the scans table, in columns."""

    def __init__(self) -> None:
        self.movements: dict[str, list] = {n: [] for n in INVENTORY_CHANGED_SCHEMA.names}
        self.events: dict[str, list] = {n: [] for n in EVENT_SCHEMA.names}

    def move(self, **row: object) -> None:
        for name, values in self.movements.items():
            values.append(row.get(name))

    def record(self, event_id: str, event_type: str, when: datetime, location: str, payload: dict) -> None:
        row = {
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": when,
            "source": "bench",
            "location": location,
            "payload": json.dumps({"event_id": event_id, "event_type": event_type, **payload}),
            "topic": "scans",
        }
        for name, values in self.events.items():
            values.append(row.get(name))


def _story(rows: _Rows, day: int) -> Story:
    """The traced batch's movements and records, landed on the days they happened."""
    flows = dict.fromkeys(Flow, 0)
    made_flows = dict.fromkeys(Flow, 0)
    seq = iter(range(10**9, 2 * 10**9))
    sku, batch = TARGET.sku, TARGET.batch

    def move(event_id: str, event_type: str, d: int, location: str, on_hand: int, key=TARGET, **kw) -> None:
        rows.move(event_id=event_id, event_type=event_type, occurred_at=_at(d, 3600 + next(seq) % 50_000),
                  location=location, sku=key.sku, batch=key.batch, on_hand_delta=on_hand, reserved_delta=0,
                  quarantined_delta=kw.pop("quarantined", 0), in_transit_delta=kw.pop("in_transit", 0),
                  apply_seq=next(seq), **kw)  # fmt: skip

    if day == 150:
        move("GR-T", "goods_receipt", day, "W01", 2400, reference="PO-T", counterparty="SUP-7")
        rows.record("GR-T", "goods_receipt", _at(day, 3600), "W01", {
            "location": "W01", "purchase_order": "PO-T", "supplier": "SUP-7", "sku": sku, "batch": batch,
            "expiry_date": "2026-12-31", "qty": "2400", "temperature_curve": {
                "sensor": "LOG-88", "from_at": "2026-05-30T22:00:00+08:00",
                "to_at": "2026-05-31T06:00:00+08:00"}})  # fmt: skip
        rows.record("INS-T", "pallet_inspected", _at(day, 4200), "W01", {
            "location": "W01", "inspection_id": "INS-T", "supplier": "SUP-7", "sku": sku, "batch": batch,
            "cartons": 20, "layers": 4, "damaged_cartons": 0, "verdict": "accept", "confidence": 0.97})  # fmt: skip
        flows[Flow.RECEIVED] += 2400
    if day == 151:
        for i, store in enumerate(STORES[:6]):
            move(f"TO-T{i}", "transfer_out", day, "W01", -300, reference=f"TR-T{i}", counterparty=store)
            move(f"TO-T{i}:transit:0", "transit_dispatched", day, store, 0, in_transit=300,
                 reference=f"TR-T{i}", counterparty="W01")  # fmt: skip
            move(f"TI-T{i}", "transfer_in", day, store, 300, in_transit=-300, reference=f"TR-T{i}",
                 counterparty="W01")  # fmt: skip
        flows[Flow.TRANSFERRED_OUT] += 1800
        flows[Flow.TRANSFERRED_IN] += 1800
        move("SI-T", "sales_issue", day, "W01", -150, reference="SO-T", counterparty="CUST-3")
        flows[Flow.DELIVERED] += 150
        move("MI-T", "material_issued", day, "W01", -200, reference="WO-T")
        flows[Flow.CONSUMED] += 200
    if 152 <= day < 192:  # six tickets a day, one per store
        for i, store in enumerate(STORES[:6]):
            move(f"POS-T{day}-{i}", "pos_sale", day, store, -1 - i % 3, reference=f"T{day}{i}",
                 counterparty="retail")  # fmt: skip
            flows[Flow.SOLD] += 1 + i % 3
    if day == 160:
        move("ADJ-T", "stock_adjustment", day, STORES[0], -2, reference="damage")
        flows[Flow.WRITTEN_OFF] += 2
        move("TO-T9", "transfer_out", day, STORES[1], -40, reference="TR-T9", counterparty=STORES[6])
        move("TO-T9:transit:0", "transit_dispatched", day, STORES[6], 0, in_transit=40, reference="TR-T9",
             counterparty=STORES[1])  # fmt: skip
        move(
            "TI-T9",
            "transfer_in",
            day,
            STORES[6],
            40,
            in_transit=-40,
            reference="TR-T9",
            counterparty=STORES[1],
        )
        flows[Flow.TRANSFERRED_OUT] += 40
        flows[Flow.TRANSFERRED_IN] += 40
        move("PR-T", "production_receipt", day, "W01", 100, key=MADE, reference="WO-T")
        made_flows[Flow.MADE] += 100
    if day == 170:
        move("SI-M", "sales_issue", day, "W01", -60, key=MADE, reference="SO-M", counterparty="CUST-9")
        made_flows[Flow.DELIVERED] += 60
    return Story(
        {f: q for f, q in flows.items() if q},
        frozenset({"W01", *STORES[:7]}),
        6 * 40,
        {f: q for f, q in made_flows.items() if q},
    )


def write_lake(root: Path, n_movements: int, files_per_day: int, seed: int = 7) -> Story:
    """A year of a company's movements and scanner events under `root`; returns the story of the
    traced batch (its rows are among the others, on their days)."""
    rng = np.random.default_rng(seed)
    per_day = n_movements // DAYS
    story = Story({}, frozenset(), 0, {})
    seq = 0
    for day in range(DAYS):
        rows = _Rows()
        told = _story(rows, day)
        if told.flows or told.made_flows:
            story = Story(
                {**story.flows, **{f: story.flows.get(f, 0) + q for f, q in told.flows.items()}},
                told.locations or story.locations,
                told.tickets or story.tickets,
                {
                    **story.made_flows,
                    **{f: story.made_flows.get(f, 0) + q for f, q in told.made_flows.items()},
                },
            )
        n = per_day - len(rows.movements["event_id"])
        noise, events = _noise(rng, day, n, seq)
        seq += n
        _write_day(root, "inventory_changed", day, _with(noise, rows.movements, INVENTORY_CHANGED_SCHEMA),
                   INVENTORY_CHANGED_SCHEMA, files_per_day)  # fmt: skip
        _write_day(root, "scans", day, _with(events, rows.events, EVENT_SCHEMA), EVENT_SCHEMA,
                   max(1, files_per_day // 4))  # fmt: skip
    return story


def _text(*parts: object) -> pa.Array:
    """Strings joined element-wise (arrays and constants)."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(
        *[p if isinstance(p, pa.Array) else pa.scalar(str(p)) for p in parts], ""
    )


def _noise(rng: np.random.Generator, day: int, n: int, seq: int) -> tuple[pa.Table, pa.Table]:
    """`n` movements of other batches on `day` and the scanner events behind them."""
    import pyarrow.compute as pc

    kinds = rng.choice(len(MIX), size=n, p=np.array([m[1] for m in MIX]) / sum(m[1] for m in MIX))
    kind = pa.array([m[0] for m in MIX]).take(pa.array(kinds))
    sign = np.array([m[2] for m in MIX])[kinds]
    b = rng.integers(0, (day + 1) * BATCHES_PER_DAY, size=n)
    days = pa.array([f"{START + timedelta(days=d):%y%m%d}" for d in range(DAYS)])
    batch = _text(
        "L",
        days.take(pa.array(b // BATCHES_PER_DAY)),
        pc.utf8_lpad(pa.array(b % BATCHES_PER_DAY).cast(pa.string()), 4, "0"),
    )
    sku = _text("SKU-", pc.utf8_lpad(pa.array(b % SKUS).cast(pa.string()), 5, "0"))
    locations = pa.array([*WAREHOUSES, *STORES])
    where = rng.integers(0, len(locations), size=n)
    location = locations.take(pa.array(where))
    number = pa.array(np.arange(n)).cast(pa.string())
    event_id = _text(pc.utf8_upper(pc.utf8_slice_codeunits(kind, 0, 3)), f"-{day}-", number)
    when = pa.array(
        [_at(day, 0) + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 86_400, size=n))],
        pa.timestamp("us", tz="UTC"),
    )
    zero = pa.array(np.zeros(n, dtype=np.int64))
    by_kind = {m[0]: i for i, m in enumerate(MIX)}
    units = rng.integers(1, 6, size=n) * np.where(kinds == by_kind["goods_receipt"], 100, 1)
    movements = pa.table({
        "event_id": event_id, "event_type": kind, "occurred_at": when, "location": location, "sku": sku,
        "batch": batch, "on_hand_delta": pa.array(sign * units),
        "reserved_delta": pa.array(np.where(kinds == by_kind["stock_reservation"], units, 0)),
        "quarantined_delta": pa.array(np.where(kinds == by_kind["quality_hold"], units, 0)),
        "in_transit_delta": pa.array(np.where(kinds == by_kind["transit_dispatched"], units, 0)),
        "on_hand": pa.array(units), "reserved": zero, "quarantined": zero, "in_transit": zero,
        "reference": _text(f"R-{day}-", pa.array(np.arange(n) % 997).cast(pa.string())),
        "counterparty": _text("C-", pa.array(np.arange(n) % 300).cast(pa.string())),
        "dish": pa.array([""] * n), "portions": zero, "partition": pa.array(where % 8, pa.int32()),
        "apply_seq": pa.array(np.arange(seq + 1, seq + n + 1)),
    })  # fmt: skip
    recorded = np.isin(kinds, [by_kind[k] for k in _RECORDED])
    inspected = (kinds == by_kind["goods_receipt"]) & (np.arange(n) % 2 == 0)
    mask = pa.array(recorded)
    scans = _scan_rows(movements.filter(mask), kind.filter(mask), "")
    inspections = movements.filter(pa.array(inspected))
    scans_ins = _scan_rows(
        inspections, pa.array(["pallet_inspected"] * inspections.num_rows, pa.string()), "INS-"
    )
    return movements, pa.concat_tables([scans, scans_ins])


def _scan_rows(moved: pa.Table, kind: pa.Array, prefix: str) -> pa.Table:
    """The scanner events of these movements (their JSON records, as producers send them)."""
    event_id = _text(prefix, moved["event_id"].combine_chunks())
    payload = _text(
        '{"event_id": "', event_id, '", "event_type": "', kind, '", "location": "',
        moved["location"].combine_chunks(), '", "sku": "', moved["sku"].combine_chunks(), '", "batch": "',
        moved["batch"].combine_chunks(), '", "qty": "', moved["on_hand"].combine_chunks().cast(pa.string()),
        '", "supplier": "SUP-1", "verdict": "accept", "cartons": 10}',
    )  # fmt: skip
    return pa.table({
        "event_id": event_id, "event_type": kind, "occurred_at": moved["occurred_at"],
        "source": pa.array(["bench"] * moved.num_rows, pa.string()), "location": moved["location"], "payload": payload,
        "topic": pa.array(["scans"] * moved.num_rows, pa.string()),
    })  # fmt: skip


def _with(noise: pa.Table, story: dict[str, list], schema: pa.Schema) -> pa.Table:
    """The day's other rows and the story's, in the table's schema (columns not written: NULL)."""
    ours = pa.Table.from_pydict(story, schema=schema)
    theirs = pa.table(
        [
            noise[c] if c in noise.column_names else pa.nulls(noise.num_rows, schema.field(c).type)
            for c in schema.names
        ],
        schema=schema,
    )
    return pa.concat_tables([theirs, ours])


def _write_day(root: Path, table: str, day: int, whole: pa.Table, schema: pa.Schema, files: int) -> None:
    folder = root / table / f"date={START + timedelta(days=day)}"
    folder.mkdir(parents=True, exist_ok=True)
    order = list(range(whole.num_rows))
    random.Random(day).shuffle(order)  # the story's rows among the others, not at the end
    whole = whole.take(order)
    size = -(-whole.num_rows // files)
    for part in range(files):
        chunk = whole.slice(part * size, size)
        if chunk.num_rows:
            pq.write_table(chunk, folder / f"part-{day * 100 + part:020d}-bench.parquet", compression="zstd")


def check(trace: Trace, story: Story) -> None:
    """The trace tells the story the lake was written with."""
    (root,) = trace.roots()
    assert root.key == TARGET, root.key
    got = {f: q for f, q in root.total.flows.items() if q}
    assert got == story.flows, (got, story.flows)
    assert set(root.locations) == story.locations, root.locations
    assert len(root.steps_in(Flow.SOLD)) == story.tickets
    assert [r.curve.sensor if r.curve else "" for r in root.receipts] == ["LOG-88"]
    assert [i.verdict for i in root.inspections] == ["accept"]
    assert root.made == (MADE,)
    (made,) = [b for b in trace.batches if b.key == MADE]
    assert {f: q for f, q in made.total.flows.items() if q} == story.made_flows
    assert all(b.reconciles for t in trace.batches for b in (*t.balances, t.total))


def _timed(work) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = work()
    return time.perf_counter() - t0, out


def run(n_movements: int = 5_000_000, files_per_day: int = 8) -> list[Figure]:
    folder = Path(tempfile.mkdtemp(prefix="stockflow-trace-bench-"))
    try:
        t0 = time.perf_counter()
        story = write_lake(folder, n_movements, files_per_day)
        written = time.perf_counter() - t0
        files = str(folder / "inventory_changed" / "date=*" / "part-*.parquet")

        def traced() -> Trace:
            with duckdb.connect() as con:
                return trace_batch(LakeTrace(folder, con), TARGET.batch)

        def counted() -> int:
            with duckdb.connect() as con:
                (found,) = con.execute(
                    "SELECT count(*) FROM read_parquet(?, union_by_name = true, hive_partitioning = false)"
                    " WHERE batch = ?",
                    [files, TARGET.batch],
                ).fetchone()
                return int(found)

        first, trace = _timed(traced)
        check(trace, story)
        best = min([first, *(_timed(traced)[0] for _ in range(2))])
        baseline = min(_timed(counted)[0] for _ in range(3))
        rows = counted()
        n_files = len(list((folder / "inventory_changed").glob("date=*/part-*.parquet")))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    label = f"{n_movements:,} movements in {n_files:,} files"
    return [
        Figure(
            f"trace of one batch ({rows} rows), first run: {label}, s",
            first,
            "s",
            baseline,
            f"< {TARGET_SECONDS:.0f} s",
            first < TARGET_SECONDS,
        ),  # fmt: skip
        Figure(
            f"trace of one batch, best of three: {label}, s",
            best,
            "s",
            baseline,
            f"< {TARGET_SECONDS:.0f} s",
            best < TARGET_SECONDS,
        ),  # fmt: skip
        Figure("writing the lake (not a target), s", written, "s"),
    ]


def main() -> None:
    figures = run(
        int(os.environ.get("BENCH_TRACE_MOVEMENTS", 5_000_000)),
        int(os.environ.get("BENCH_TRACE_FILES_PER_DAY", 8)),
    )
    report_and_save(
        figures,
        "stockflow recall trace benchmark: a batch traced against a plain DuckDB count of its rows (same run)",
        "trace",
    )


if __name__ == "__main__":
    main()
