"""Warehouse benchmark: dbt builds (full and incremental) and the quality suites on ~5M movements.

The lake: a simulated company (its stream landed by the lake writer, its books posted by the
posting flow's code) copied under new location codes until it holds about 5M stock movements,
with the books, events and master data to match, so every model and test has real work.

Figures (all measured in this run):

* full build: `dbt build --full-refresh` (all models, data tests and unit tests) into a new file,
  swapped in. Baseline: DuckDB reading the same Parquet files once (movements aggregated per
  location × SKU × day, voucher lines per account) — the scan floor of any build.
* incremental build, peak hour: the busiest hour of the stores' day lands (incremental builds
  run every 5 minutes: this is 12 of them at once); `dbt build` on a copy of the warehouse,
  everything from `warehouse.build()` being called to the new file being in place.
* incremental build, a day and more at once: what a build after a day offline faces.
* quality: the expectation suites on DataFrames read from the warehouse, Data Docs included.

Materialization, compared on the same lake in the same run: the project's incremental models
use dbt-duckdb's own `incremental` materialization (`delete+insert` on the model's key,
`incremental_predicates` bounding the delete to the recomputed range; the new rows land in a
temporary table first). The same project with those models switched to a custom `append`
materialization (delete the range the predicates name, insert the model's rows straight in, no
temporary table) is built alongside in a folder of its own: full build and peak hour, each way.
Peak-hour builds run twice each, alternating, on the same copy of the warehouse; the faster of
the two is reported.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import perf_counter

import duckdb
from rich.console import Console

from bench.pipeline import Figure
from lake import EVENT_TABLES, LakeWriter
from simulator.company import TZ, Simulation, build_catalog
from stockflow.ledger import Ledger
from stockflow.masterdata import Catalog
from stores import warehouse
from stores.books import Books

console = Console()
START = date(2026, 1, 5)
#: The evening peak of the simulated stores (local time).
PEAK_HOUR = 17


def simulate(root: Path, days: int) -> Catalog:
    catalog = build_catalog(7)
    catalog.save(root / "masterdata.json")
    ledger = Ledger(catalog)
    writer = LakeWriter(root / "lake", "bench")
    for i, (e, result) in enumerate(ledger.apply_accepted(Simulation(catalog, 7).history(START, days))):
        raw = e.model_dump_json(exclude_none=True).encode()
        writer.land_applied(e, raw, e.topic.value, 0, i, result.movements, datetime.now(UTC))
        if writer.pending > 20_000:
            writer.flush()
    writer.flush()
    Books(root, catalog).post_new_movements()
    return catalog


def replicate(
    base: Path,
    big: Path,
    copies: int,
    before: datetime | None = None,
    since: datetime | None = None,
    batch: str = "r",
) -> None:
    """Copy every lake table `copies` times under new location codes (and ids), keeping the
    rows of events applied before `before`: the history, landed as it happened; a later batch
    (`since`, and `before` if given) lands now.

    An event belongs to the batch of the time it was applied: the earliest event time from it on
    in apply order. A till return is stamped up to 90 minutes after its sale but applied with
    it; a cut by event time would land it after movements applied later than it."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    part = f"{batch}_copy"  # a partition folder name per batch, never overwritten
    suffix = f"'-R' || {part}"
    events = " UNION ALL ".join(
        f"SELECT event_id, occurred_at, apply_seq FROM read_parquet('{base / 'lake' / t}/*/*.parquet',"
        " union_by_name = true)"
        for t in ("inventory_changed", *EVENT_TABLES)
    )
    con.execute(
        "CREATE TABLE applied AS SELECT event_id, min(applied_at) AS applied_at FROM ("
        " SELECT event_id, min(occurred_at) OVER (ORDER BY apply_seq ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)"
        " AS applied_at"
        f" FROM ({events})) GROUP BY event_id"
    )
    bounds = ["TRUE"]
    if since is not None:
        bounds.append(f"applied_at >= TIMESTAMPTZ '{since.isoformat()}'")
    if before is not None:
        bounds.append(f"applied_at < TIMESTAMPTZ '{before.isoformat()}'")
    batch_events = f"(SELECT event_id FROM applied WHERE {' AND '.join(bounds)})"
    when = f"event_id IN {batch_events}"
    fresh = since is not None

    def copy(table: str, replace: str, flat: bool, where: str) -> None:
        source = (
            f"read_parquet('{base / 'lake' / table}/{'*' if flat else '*/*'}.parquet', union_by_name = true)"
        )
        out = big / "lake" / table
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"part-{batch}.parquet" if flat else out
        options = "FORMAT parquet" if flat else f"FORMAT parquet, PARTITION_BY ({part}), OVERWRITE_OR_IGNORE"
        con.execute(
            f"COPY (SELECT * {'EXCLUDE (' + part + ') ' if flat else ''}REPLACE ({replace})"
            f" FROM {source}, range({copies}) t({part}) WHERE {where})"
            f" TO '{target}' ({options})"
        )

    # history landed as a live stream would have landed it (seconds after each event, the books
    # half a minute later); the new batch lands now
    landed = ", now() AS landed_at" if fresh else ", occurred_at + INTERVAL 2 SECOND AS landed_at"
    copy(
        "inventory_changed",
        f"event_id || {suffix} AS event_id, location || {suffix} AS location{landed}",
        False,
        when,
    )
    for table in EVENT_TABLES:  # each copy's devices are devices of their own (running numbers)
        copy(
            table,
            f"event_id || {suffix} AS event_id, location || {suffix} AS location,"
            f" source || {suffix} AS source{landed}",
            False,
            when,
        )
    copy(
        "stock_ledger",
        f"event_id || {suffix} AS event_id, location || {suffix} AS location,"
        f" CASE WHEN transit_location = '' THEN '' ELSE transit_location || {suffix} END AS transit_location,"
        f" run_id || '-{batch}' AS run_id"
        + (
            ", now() AS landed_at, now() AS valued_at"
            if fresh
            else ", occurred_at + INTERVAL 2 SECOND AS landed_at, occurred_at + INTERVAL 30 SECOND AS valued_at"
        ),
        True,
        when,
    )
    voucher_events = f"source_event_id IN {batch_events}"
    copy(
        "vouchers",
        f"voucher_id || {suffix} AS voucher_id, source_event_id || {suffix} AS source_event_id,"
        f" accounting_unit || {suffix} AS accounting_unit, run_id || '-{batch}' AS run_id"
        + (
            ", now() AS posted_at"
            if fresh
            else ", occurred_at + INTERVAL 2 SECOND AS landed_at, occurred_at + INTERVAL 30 SECOND AS posted_at"
        ),
        True,
        voucher_events,
    )
    heads = f"read_parquet('{base / 'lake'}/vouchers/*.parquet')"
    copy(
        "voucher_lines",
        f"voucher_id || {suffix} AS voucher_id,"
        f" CASE WHEN location = '' THEN '' ELSE location || {suffix} END AS location, run_id || '-{batch}' AS run_id",
        True,
        f"voucher_id IN (SELECT voucher_id FROM {heads} WHERE {voucher_events})",
    )
    con.close()


