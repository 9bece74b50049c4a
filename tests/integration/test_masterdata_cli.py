"""`stockflow masterdata ...` against a company's own var folder: a dry run lists every problem
and exits non-zero; a clean import writes the catalogue, the change log in the lake and one
audit entry; an export imported again changes nothing; a SKU shown, moved along its lifecycle,
given another system's code; an exchange rate set; a recipe's portion shown with its cost.

The oracles: the sample catalogue in docs/samples (what the files hold, counted by hand), the
catalogue file, the lake's Parquet files and the audit log read directly."""

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from stockflow.config import get_settings
from stockflow.masterdata import Catalog
from stores.audit_log import AuditLog
from tests.support import free_port

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOGNAME", "ops.chen")  # who runs the commands
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", str(free_port()))  # no workers: nothing to publish to
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def masterdata(*args: str):
    return CliRunner().invoke(app, ["masterdata", *map(str, args)])


def catalog(var: Path) -> Catalog:
    return Catalog.load(var / "masterdata.json")


def log_files(var: Path) -> list[Path]:
    return sorted((var / "lake" / "masterdata_changes").glob("part-*.parquet"))


def test_a_dry_run_lists_every_problem_and_writes_nothing(var, tmp_path):
    files = tmp_path / "broken"
    shutil.copytree(SAMPLES, files)
    skus = (files / "skus.csv").read_text(encoding="utf-8").splitlines()
    # row 3: a wrong check digit; row 4: a pack that does not nest; row 7: an unknown supplier
    skus[2] = skus[2].replace("6903210000027", "6903210000028")
    skus[3] = skus[3].replace("case=4;pallet=160", "case=4;pallet=150")
    skus[6] = skus[6].replace("SUP03", "SUP09")
    (files / "skus.csv").write_text("\n".join(skus) + "\n", encoding="gb18030")

    checked = masterdata("import", *sorted(files.glob("*.csv")), "--dry-run", "--format", "json")
    assert checked.exit_code == 1, checked.output
    problems = json.loads(checked.stdout)
    assert [(p["file"], p["row"], p["column"], p["reason"]) for p in problems] == [
        ("skus.csv", 3, "gtin", "bad_gtin"),
        ("skus.csv", 4, "packs", "pack_not_multiple"),
        ("skus.csv", 7, "supplier", "unknown_supplier"),
    ]
    assert "check digit" in problems[0]["message"]
    assert "3 problems found: nothing was written" in checked.output
    # the same without --dry-run: refused, nothing written either
    refused = masterdata("import", *sorted(files.glob("*.csv")))
    assert refused.exit_code == 1
    rows = refused.stdout.splitlines()
    assert rows[0].split() == ["File", "Row", "Column", "Reason", "Message"]
    assert len(rows) == 4 and rows[1].split()[:4] == ["skus.csv", "3", "gtin", "bad_gtin"]
    assert not (var / "masterdata.json").exists() and log_files(var) == []
    assert AuditLog(var).records() == []


