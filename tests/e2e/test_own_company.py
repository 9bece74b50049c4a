"""README's "Run it for your company", as a new user types it: init, a dry run that finds the
file's mistakes, the import, `stockflow up` without the simulator, a device's credential and
the first receipt, then `stockflow down`."""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import free_port, get_json, kill_left_behind, wait_until
from tests.support.network import call

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def stockflow(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_company_of_ones_own_from_init_to_its_first_receipt(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "STOCKFLOW_VAR_DIR"}
    env.update(
        PYTHONPATH=str(repo),
        STOCKFLOW_BROKER_PORT=str(free_port()),
        STOCKFLOW_WEB_PORT=str(free_port()),
        STOCKFLOW_PREFECT_PORT=str(free_port()),
        STOCKFLOW_DASHBOARD_PORT=str(free_port()),
        STOCKFLOW_DRAIN_TIMEOUT_SECONDS="20",
    )
    company = tmp_path / "acme"
    made = stockflow(tmp_path, env, "init", str(company), "--name", "Acme Trading")
    assert made.returncode == 0, made.stderr + made.stdout
    assert "STOCKFLOW_SIMULATED=false" in (company / ".env").read_text()
    for name in ("skus.csv", "locations.csv", "suppliers.csv"):
        shutil.copy(SAMPLES / name, company / name)
    files = ["skus.csv", "locations.csv", "suppliers.csv"]

    # a file with mistakes: the dry run names each by file, row and column, and writes nothing
    broken = (company / "skus.csv").read_text(encoding="utf-8").splitlines()
    header = broken[0].split(",")
    row = broken[1].split(",")
    row[header.index("gtin")] = row[header.index("gtin")][:-1] + str(
        (int(row[header.index("gtin")][-1]) + 1) % 10
    )
    (company / "broken.csv").write_text(
        "\n".join([broken[0], ",".join(row), *broken[2:]]) + "\n", encoding="utf-8"
    )
    dry = stockflow(company, env, "masterdata", "import", "broken.csv", "locations.csv", "suppliers.csv",
                    "--entity", "skus", "--dry-run", "--format", "json")  # fmt: skip
    assert dry.returncode != 0, dry.stdout
    problems = json.loads(dry.stdout)
    assert any(p["file"] == "broken.csv" and p["row"] == 2 and p["column"] == "gtin" for p in problems), (
        problems
    )

    checked = stockflow(company, env, "masterdata", "import", *files, "--dry-run")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    imported = stockflow(company, env, "masterdata", "import", *files)
    assert imported.returncode == 0, imported.stdout + imported.stderr

    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen([sys.executable, "-m", "cli.main", "up"], cwd=company, env=env, stdout=log,
                          stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(
            lambda: "Ctrl-C stops everything" in (tmp_path / "up.log").read_text() or up.poll() is not None,
            240,
            "the banner",
        )
        out = (tmp_path / "up.log").read_text()
        assert up.poll() is None, out[-3000:]
        assert "no simulator" in out and "history" not in out.split("no simulator")[-1], out[-2000:]

        device = stockflow(company, env, "devices", "add", "scanner-1", "--location", "WH1",
                           "--events", "goods_receipt")  # fmt: skip
        assert device.returncode == 0, device.stderr
        token = re.search(r"sf_\S+", device.stdout).group(0)
        web = f"http://127.0.0.1:{env['STOCKFLOW_WEB_PORT']}"
        receipt = {
            "event_type": "goods_receipt",
            "event_id": "r-0001",
            "occurred_at": datetime.now(UTC).isoformat(),
            "source": "scanner-1",
            "location": "WH1",
            "purchase_order": "PO-1",
            "supplier": "SUP01",
            "sku": "MILK-1L",
            "batch": "B0001",
            "expiry_date": "2030-01-01",
            "qty": "2",
            "unit": "case",
            "unit_cost": "60",
        }
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, answer = call(f"{web}/events", json.dumps(receipt).encode(), headers)
        assert status == 202, answer
        landed = wait_until(
            lambda: (
                found
                if (found := get_json(f"{web}/events/r-0001?location=WH1", token=token))["status"] == "landed"
                else None
            ),
            60,
            "the first receipt landed",
        )
        assert landed["status"] == "landed"
        stock = get_json(f"{web}/stock/WH1/MILK-1L", token=token)
        assert stock["on_hand"] == 24, stock  # two cases of twelve
    finally:
        down = stockflow(company, env, "down", timeout=180)
        try:
            up.wait(timeout=60)
        finally:
            if up.poll() is None:
                up.kill()
            kill_left_behind(company / "var")
    assert down.returncode == 0, down.stderr
