"""Master-data benchmarks, one function each.

`import_benchmark`: a catalogue of 100,000 SKUs and their 500 suppliers imported from CSV files
into an empty company through `stockflow.services.masterdata_import.import_master_data`, as
`stockflow masterdata import` does: the dry run (read, every row's rules, the catalogue's
rules; nothing written), the import (the same, then audited, the lake's change log and the
catalogue written: one change per record), and the same files imported again (every record
unchanged, nothing written). Each runs in a process of its own: its memory figure is how far
that process's peak resident memory rose above where it started.

Baseline, same files, same run: `csv.DictReader` and pydantic's validation of each row into a
`Sku` or `Supplier` (packs split, empty cells dropped): reading and the models, without the
import's rules, the catalogue's, or any writing. Target: the import under 60 s.

Wall time and the process's CPU time are both given: on a machine shared with other work the
wall time says as much about the others as about the import.

`BENCH_MD_IMPORT_SKUS` (default 100,000) sizes it; `BENCH_ONLY=masterdata` runs it alone.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.pipeline import Figure, report_and_save

console = Console()
SKUS = int(os.environ.get("BENCH_MD_IMPORT_SKUS", "100000"))
SUPPLIERS = 500
TARGET_SECONDS = 60.0

SKU_HEADER = (
    "sku", "gtin", "name", "category", "status", "serial_managed", "base_unit", "packs", "shelf_life_days",
    "batch_managed", "cold_chain_min_c", "cold_chain_max_c", "reorder_point", "supplier", "moq",
    "negative_stock", "standard_cost", "vat_rate", "wholesale_price",
)  # fmt: skip


def gtin13(n: int) -> str:
    """A valid EAN-13 under the China prefix 690 (GS1 check digit) from a running number."""
    body = f"69{n:010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def write_catalogue_files(folder: Path, skus: int, suppliers: int = SUPPLIERS, seed: int = 11) -> list[Path]:
    """suppliers.csv and skus.csv as a company would export them (UTF-8 with a BOM)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    supplier_path, sku_path = folder / "suppliers.csv", folder / "skus.csv"
    with supplier_path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("supplier", "name", "lead_time_days", "phone"))
        for i in range(suppliers):
            writer.writerow((f"SUP{i:04d}", f"供应商 {i:04d} 有限公司", rng.randint(1, 9), f"0571-8{i:07d}"))
    with sku_path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(SKU_HEADER)
        for i in range(skus):
            kind = rng.random()
            case = rng.choice((6, 12, 24))
            cost = rng.randint(100, 50_000)
            chilled = kind < 0.3
            writer.writerow(
                (
                    f"SKU-{i:07d}",
                    gtin13(i),
                    f"{'冷鲜' if chilled else '商品'} {i}",
                    "chilled_food" if chilled else ("dry_goods" if kind < 0.8 else "electronics"),
                    "active",
                    "yes" if kind > 0.95 else "no",
                    "each",
                    f"case={case};pallet={case * 40}" if kind < 0.5 else f"case={case}",
                    rng.randint(5, 30) if chilled else (rng.randint(180, 720) if kind < 0.8 else ""),
                    "yes" if kind < 0.8 else "no",
                    "0" if chilled else "",
                    "4" if chilled else "",
                    rng.randint(0, 50),
                    f"SUP{rng.randrange(suppliers):04d}",
                    case * rng.choice((1, 2, 4)),
                    "reject",
                    f"{cost / 100:.2f}",
                    "0.09" if chilled else "0.13",
                    f"{cost * 1.25 / 100:.2f}",
                )
            )
    return [supplier_path, sku_path]


# ---------------------------------------------------------------------- the phases (each in a process)
def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _baseline(files: list[Path], var: Path) -> dict[str, Any]:
    """csv.DictReader and the models alone."""
    from stockflow.masterdata import Sku, Supplier

    ready = _peak_mib()
    t0, cpu0 = time.perf_counter(), time.process_time()
    rows = 0
    for path in files:
        model = Sku if path.stem == "skus" else Supplier
        with path.open(encoding="utf-8-sig", newline="") as file:
            for row in csv.DictReader(file):
                values: dict[str, Any] = {k: v for k, v in row.items() if v != ""}
                if "packs" in values:
                    values["packs"] = dict(p.split("=") for p in values["packs"].split(";"))
                model.model_validate(values)
                rows += 1
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
        "rows": rows,
        "peak_mib": _peak_mib(),
        "ready_mib": ready,
    }