def test_import_export_and_import_again(var, tmp_path):
    files = sorted(SAMPLES.glob("*.csv"))
    done = masterdata("import", *files, "--format", "json")
    assert done.exit_code == 0, done.output
    counts = {c["entity"]: (c["rows"], c["new"]) for c in json.loads(done.stdout)}
    # 11 recipe rows: broth, dumplings (common and ST02's own), noodles, a set meal; 9 BOM rows:
    # the filling and the frozen dumplings (lines, a substitute, operations)
    assert counts == {
        "suppliers": (3, 3), "locations": (3, 3), "skus": (18, 18), "recipes": (11, 5), "boms": (9, 2),
    }  # fmt: skip
    assert "31 changes recorded (versions 1–31)" in done.output

    recorded = catalog(var)
    assert recorded.version == 31 and set(recorded.suppliers) == {"SUP01", "SUP02", "SUP03"}
    assert set(recorded.recipes) == {
        "BROTH-ML|*|2026-01-01", "DUMPLING|*|2026-01-01", "DUMPLING|ST02|2026-01-01",
        "NOODLE|*|2026-01-01", "SET-A|*|2026-01-01",
    }  # fmt: skip
    bones = recorded.recipes["BROTH-ML|*|2026-01-01"].components[0]
    assert (bones.qty, bones.unit, bones.loss_rate) == (Decimal("1.5"), "kg", Decimal("0.2"))
    rice = recorded.skus["RICE-5KG"]
    assert (rice.base_unit, rice.packs, rice.moq) == ("bag", {"case": 4, "pallet": 160}, 8)
    assert recorded.skus["EARBUD-BT"].serial_managed and recorded.skus["EARBUD-BT"].status == "draft"
    [log] = log_files(var)
    logged = pq.read_table(log).to_pylist()
    assert set(recorded.boms) == {"FILLING-G|2026-01-01", "FROZEN-DUMPLING|2026-01-01"}
    bag = recorded.boms["FROZEN-DUMPLING|2026-01-01"].line("BAG-1KG")
    assert [(s.sku, s.valid_to.isoformat()) for s in bag.substitutes] == [("BAG-1KG-B", "2026-06-30")]
    assert [r["version"] for r in logged] == list(range(1, 32))
    assert {r["entity"] for r in logged} == {"supplier", "location", "sku", "recipe", "bom"}
    [entry] = AuditLog(var).records()
    assert (entry["actor"], entry["action"]) == ("ops.chen", "masterdata.imported")
    assert {f["name"]: f["sha256"] for f in entry["details"]["files"]} == {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files
    }

    for form, extra in (("csv", ()), ("xlsx", ()), ("csv", ("--chinese-headers",))):
        out = tmp_path / f"export-{form}-{len(extra)}"
        exported = masterdata("export", out, "--format", form, *extra)
        assert exported.exit_code == 0, exported.output
        written = sorted(out.iterdir())
        if form == "xlsx":
            assert [p.name for p in written] == ["masterdata.xlsx"]
        else:
            assert [p.name for p in written] == sorted(
                f"{e}.csv"
                for e in (
                    "suppliers",
                    "locations",
                    "customers",
                    "skus",
                    "aliases",
                    "rates",
                    "recipes",
                    "boms",
                )
            )
        again = masterdata("import", *written, "--format", "json")
        assert again.exit_code == 0, again.output
        assert "Nothing changed" in again.output
        assert all(c["new"] == c["changed"] == 0 for c in json.loads(again.stdout))
        assert catalog(var) == recorded and len(log_files(var)) == 1
    assert len(AuditLog(var).records()) == 1


