"""`stockflow up` as a user runs it: start, watch live events change stock, Ctrl-C."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import argon2
import pytest

from tests.support import free_port, get_json, kill_left_behind, wait_until

pytestmark = pytest.mark.e2e


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def planning_runs(var: Path, table: str) -> int:
    import duckdb

    if not (var / "planning.duckdb").exists():
        return 0
    try:
        with duckdb.connect(str(var / "planning.duckdb"), read_only=True) as con:
            return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    except duckdb.Error:  # a flow is writing it (or has not made the table yet)
        return 0


def test_up_runs_a_live_company_and_stops_cleanly(tmp_path: Path):
    broker_port, web_port, prefect_port = free_port(), free_port(), free_port()
    dashboard_port = free_port()
    env = {
        **os.environ,
        "STOCKFLOW_VAR_DIR": str(tmp_path / "var"),
        "STOCKFLOW_BROKER_PORT": str(broker_port),
        "STOCKFLOW_WEB_PORT": str(web_port),
        "STOCKFLOW_HISTORY_DAYS": "1",
        "STOCKFLOW_LIVE_RATE": "40",
        "STOCKFLOW_PREFECT_PORT": str(prefect_port),
        "STOCKFLOW_DASHBOARD_PORT": str(dashboard_port),
        "STOCKFLOW_VOUCHER_INTERVAL_SECONDS": "15",
        "STOCKFLOW_WAREHOUSE_INTERVAL_SECONDS": "20",
    }
    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--fresh"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{web_port}"
    try:
        # the banner is written line by line: wait for its last line before reading it
        wait_until(lambda: "Ctrl-C stops everything" in (tmp_path / "up.log").read_text(), 120, "the banner")
        assert "stockflow is up" in (tmp_path / "up.log").read_text()
        output = (tmp_path / "up.log").read_text()
        assert f"{url}/stock/ST01" in output and f"127.0.0.1:{broker_port}" in output
        assert f"http://127.0.0.1:{prefect_port}" in output
        # the dashboard is served, and one account per role is made for it, its password shown
        # once (only argon2id hashes kept)
        assert f"dashboard       http://127.0.0.1:{dashboard_port}" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{dashboard_port}/_stcore/health", timeout=5) as r:
            assert r.read() == b"ok"
        shown = dict(
            re.findall(
                r"\b(manager|warehouse|finance|auditor)\s+([A-Za-z0-9_-]{12})(?![A-Za-z0-9_-])",
                output.split("made for you")[1],
            )
        )
        accounts = json.loads((tmp_path / "var" / "accounts.json").read_text())["accounts"]
        stored = {a["name"]: a for a in accounts}
        assert set(shown) == set(stored) == {"manager", "warehouse", "finance", "auditor"}
        assert all(
            stored[n]["role"] == n and stored[n]["password_hash"].startswith("$argon2id$") for n in shown
        )
        assert all(argon2.PasswordHasher().verify(stored[n]["password_hash"], shown[n]) for n in shown)
        assert not any(shown[n] in json.dumps(accounts) for n in shown)

        def applied():
            return get_json(f"{url}/health")["counters"].get("applied", 0)

        wait_until(lambda: "live:" in (tmp_path / "up.log").read_text(), 120, "the history to be produced")
        wait_until(lambda: applied() > 1500, 120, "the history to be applied")
        first = get_json(f"{url}/stock/ST01")
        # A simulated day opens with hours of sensor readings only, so wait for stock to move.
        wait_until(
            lambda: get_json(f"{url}/stock/ST01")["items"] != first["items"], 120, "live events at ST01"
        )
        # the history's till sales land in the lake (opening stock alone can pass the count above)
        wait_until(
            lambda: (tmp_path / "var" / "lake" / "pos_transactions").exists(), 120, "POS sales in the lake"
        )
        # the served post_vouchers deployment posts them: vouchers land in the lake for the warehouse
        wait_until(
            lambda: list((tmp_path / "var" / "lake" / "voucher_lines").glob("part-*.parquet")),
            180,
            "vouchers posted by the scheduled flow",
        )
        # the served build_warehouse deployment builds the marts and checks their quality
        quality_runs = tmp_path / "var" / "quality" / "quality.duckdb"
        wait_until(
            lambda: (tmp_path / "var" / "warehouse" / "warehouse.duckdb").exists() and quality_runs.exists(),
            240,
            "a warehouse build and its quality check",
        )
        # with a warehouse to read, demand is forecast once at start (then nightly)
        wait_until(lambda: planning_runs(tmp_path / "var", "forecast_runs") > 0, 240, "the forecast at start")
        # then replenishment is planned on it, from the workers' live stock
        wait_until(
            lambda: planning_runs(tmp_path / "var", "replenishment_runs") > 0, 120, "replenishment at start"
        )
    finally:
        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(timeout=150)
        finally:
            if up.poll() is None:
                up.kill()
                kill_left_behind(tmp_path / "var")  # its workers, servers and flows too
        log.close()
    print((tmp_path / "up.log").read_text()[-3000:])
    assert code == 0
    assert "stopped" in (tmp_path / "up.log").read_text()
    for name, port in (
        ("the worker", web_port),
        ("the broker", broker_port),
        ("the Prefect server", prefect_port),
        ("the dashboard", dashboard_port),
    ):  # `up` has returned: its processes close their sockets as they exit
        wait_until(lambda port=port: not port_open(port), 2, f"{name} to stop listening", 0.1)
    # no dbt run outlives `up`
    wait_until(lambda: not dbt_processes(tmp_path), 15, "dbt runs of this stack to exit", 0.2)
    # the books balance and match the stock ledger (checked by the CLI a user would run)
    check = subprocess.run(
        [sys.executable, "-m", "cli.main", "vouchers", "trial-balance"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert "主营业务收入" in check.stdout and "equal" in check.stderr, check.stderr
    # the planner's view of the suggestions, as a user would list them
    listed = subprocess.run(
        [sys.executable, "-m", "cli.main", "replenish", "list", "--status", "all"],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0 and "proposed" in listed.stdout, listed.stderr
    import duckdb

    with duckdb.connect(str(tmp_path / "var" / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM fct_stock_movements").fetchall()[0][0] > 0
    with duckdb.connect(str(quality_runs), read_only=True) as con:
        assert con.execute("SELECT bool_and(success) FROM quality_runs").fetchall() == [(True,)]


def dbt_processes(tmp_path: Path) -> list[int]:
    """Running `stores.dbt_process` processes started for this test's stack."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"stores.dbt_process" in cmdline and str(tmp_path).encode() in environ:
            found.append(int(entry.name))
    return found