def _import(files: list[Path], var: Path, dry_run: bool) -> dict[str, Any]:
    """`stockflow masterdata import` without the command line: read, check, (write)."""
    from stockflow.services.masterdata_import import import_master_data
    from stores.audit_log import AuditLog
    from stores.masterdata import MasterDataFiles
    from stores.spreadsheets import read_spreadsheet_files

    store = MasterDataFiles(var / "masterdata.json", var / "lake")
    audit = AuditLog(var, anchor_path=var / "audit_anchors.jsonl")
    ready = _peak_mib()
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = import_master_data(store, None, audit, read_spreadsheet_files(files), "bench", dry_run=dry_run)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    counts = {name: (c.rows, c.new, c.changed, c.unchanged) for name, c in result.counts.items()}
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rows": sum(c[0] for c in counts.values()),
        "counts": counts,
        "problems": [p.english for p in result.problems[:5]],
        "changes": len(result.change.changes) if result.change else 0,
        "peak_mib": _peak_mib(),
        "ready_mib": ready,
    }


def _phase(name: str, *args: Any) -> dict[str, Any]:
    """Run one phase in a process of its own (forked: `python -m bench` has no main guard a
    spawned one would need); its figures."""
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        return pool.apply(_PHASES[name], args)


_PHASES = {"baseline": _baseline, "import": _import}


def import_benchmark(skus: int = SKUS) -> list[Figure]:
    """Dry run, import and import again of `skus` SKUs with their suppliers (see the module)."""
    with tempfile.TemporaryDirectory(prefix="stockflow-bench-masterdata-") as tmp:
        root = Path(tmp)
        console.print(f"masterdata import: writing {skus:,} SKUs and {SUPPLIERS} suppliers as CSV …")
        files = write_catalogue_files(root / "files", skus)
        size_mib = sum(f.stat().st_size for f in files) / 2**20
        var = root / "var"
        var.mkdir()
        rows = skus + SUPPLIERS

        console.print("  baseline: csv.DictReader + pydantic …")
        base = _phase("baseline", files, var)
        console.print("  dry run …")
        dry = _phase("import", files, var, True)
        assert not dry["problems"], dry["problems"]
        assert dry["counts"]["skus"] == (skus, skus, 0, 0) and dry["changes"] == 0
        assert not (var / "masterdata.json").exists()
        console.print("  import …")
        done = _phase("import", files, var, False)
        assert not done["problems"] and done["changes"] == rows, (done["problems"], done["changes"])
        console.print("  the same files again …")
        again = _phase("import", files, var, False)
        assert again["counts"]["skus"] == (skus, 0, 0, skus) and again["changes"] == 0
        console.print(f"  {rows:,} rows in {size_mib:.1f} MiB of CSV")
    base_mib = base["peak_mib"] - base["ready_mib"]
    return [
        Figure(
            f"dry run, {rows:,} rows (read, every rule, nothing written)",
            dry["seconds"],
            "s",
            base["seconds"],
        ),
        Figure("dry run, CPU time", dry["cpu"], "s", base["cpu"]),
        Figure(
            f"import, {rows:,} rows (checked, audited, change log and catalogue written)",
            done["seconds"],
            "s",
            base["seconds"],
            target=f"< {TARGET_SECONDS:.0f} s",
            ok=done["seconds"] < TARGET_SECONDS,
        ),
        Figure("import, CPU time", done["cpu"], "s", base["cpu"]),
        Figure("import throughput", rows / done["seconds"], "rows/s", rows / base["seconds"]),
        Figure(f"the same files again ({rows:,} rows unchanged)", again["seconds"], "s", base["seconds"]),
        Figure("the same files again, CPU time", again["cpu"], "s", base["cpu"]),
        Figure("import: peak memory it adds", done["peak_mib"] - done["ready_mib"], "MiB", base_mib),
        Figure("dry run: peak memory it adds", dry["peak_mib"] - dry["ready_mib"], "MiB", base_mib),
    ]


def main() -> None:
    report_and_save(
        import_benchmark(),
        "stockflow master-data import benchmark (baseline: csv.DictReader + pydantic on the same files)",
        "masterdata_import",
    )


if __name__ == "__main__":
    main()