def test_show_status_alias_and_rate(var):
    assert masterdata("import", *sorted(SAMPLES.glob("*.csv"))).exit_code == 0

    shown = masterdata("show", "MILK-1L", "--format", "json")
    assert shown.exit_code == 0, shown.output
    fields = {r["field"]: r["content"] for r in json.loads(shown.stdout)}
    assert fields["gtin"] == "06903210000010" and fields["packs"] == "case=12"
    assert fields["completeness"] == "100%" and fields["aliases"] == []
    assert masterdata("show", "NOPE").exit_code == 1

    moved = masterdata("status", "EARBUD-BT", "active", "--reason", "首批到货")
    assert moved.exit_code == 0, moved.output
    assert catalog(var).skus["EARBUD-BT"].status == "active"
    refused = masterdata("status", "EARBUD-BT", "draft")
    assert refused.exit_code == 1 and "cannot become draft" in refused.output

    assert masterdata("alias", "set", "legacy_erp", "100234", "--sku", "MILK-1L").exit_code == 0
    assert masterdata("alias", "set", "meituan", "st-01", "--location", "ST01").exit_code == 0
    assert masterdata("alias", "set", "meituan", "x", "--sku", "A", "--location", "B").exit_code == 2
    assert masterdata("alias", "set", "meituan", "y", "--sku", "NOPE").exit_code == 1
    by_alias = masterdata("show", "100234", "--format", "json")
    assert {r["field"]: r["content"] for r in json.loads(by_alias.stdout)}["aliases"] == ["legacy_erp:100234"]
    assert masterdata("alias", "remove", "legacy_erp", "100234", "--sku", "MILK-1L").exit_code == 0
    assert set(catalog(var).aliases) == {"location|meituan|st-01"}

    assert masterdata("rate", "set", "usd", "2026/9/1", "7.1234").exit_code == 0
    [rate] = catalog(var).rates.values()
    assert (rate.currency, str(rate.valid_from), str(rate.rate)) == ("USD", "2026-09-01", "7.1234")
    assert masterdata("rate", "set", "USD", "someday", "7").exit_code == 2
    assert masterdata("rate", "set", "CNY", "2026-09-01", "1").exit_code == 1

    actions = [(r["action"], r["reason"]) for r in AuditLog(var).records()]
    assert actions[0] == ("masterdata.imported", "")
    assert actions[1] == ("masterdata.changed", "首批到货")
    assert len(actions) == 6  # import, status, two aliases set, one removed, a rate


def test_recipe_show_prints_a_portion_and_its_cost_in_either_language(var, monkeypatch):
    """The sample recipes at the samples' standard costs, worked out by hand: a dumpling takes
    120 g flour, 90 g pork at 10% loss (100 g) and 15 g scallion at 25% loss (20 g):
    0.72 + 3.20 + 0.24 = 4.16 yuan; ST02's own takes 100 g pork (111.1111 g): 4.52."""
    assert masterdata("import", *sorted(SAMPLES.glob("*.csv"))).exit_code == 0

    shown = masterdata("recipe", "show", "DUMPLING", "--on", "2026-09-01", "--format", "json")
    assert shown.exit_code == 0, shown.output
    lines = json.loads(shown.stdout)
    assert [(r["component"], r["base_qty"], r["base_unit"], r["cost"]) for r in lines] == [
        ("FLOUR-G", "120", "g", "0.72"), ("PORK-G", "100", "g", "3.20"), ("SCALLION-G", "20", "g", "0.24"),
    ]  # fmt: skip
    assert (lines[1]["recipe_qty"], lines[1]["loss_rate"]) == ("90", "0.1")
    assert "Theoretical cost per portion (1 portion): 4.16 CNY" in shown.output
    own = masterdata(
        "recipe", "show", "DUMPLING", "--store", "ST02", "--on", "2026-09-01", "--format", "json"
    )
    assert [r["base_qty"] for r in json.loads(own.stdout)] == ["120", "111.1111", "20"]
    assert "4.52 CNY" in own.output
    # a set meal costs its dishes: 4.16 + (150 g × 0.006 + 400 ml × 0.014 = 6.50)
    meal = masterdata("recipe", "show", "SET-A", "--on", "2026-09-01", "--format", "json")
    assert [r["cost"] for r in json.loads(meal.stdout)] == ["4.16", "6.50"] and "10.66 CNY" in meal.output

    before = masterdata("recipe", "show", "DUMPLING", "--on", "2025-12-31")
    assert before.exit_code == 1 and "no recipe in effect on 2025-12-31" in before.output
    assert masterdata("recipe", "show", "DUMPLING", "--on", "someday").exit_code == 2

    from cli.common import tr

    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "zh_CN")
    get_settings.cache_clear()
    tr.cache_clear()
    try:
        chinese = masterdata("recipe", "show", "DUMPLING", "--on", "2026-09-01")
    finally:
        tr.cache_clear()
    assert chinese.exit_code == 0, chinese.output
    assert "每份（1 portion）理论成本：4.16 CNY" in chinese.output and "损耗率" in chinese.output
