"""The dashboards in a real browser: headless Chromium over its DevTools protocol signs in,
opens every page, waits for its real content, and takes a screenshot of it. The company's data
comes from the real pipeline; live stock from a real broker and stream worker (this module's
one test has them to itself)."""

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from dashboards.server import streamlit_args, wait_until_serving
from flows.reconcile_stock import reconcile_legacy
from simulator.company import build_catalog
from stockflow.config import Settings
from stockflow.masking import Role
from stockflow.services.accounts import add_account
from stores.accounts import AccountFile
from stores.audit_log import AuditLog
from streams.broker import EmbeddedBroker, ensure_topics
from tests.e2e.chromium import CHROMIUM, Chromium
from tests.support import (
    Worker,
    free_port,
    produce_with_confluent,
    settings_for,
    simulate,
    wait_decided,
    wait_landed,
    wait_until,
)
from tests.support.company import write_company

pytestmark = pytest.mark.e2e

PAGES = {
    "Overview": {"metrics": 8, "chart": True},
    "Live stock": {"metrics": 5, "grid": True},
    "Alerts": {"metrics": 1, "chart": True},
    "Cold chain": {"chart": True},
    "Finance": {"metrics": 4},
    "Forecasts & replenishment": {"metrics": 4, "chart": True},
    "Data quality": {"metrics": 4, "chart": True},
    "Audit trail": {"metrics": 1},
    "Reconciliation": {"grid": True},
    "Suppliers": {"metrics": 3, "chart": True},
}
NAV = "a[data-testid=stSidebarNavLink]"  # its text is the icon's name, then the title
CHART = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'


@pytest.fixture
def live_worker(tmp_path):
    """A broker and a stream worker holding one simulated day of stock."""
    broker_port = free_port()
    settings = settings_for(tmp_path / "stream", broker_port, free_port())
    catalog = build_catalog(settings.seed)
    catalog.save(settings.masterdata_path)
    broker = EmbeddedBroker("127.0.0.1", broker_port, tmp_path / "broker.log")
    broker.start()
    worker = None
    try:
        ensure_topics(broker.bootstrap, settings.topic_partitions)
        worker = Worker(settings, settings.web_port, tmp_path).start()
        run = simulate(catalog, settings.seed, date(2026, 9, 1), 1)
        produce_with_confluent(broker.bootstrap, run)
        wait_decided([worker], run, timeout=120)
        wait_landed(settings.lake_dir, run, [worker], timeout=120)
        yield worker.settings  # with the port it serves on
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()