def flat_exists(root: Path, table: str) -> bool:
    return any((root / "lake" / table).glob("*/*.parquet"))


def replicated_catalog(catalog: Catalog, copies: int) -> Catalog:
    locations = {
        f"{code}-R{r}": loc.model_copy(update={"location": f"{code}-R{r}"})
        for r in range(copies)
        for code, loc in catalog.locations.items()
    }
    return catalog.model_copy(update={"locations": locations})


APPEND_MATERIALIZATION = """
{#- The custom `append` materialization the benchmark compares with dbt-duckdb's `incremental`:
    a full build creates the table from the model's rows; a later build deletes the range the
    model's incremental_predicates name and inserts the model's rows straight in. -#}
{% materialization append, adapter="duckdb" %}
  {%- set existing = load_cached_relation(this) -%}
  {%- set target = this.incorporate(type='table') -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {% if existing is none or should_full_refresh() %}
    {{ drop_relation_if_exists(existing) }}
    {% call statement('main') -%}
      create table {{ target }} as (
        {{ compiled_code }}
      )
    {%- endcall %}
  {% else %}
    {%- set predicates = config.get('incremental_predicates') or [] -%}
    {% if predicates %}
      {% call statement('replaced') -%}
        delete from {{ target }} as DBT_INCREMENTAL_TARGET where ({{ predicates | join(') and (') }})
      {%- endcall %}
    {% endif %}
    {% call statement('main') -%}
      insert into {{ target }} by name select * from (
        {{ compiled_code }}
      ) as model_rows
    {%- endcall %}
  {% endif %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target]}) }}
{% endmaterialization %}

{% macro is_incremental() %}
  {#- dbt's own, for `append` models too (in this variant of the project only) -#}
  {% if not execute %}
    {{ return(False) }}
  {% else %}
    {% set relation = adapter.get_relation(this.database, this.schema, this.table) %}
    {{ return(relation is not none and relation.type == 'table'
              and model.config.materialized in ('incremental', 'append') and not should_full_refresh()) }}
  {% endif %}
{% endmacro %}
"""


