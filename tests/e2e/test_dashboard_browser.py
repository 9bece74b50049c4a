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
from stockflow.finance import PartyKind
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
from tests.support.open_items import read_open_items

pytestmark = pytest.mark.e2e

#: each page by its title's key, and what must show on it
PAGES = {
    "page.overview": {"metrics": 8, "chart": True},
    "page.live_stock": {"metrics": 5, "grid": True},
    "page.alerts": {"metrics": 1, "chart": True},
    "page.cold_chain": {"chart": True},
    "page.finance": {"metrics": 4},
    "page.ageing": {"metrics": 2, "chart": True},
    # the company sells no dishes: both restaurant pages say so
    "page.dishes": {"empty": "dishes.none"},
    "page.recipe_variance": {"empty": "variance.none"},
    "page.forecasts": {"metrics": 4, "chart": True},
    "page.data_quality": {"metrics": 4, "chart": True},
    "page.audit": {"metrics": 1},
    "page.reconciliation": {"grid": True},
    "page.suppliers": {"metrics": 3, "chart": True},
    # nor does it make anything
    "page.production": {"empty": "production.none"},
    "page.master_data": {"metrics": 6, "grid": True},
    "page.devices": {},
    "page.conflicts": {},
}
HAN = re.compile(r"[\u4e00-\u9fff]")
WORD_RUN = re.compile(r"[\w.]+")


def catalogue_entries(language: str) -> dict[str, str]:
    """key → message, read from the .po file's text (not through the translator)."""
    path = (
        Path(__file__).resolve().parents[2]
        / "stockflow"
        / "locales"
        / language
        / "LC_MESSAGES"
        / "stockflow.po"
    )
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', path.read_text(encoding="utf-8"), re.M)
    return {key: json.loads(f'"{message}"') for key, message in pairs}


def fragments(message: str, minimum: int) -> list[str]:
    """The literal stretches of a message between its fields, long enough to be telling."""
    return [p.strip() for p in re.split(r"\{[^}]*\}|\*\*", message) if len(p.strip()) >= minimum]


def other_language_shown(text: str, language: str) -> list[str]:
    """Keys, or messages of the other language, found in a page's text."""
    keys = catalogue_entries("en")
    # a key shows as a whole run of word characters and dots: the text's runs, looked up
    # (one regex search per key and page took seconds over a walk of every page)
    runs = set(WORD_RUN.findall(text))
    found = [
        k
        for k in keys
        if (k in runs if WORD_RUN.fullmatch(k) else re.search(rf"(?<![\w.]){re.escape(k)}(?![\w.])", text))
    ]
    if language == "zh_CN":  # English labels: messages of several words
        for message in catalogue_entries("en").values():
            found += [f for f in fragments(message, 12) if " " in f and f in text]
    else:  # Chinese labels
        for message in catalogue_entries("zh_CN").values():
            found += [f for f in fragments(message, 4) if HAN.search(f) and f in text]
    return found


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


def test_every_page_renders_in_chromium_and_no_phone_number_shows(tmp_path, live_worker, company_copy):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed (make test installs Debian's chromium package)")
    var = tmp_path / "var"
    company = company_copy(var)
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
        for language in ("en", "zh_CN"):
            walk_every_page(browser, settings, var, catalog, phones, language, shots / language)
    finally:
        if browser is not None:
            browser.close()
        server.terminate()
        server.wait(timeout=20)
        log.close()


def owed_supplier(var: Path) -> str:
    """A supplier the books owe something (from the open items the company's lake holds)."""
    return next(
        i.party
        for i in read_open_items(var / "lake")
        if i.party_kind is PartyKind.SUPPLIER and i.open_amount > 0
    )


def manager_exports(var: Path) -> int:
    """Downloads the audit log records as the manager's."""
    return sum(
        1
        for r in AuditLog(var).records()
        if r and r["action"] == "dashboard.exported" and (r["actor"], r["role"]) == ("zhou.min", "manager")
    )


def gtin13(base: str) -> str:
    """A valid GTIN-13: `base` (12 digits) and its GS1 check digit."""
    return base + str((10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(base)) % 10) % 10)