def test_every_page_renders_in_chromium_and_no_phone_number_shows(tmp_path, live_worker):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed (make test installs Debian's chromium package)")
    var = tmp_path / "var"
    company = write_company(var, days=30)
    catalog = company.catalog
    phones = {c.phone for c in catalog.customers.values()} | {
        s.phone for s in catalog.suppliers.values() if s.phone
    }
    settings = Settings(var_dir=var, dashboard_port=free_port(), web_port=live_worker.web_port)
    # a legacy system's export that disagrees by two units somewhere: a report to show
    key, position = next((k, p) for k, p in sorted(company.ledger.positions()) if p.on_hand > 0)
    export = tmp_path / "legacy.csv"
    export.write_text(
        f"location,sku,batch,on_hand\n{key.location},{key.sku},{key.batch},{position.on_hand + 2}\n"
    )
    reconcile_legacy(settings, export)
    # the manager signs in as herself: her name is on what she does
    add_account(
        AccountFile(var / "accounts.json"), AuditLog(var), "zhou.min", Role.MANAGER, "manager-pw", "admin"
    )
    env = {
        **os.environ,
        "STOCKFLOW_VAR_DIR": str(var),
        "STOCKFLOW_WEB_PORT": str(live_worker.web_port),
    }
    log = open(tmp_path / "dashboard.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, *streamlit_args(settings)], env=env, stdout=log, stderr=log)
    browser = None
    shots = Path(os.environ.get("STOCKFLOW_SCREENSHOTS", tmp_path / "screenshots"))
    try:
        wait_until_serving(settings, server)
        browser = Chromium(tmp_path / "chromium", height=1600)
        browser.navigate(settings.dashboard_url)
        browser.wait_for("document.querySelector('input[type=password]')", "the sign-in form")
        browser.evaluate("document.querySelector('input[aria-label=\"Name\"]').focus(); true")
        browser.type_text("zhou.min")
        browser.evaluate("document.querySelector('input[type=password]').focus(); true")
        browser.type_text("manager-pw")
        browser.evaluate(
            "[...document.querySelectorAll('button')].find(b => b.innerText.includes('Sign in')).click()"
        )
        browser.wait_for(
            f"[...document.querySelectorAll({json.dumps(NAV)})].some(a => a.innerText.trim().endsWith('Data quality'))",
            "the manager's navigation",
        )
        assert "Signed in as zhou.min (manager)" in browser.text()
        for title, expected in PAGES.items():
            browser.evaluate(
                f"[...document.querySelectorAll({json.dumps(NAV)})]"
                f".find(a => a.innerText.trim().endsWith({json.dumps(title)})).click()"
            )
            browser.wait_for(
                f"[...document.querySelectorAll('h1')].some(h => h.innerText.trim() === {json.dumps(title)})",
                f"the {title} page",
            )
            if expected.get("metrics"):
                browser.wait_for(
                    f"document.querySelectorAll('[data-testid=stMetric]').length >= {expected['metrics']}",
                    f"the KPIs on {title}",
                )
            if expected.get("chart"):
                browser.wait_for(f"document.querySelector({json.dumps(CHART)})", f"a chart on {title}")
            if expected.get("grid"):
                browser.wait_for(
                    "document.querySelector('[data-testid=stDataFrame] canvas')", "the stock grid"
                )
            if title == "Finance":  # a download is an export: the audit log records it
                button = "[...document.querySelectorAll('button')].find(b => b.innerText.includes('Download the journal'))"
                browser.wait_for(button, "the journal's download button")
                browser.click(button)
                wait_until(
                    lambda: any(
                        r
                        and r["action"] == "dashboard.exported"
                        and (r["actor"], r["role"]) == ("zhou.min", "manager")
                        for r in AuditLog(var).records()
                    ),
                    30,
                    "the export in the audit log",
                )
                tab = "[...document.querySelectorAll('[data-testid=stTab]')].find(t => t.innerText.includes('Receivables'))"
                browser.wait_for(tab, "the finance tabs")
                browser.click(tab)
                browser.wait_for("document.querySelector('[data-testid=stTable]')", "the receivables table")
            text = browser.text()
            assert "Traceback" not in text and "Error" not in text.split("\n")[0], text[:500]
            shown = [p for p in phones if p in text]
            assert not shown, f"full phone numbers on {title}: {shown[:3]}"
            if title == "Finance":  # the numbers are there, masked
                assert len(re.findall(r"\b\d{3}\*{4}\d{4}\b", text)) >= len(catalog.customers)
            if title == "Audit trail":
                assert "intact" in text and int(re.search(r"([\d,]+) entries", text).group(1)) >= 1
            if title == "Suppliers":  # a month of the dock cameras' pallets
                assert int(re.search(r"Pallets inspected\s+([\d,]+)", text).group(1).replace(",", "")) > 100
            if title == "Live stock":
                on_hand = int(re.search(r"On hand\s+([\d,]+)", text).group(1).replace(",", ""))
                assert on_hand > 0
            shot = browser.screenshot(shots / f"{title.split()[0].lower()}.png")
            assert shot.stat().st_size > 20_000, f"{title}: a near-empty screenshot"
    finally:
        if browser is not None:
            browser.close()
        server.terminate()
        server.wait(timeout=20)
        log.close()