def append_variant(folder: Path) -> Path:
    """The project with its range-replacing and appending incremental models switched to the
    custom `append` materialization (same SQL, same predicates)."""
    project = folder / "dbt_project"
    shutil.copytree(warehouse.PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "macros" / "append_materialization.sql").write_text(APPEND_MATERIALIZATION)
    switched = 0
    for model in (project / "models").rglob("*.sql"):
        sql = model.read_text()
        if "incremental_predicates=" in sql or "incremental_strategy='append'" in sql:
            sql, n = re.subn(r"materialized='incremental'", "materialized='append'", sql)
            switched += n
            model.write_text(sql)
    if not switched:
        raise RuntimeError("no incremental model to switch")
    return project


def scan_baseline(lake: Path) -> float:
    started = perf_counter()
    con = duckdb.connect()
    con.execute(
        f"SELECT location, sku, cast(occurred_at AS date), sum(on_hand_delta) FROM"
        f" read_parquet('{lake}/inventory_changed/*/*.parquet') GROUP BY ALL"
    ).fetchall()
    con.execute(
        f"SELECT account_code, sum(debit), sum(credit) FROM read_parquet('{lake}/voucher_lines/*.parquet') GROUP BY ALL"
    ).fetchall()
    con.close()
    return perf_counter() - started