#: rows with deliberate errors, as (row, column, reason) the dry run must name
FAULTY_ROWS = [(3, "gtin", "bad_gtin"), (4, "supplier", "unknown_supplier"), (5, "name", "required")]


def dry_run_a_faulty_file(browser, words, path: Path) -> None:
    """On the Master data page's import: upload a CSV with errors, press the dry run, and see
    every problem row (file, row, column, reason) on the page; nothing may be imported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "sku,gtin,name,category,supplier\n"
        f"E2E-OK,{gtin13('200000000101')},good row,tea,\n"
        "E2E-GTIN,2000000001015,bad check digit,tea,\n"
        f"E2E-SUP,{gtin13('200000000102')},no such supplier,tea,NO-SUCH-SUPPLIER\n"
        f"E2E-NONAME,{gtin13('200000000103')},,tea,\n",
        encoding="utf-8",
    )
    tab = f"[...document.querySelectorAll('[data-testid=stTab]')].find(t => t.innerText.includes({json.dumps(words['master_data.tab_import'])}))"
    browser.wait_for(tab, "the import tab")
    browser.click(tab)
    browser.wait_for(
        "document.querySelector('[data-testid=stFileUploader] input[type=file]')", "the uploader"
    )
    root = browser.send("DOM.getDocument")["root"]["nodeId"]
    found = browser.send(
        "DOM.querySelector", nodeId=root, selector="[data-testid=stFileUploader] input[type=file]"
    )
    browser.send("DOM.setFileInputFiles", files=[str(path)], nodeId=found["nodeId"])
    button = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === {})"
    check, run = (
        button.format(json.dumps(words["master_data.dry_run"])),
        button.format(json.dumps(words["master_data.import"])),
    )
    browser.wait_for(f"{check} && !{check}.disabled", "the dry run button, once the file is uploaded")
    browser.click(check)
    cells = "[...document.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim())"
    browser.wait_for(f"{cells}.includes('bad_gtin')", "the problems of the dry run")
    shown = browser.evaluate(cells)
    assert words["master_data.import_problems"].format(count=len(FAULTY_ROWS)) in browser.text()
    for row, column, reason in FAULTY_ROWS:
        assert {"skus.csv", str(row), column, reason} <= set(shown), (row, column, reason, shown[:40])
    assert browser.evaluate(f"{run}.disabled"), "import stays off after a dry run with problems"


def walk_every_page(browser, settings, var, catalog, phones, language, shots):
    """Sign in with the interface in `language` (a link's `?lang=`), open every page, check it
    shows its content in that language only and no full phone number."""
    words = catalogue_entries(language)
    browser.navigate(f"{settings.dashboard_url}?lang={language}")
    browser.wait_for("document.querySelector('input[type=password]')", "the sign-in form")
    browser.evaluate(
        f"document.querySelector('input[aria-label={json.dumps(words['sign_in.name'])}]').focus(); true"
    )
    browser.type_text("zhou.min")
    browser.evaluate("document.querySelector('input[type=password]').focus(); true")
    browser.type_text("manager-pw")
    browser.evaluate(
        "[...document.querySelectorAll('button')]"
        f".find(b => b.innerText.includes({json.dumps(words['sign_in.submit'])})).click()"
    )
    last = words["page.data_quality"]
    browser.wait_for(
        f"[...document.querySelectorAll({json.dumps(NAV)})].some(a => a.innerText.trim().endsWith({json.dumps(last)}))",
        "the manager's navigation",
    )
    signed_in = words["ui.signed_in_as"].format(name="zhou.min", role=words["role.manager"]).replace("**", "")
    assert signed_in in browser.text()
    for key, expected in PAGES.items():
        title = words[key]
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
            browser.wait_for("document.querySelector('[data-testid=stDataFrame] canvas')", "the stock grid")
        if expected.get("empty"):
            notice = json.dumps(words[expected["empty"]])
            browser.wait_for(f"document.body.innerText.includes({notice})", f"what {title} says without data")
        if key == "page.ageing":  # the payables table (the first tab), with its totals row
            total = json.dumps(words["ageing.total_row"])
            browser.wait_for(
                f"[...document.querySelectorAll('[data-testid=stTable]')].some(t => t.innerText.includes({total}))",
                "the payables per supplier",
            )
        if key == "page.finance":  # a download is an export: the audit log records it
            label = words["finance.download_journal"]
            button = f"[...document.querySelectorAll('button')].find(b => b.innerText.includes({json.dumps(label)}))"
            browser.wait_for(button, "the journal's download button")
            before = manager_exports(var)
            browser.click(button)
            wait_until(lambda n=before: manager_exports(var) > n, 30, "the export in the audit log")
            tab_label = words["finance.tab_receivables"]
            tab = f"[...document.querySelectorAll('[data-testid=stTab]')].find(t => t.innerText.includes({json.dumps(tab_label)}))"
            browser.wait_for(tab, "the finance tabs")
            # the download reruns the page, which may drop a click made meanwhile: click again
            # until the receivables table is shown (hidden tabs' tables are in the page too)
            shown = (
                "[...document.querySelectorAll('[data-testid=stTable]')]"
                ".some(e => e.offsetParent !== null && /\\d{3}\\*{4}\\d{4}/.test(e.innerText))"
            )
            wait_until(
                lambda s=shown, t=tab: browser.evaluate(f"!!({s})") or browser.click(t),
                60,
                "the receivables table",
                1,
            )
        if key == "page.master_data" and language == "en":  # once: a faulty file's dry run
            dry_run_a_faulty_file(browser, words, var.parent / "faulty" / "skus.csv")
        text = browser.text()
        assert "Traceback" not in text and "Error" not in text.split("\n")[0], text[:500]
        shown = [p for p in phones if p in text]
        assert not shown, f"full phone numbers on {title}: {shown[:3]}"
        wrong = other_language_shown(text, language)
        assert not wrong, f"{title} ({language}) shows keys or the other language: {wrong[:5]}"
        if language == "zh_CN":
            assert HAN.search(title)
        if key == "page.finance":  # the numbers are there, masked
            assert len(re.findall(r"\b\d{3}\*{4}\d{4}\b", text)) >= len(catalog.customers)
        if key == "page.ageing":  # the open payables, per supplier, by bucket (the first tab)
            assert words["column.bucket_over_90"] in text and words["ageing.total_row"] in text
            assert owed_supplier(var) in text
        if key == "page.audit":
            assert words["audit.intact"] in text
            entries = re.split(r"[;；{]", words["audit.caption"].split("{entries}")[1])[0]
            assert int(re.search(rf"([\d,]+){re.escape(entries)}", text).group(1).replace(",", "")) >= 1
        if key == "page.suppliers":  # a month of the dock cameras' pallets
            label = re.escape(words["suppliers.pallets"])
            assert int(re.search(rf"{label}\s+([\d,]+)", text).group(1).replace(",", "")) > 100
        if key == "page.live_stock":
            label = re.escape(words["stock.on_hand"])
            assert int(re.search(rf"{label}\s+([\d,]+)", text).group(1).replace(",", "")) > 0
        shot = browser.screenshot(shots / f"{key.removeprefix('page.')}.png")
        assert shot.stat().st_size > 20_000, f"{title}: a near-empty screenshot"
    if language == "zh_CN":  # the sidebar's switch turns the page English, and the account keeps it
        switch = "document.querySelector('[data-testid=stSidebar] [data-testid=stSelectbox] button[aria-haspopup=listbox]')"
        option = "[...document.querySelectorAll('[role=option]')].find(o => o.innerText.trim() === 'English')"
        # a rerun of the page (the last page's own work) may drop a click made meanwhile: click
        # the switch again until its options are open
        wait_until(
            lambda: browser.evaluate(f"!!({option})") or browser.click(switch),
            60,
            "the language options",
            2,
        )
        browser.click(option)
        english = catalogue_entries("en")[list(PAGES)[-1]]  # the page last open
        browser.wait_for(
            f"[...document.querySelectorAll('h1')].some(h => h.innerText.trim() === {json.dumps(english)})",
            "the page in English",
        )
        wait_until(
            lambda: AccountFile(var / "accounts.json").get("zhou.min").language == "en", 10, "the choice kept"
        )
        words = catalogue_entries("en")
    browser.evaluate(
        f"[...document.querySelectorAll('button')].find(b => b.innerText.includes({json.dumps(words['ui.sign_out'])})).click()"
    )