def run(target_movements: int = 5_000_000, base_days: int = 10) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="stockflow-bench-warehouse-"))
    base, big = tmp / "base", tmp / "big"
    base.mkdir()
    big.mkdir()
    console.print(f"warehouse: simulating {base_days} + 2 days …")
    catalog = simulate(base, base_days + 2)
    # history up to the evening peak of the day after the base days, then the peak hour lands
    cutoff = datetime.combine(START + timedelta(days=base_days), time(PEAK_HOUR), tzinfo=TZ)
    peak_end = cutoff + timedelta(hours=1)
    with duckdb.connect() as con:
        per_copy = con.execute(
            f"SELECT count(*) FROM read_parquet('{base / 'lake'}/inventory_changed/*/*.parquet')"
            f" WHERE occurred_at < TIMESTAMPTZ '{cutoff.isoformat()}'"
        ).fetchall()[0][0]
    copies = math.ceil(target_movements / per_copy)
    console.print(f"warehouse: {per_copy:,} movements × {copies} location sets …")
    replicate(base, big, copies, before=cutoff)
    big_catalog = replicated_catalog(catalog, copies)
    big_catalog.save(big / "masterdata.json")
    movements = per_copy * copies

    baseline = scan_baseline(big / "lake")
    # the same lake and master data, built by the `append` variant of the project in a folder of its own
    other = tmp / "append"
    other.mkdir()
    (other / "lake").symlink_to(big / "lake")
    shutil.copyfile(big / "masterdata.json", other / "masterdata.json")
    append_project = append_variant(tmp)

    console.print(f"warehouse: full builds on {movements:,} movements (incremental, append) …")
    full = warehouse.build(big, big_catalog, full=True)
    if not full.success:
        raise RuntimeError(full.failures)
    full_append = warehouse.build(other, big_catalog, full=True, project_dir=append_project)
    if not full_append.success:
        raise RuntimeError(full_append.failures)
    nodes = sum(full.statuses.values())
    size_mb = warehouse.warehouse_path(big).stat().st_size / 1e6

    def land(batch: str, since: datetime, before: datetime | None) -> int:
        replicate(base, big, copies, since=since, before=before, batch=batch)
        with duckdb.connect() as con:
            return con.execute(
                f"SELECT count(*) FROM read_parquet('{big / 'lake'}/inventory_changed/{batch}_copy=*/*.parquet')"
            ).fetchall()[0][0]

    def incremental(var: Path, project: Path = warehouse.PROJECT_DIR) -> warehouse.BuildResult:
        result = warehouse.build(var, big_catalog, full=False, project_dir=project)
        if not result.success or result.full:
            raise RuntimeError(result.failures or f"not the build asked for: {warehouse.summary(result)}")
        return result

    def keep(var: Path) -> Path:
        kept = tmp / f"{var.name}-before-peak-hour"
        kept.mkdir()
        for name in (warehouse.WAREHOUSE_FILE, "last_build.json"):
            shutil.copyfile(warehouse.warehouse_dir(var) / name, kept / name)
        return kept

    def restore(var: Path, kept: Path) -> None:
        for name in (warehouse.WAREHOUSE_FILE, "last_build.json"):
            shutil.copyfile(kept / name, warehouse.warehouse_dir(var) / name)

    # Incremental builds run every 5 minutes; the busiest hour of the day is 12 times that.
    console.print("warehouse: the evening peak hour lands; incremental builds (incremental, append) × 2 …")
    hour_movements = land("h", cutoff, peak_end)
    kept, kept_append = keep(big), keep(other)
    hour, hour_append = [], []
    for _ in range(2):
        hour.append(incremental(big).seconds)
        restore(big, kept)
        hour_append.append(incremental(other, project=append_project).seconds)
        restore(other, kept_append)
    incremental(big)  # the peak hour in place for the next build
    shutil.rmtree(warehouse.warehouse_dir(other))
    # A build after more than a day offline: the rest of the simulation at once.
    console.print("warehouse: the next day and more land at once; incremental build …")
    day_movements = land("d", peak_end, None)
    day = incremental(big)

    console.print("warehouse: quality suites …")
    from expectations.checks import check

    started = perf_counter()
    report = check(big)
    quality_seconds = perf_counter() - started
    console.print(
        f"  {movements:,} movements, {nodes} dbt nodes, warehouse {size_mb:,.0f} MB;"
        f" quality {'passed' if report.success else 'FAILED: ' + '; '.join(report.critical_failures)}"
    )
    shutil.rmtree(tmp)  # 3 GB
    console.print(
        "  peak hour, seconds: incremental "
        + ", ".join(f"{t:.1f}" for t in hour)
        + "; append "
        + ", ".join(f"{t:.1f}" for t in hour_append)
    )
    return [
        Figure(
            f"dbt full build ({movements / 1e6:.1f}M movements)",
            full.seconds,
            "s",
            baseline,
            "< 60 s",
            full.seconds < 60,
        ),
        Figure(
            "  the same, custom append materialization (vs incremental)",
            full_append.seconds,
            "s",
            full.seconds,
        ),
        Figure(
            f"dbt incremental build, peak hour (+{hour_movements:,})",
            min(hour),
            "s",
            baseline,
            "< 10 s",
            min(hour) < 10,
        ),
        Figure(
            "  the same, custom append materialization (vs incremental)",
            min(hour_append),
            "s",
            min(hour),
        ),
        Figure(f"dbt incremental build, {day_movements:,} movements at once", day.seconds, "s", baseline),
        Figure("quality suites + Data Docs", quality_seconds, "s"),
    ]


def main() -> None:
    import os

    from bench.pipeline import report_and_save

    figures = run(target_movements=int(os.environ.get("BENCH_WAREHOUSE_MOVEMENTS", 5_000_000)))
    report_and_save(figures, "stockflow warehouse benchmark (same machine, same run)", "warehouse")
