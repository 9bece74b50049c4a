"""Every dashboard page under Streamlit's AppTest, over a company built by the real pipeline
(lake → books → dbt warehouse → forecasts → expectations), checked against the stores."""

import json
import os
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import ui
from dashboards.access import save_language
from stockflow.alerts import AlertType, Severity
from stockflow.config import Settings
from stockflow.forecasting import Decision, Pattern
from stockflow.i18n import Language, catalogue
from stockflow.masking import Area, Role, can_view
from stockflow.reconciliation import Classification
from stockflow.replenishment import SuggestionStatus
from stockflow.risk import RiskLevel
from stockflow.services.accounts import add_account, set_language
from stores.accounts import AccountFile
from stores.audit_log import AuditLog
from stores.planning import Planning
from tests.support import lake_event_ids, wait_until

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
#: one person per role, each with an account of their own
NAMES = {
    Role.MANAGER: "zhou.min",
    Role.WAREHOUSE: "王经理",
    Role.FINANCE: "li.kuaiji",
    Role.AUDITOR: "sun.shen",
}
PASSWORDS = {role: f"pw-{role.value}-2026" for role in Role}


def ensure_account(var: Path, role: Role) -> str:
    """The account of `role`'s person in `var` (made when missing); its name."""
    book = AccountFile(var / "accounts.json")
    if book.get(NAMES[role]) is None:
        add_account(book, AuditLog(var), NAMES[role], role, PASSWORDS[role], "test-admin")
    return NAMES[role]


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def signed_in(role: Role) -> AppTest:
    """The app, signed in through its form as `role`'s person (in STOCKFLOW_VAR_DIR's accounts);
    it shows the role's first page, whatever that page makes of the data there."""
    name = ensure_account(Path(os.environ["STOCKFLOW_VAR_DIR"]), role)
    at = AppTest.from_file(APP, default_timeout=60).run()
    sign_in(at, name, PASSWORDS[role])
    assert at.session_state["account"] == name, [e.value for e in at.error]
    return at


@pytest.fixture(scope="module")
def company(tmp_path_factory, company_copy):
    """This module's copy of the session's company: its tests share it, and leave it changed."""
    copy = company_copy(tmp_path_factory.mktemp("dashboards") / "var")
    return copy.var, copy.catalog


@pytest.fixture
def env(company, monkeypatch):
    var, catalog = company
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")  # no stream worker here: nothing listens there
    return var, catalog


def warehouse(var: Path, sql: str, params=()):
    with duckdb.connect(str(var / "warehouse" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def page(role: Role, path: str) -> AppTest:
    at = signed_in(role)
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def header(column: str) -> str:
    """A table column's English header, from the catalogue (tables show headers, not names)."""
    return catalogue(Language.EN)[f"column.{column}"]


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, [m.label for m in at.metric]
    return found[0]


def test_sign_in_needs_the_account_s_password_and_shows_only_its_role_s_pages(env):
    var, _ = env
    finance = ensure_account(var, Role.FINANCE)
    ensure_account(var, Role.MANAGER)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert at.text_input(key="sign_in_password") is not None
    sign_in(at, finance, PASSWORDS[Role.MANAGER])  # another person's password
    assert "account" not in at.session_state and at.error[0].value == "Wrong name or password."
    sign_in(at, "nobody.here", PASSWORDS[Role.FINANCE])  # no such account: the same answer
    assert "account" not in at.session_state and at.error[0].value == "Wrong name or password."
    sign_in(at, finance.upper(), PASSWORDS[Role.FINANCE])
    assert at.session_state["account"] == finance and not at.exception
    assert any(f"Signed in as **{finance}** (finance)" in c.value for c in at.sidebar.caption)
    # the failed attempts and the sign-in are in the audit log, under the names tried
    entries = [(r["actor"], r["action"]) for r in AuditLog(var).records()[-3:]]
    assert entries == [
        (finance, "dashboard.sign_in_failed"),
        ("nobody.here", "dashboard.sign_in_failed"),
        (finance, "dashboard.signed_in"),
    ]
    # finance gets the books, not the stock pages: they are not even in its navigation
    at.switch_page("pages/finance.py").run()
    assert not at.exception and at.title[0].value == "Finance"
    try:
        at.switch_page("pages/live_stock.py").run()
    except ValueError as exc:  # AppTest knows the pages the last run registered
        assert "Could not find a navigation page" in str(exc)
    else:  # or the page runs and its own guard refuses the role
        assert [e.value for e in at.error] == ["Your role may not see this page."] and not at.dataframe


def test_repeated_wrong_passwords_lock_the_account_and_the_page_says_until_when(tmp_path, monkeypatch):

    from stockflow.services.accounts import unlock_account

    var = tmp_path / "var"
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_SIGN_IN_MAX_FAILURES", "3")
    monkeypatch.setenv("STOCKFLOW_SIGN_IN_LOCKOUT_MINUTES", "10")
    name = ensure_account(var, Role.WAREHOUSE)
    at = AppTest.from_file(APP, default_timeout=30).run()
    for _ in range(2):
        sign_in(at, name, "not-the-password")
        assert at.error[0].value == "Wrong name or password."
    sign_in(at, name, "not-the-password")  # the third: locked
    (stored,) = json.loads((var / "accounts.json").read_text())["accounts"]
    until = datetime.fromisoformat(stored["locked_until"])
    shown = until.astimezone(Settings().tz).strftime("%Y-%m-%d %H:%M")  # the company's time zone
    locked = at.error[0].value
    assert "locked" in locked and shown in locked and "Wrong" not in locked
    # now even the right password is refused, with the same words: they tell nothing of it
    sign_in(at, name, PASSWORDS[Role.WAREHOUSE])
    assert "account" not in at.session_state and at.error[0].value == locked
    sign_in(at, name, "not-the-password")
    assert at.error[0].value == locked
    entries = [(r["actor"], r["role"], r["action"]) for r in AuditLog(var).records()]
    assert entries[1:] == [
        (name, "warehouse", "dashboard.sign_in_failed"),
        (name, "warehouse", "dashboard.sign_in_failed"),
        (name, "warehouse", "dashboard.locked_out"),
        (name, "warehouse", "dashboard.sign_in_while_locked"),
        (name, "warehouse", "dashboard.sign_in_while_locked"),
    ]
    # an administrator unlocks it: the right password works again
    unlock_account(AccountFile(var / "accounts.json"), AuditLog(var), name, "admin")
    sign_in(at, name, PASSWORDS[Role.WAREHOUSE])
    assert at.session_state["account"] == name and not at.exception


def test_a_disabled_account_s_session_ends(env):
    from stockflow.services.accounts import disable_account, enable_account

    var, _ = env
    at = page(Role.AUDITOR, "pages/audit.py")
    assert at.title[0].value == "Audit trail"
    book = AccountFile(var / "accounts.json")
    disable_account(book, AuditLog(var), NAMES[Role.AUDITOR], "admin")
    try:
        at.run()
        assert "account" not in at.session_state
        assert (
            [e.value for e in at.error] == [ui.translator()("ui.signed_out")]
            and not at.dataframe
            and not at.metric
        )
    finally:
        enable_account(book, AuditLog(var), NAMES[Role.AUDITOR], "admin")


def test_overview_shows_each_kpi_with_its_comparison(env):
    var, _ = env
    at = page(Role.MANAGER, "pages/overview.py")
    labels = [m.label for m in at.metric]
    assert labels == [
        "Inventory value", "Turnover days", "Stockout rate", "Dead-stock ratio",
        "Near-expiry value", "Fill rate", "Data freshness p95", "Voucher lag p50",
    ]  # fmt: skip
    ((value,),) = warehouse(
        var,
        "SELECT sum(closing_value) FROM int_location_sku_days"
        " WHERE business_date = (SELECT max(business_date) FROM int_location_sku_days)",
    )
    assert metric(at, "Inventory value") == f"¥{float(value):,.0f}"
    ((stocked_out, active),) = warehouse(
        var,
        "SELECT sum(stockout_sku_days), sum(active_sku_days) FROM kpi_stockout_rate"
        " WHERE business_date > (SELECT max(business_date) FROM kpi_stockout_rate) - 7",
    )
    assert metric(at, "Stockout rate") == f"{stocked_out / active:.1%}"
    ((filled, ordered),) = warehouse(
        var,
        "SELECT sum(filled_qty), sum(ordered_qty) FROM kpi_fill_rate"
        " WHERE business_date > (SELECT max(business_date) FROM kpi_fill_rate) - 7",
    )
    assert metric(at, "Fill rate") == f"{filled / ordered:.1%}" and filled > 0
    # every KPI but voucher lag (posted once here) compares with the week before
    assert all(m.delta for m in at.metric if m.label != "Voucher lag p50")


def test_live_stock_says_when_the_stream_api_cannot_be_reached(env):
    at = page(Role.WAREHOUSE, "pages/live_stock.py")
    assert any("cannot be reached" in w.value for w in at.warning)
    # the ledger drill-down still works from the warehouse
    at.selectbox(key="ledger_sku").set_value("CHI-0005").run()
    assert not at.exception
    frame = at.dataframe[-1].value
    ((movements,),) = warehouse(
        var=env[0], sql="SELECT count(*) FROM stg_books__stock_ledger_entries WHERE sku_id = 'CHI-0005'"
    )
    assert len(frame) == min(movements, 500) and set(frame[header("event_type")]) >= {"goods_receipt"}


def test_alerts_count_what_the_stream_raised(env):
    var, _ = env
    at = page(Role.MANAGER, "pages/alerts.py")
    with duckdb.connect() as con:
        counts = dict(
            con.execute(
                f"SELECT alert_type, count(DISTINCT alert_id) FROM read_parquet('{var}/lake/alerts/**/*.parquet')"
                " GROUP BY ALL"
            ).fetchall()
        )
    assert counts and {m.label: m.value for m in at.metric} == {
        k.replace("_", " ").capitalize(): f"{v:,}" for k, v in counts.items()
    }
    at.multiselect(key="alert_types").set_value(["near_expiry"]).run()
    assert len(at.dataframe[0].value) == min(counts.get("near_expiry", 0), 2000)


def test_cold_chain_shows_readings_against_the_sku_s_range(env):
    var, catalog = env
    at = page(Role.WAREHOUSE, "pages/cold_chain.py")
    location, sku = at.selectbox(key="cold_location").value, at.selectbox(key="cold_sku").value
    low, high = catalog.skus[sku].cold_chain_min_c, catalog.skus[sku].cold_chain_max_c
    ((total, outside),) = warehouse(
        var,
        "SELECT count(*), count(*) FILTER (WHERE celsius < ? OR celsius > ?) FROM stg_lake__temperature_readings"
        " WHERE location_id = ? AND occurred_at >= (SELECT max(occurred_at) FROM stg_lake__temperature_readings"
        " WHERE location_id = ?) - INTERVAL 7 DAY",
        [low, high, location, location],
    )
    assert total > 0
    assert f"{outside:,} of {total:,} readings" in at.caption[0].value
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_finance_journal_trial_balance_and_masked_receivables(env):
    var, catalog = env
    at = page(Role.FINANCE, "pages/finance.py")
    period = at.selectbox(key="finance_period").value
    ((vouchers, lines, debit),) = warehouse(
        var,
        "SELECT count(DISTINCT voucher_id), count(*), sum(debit) FROM fct_voucher_lines WHERE period = ?",
        [period],
    )
    # the newest lines on screen, all of them in the download
    assert len(at.dataframe[0].value) == min(5000, lines) and f"of {lines:,} lines" in at.caption[0].value
    assert metric(at, "Vouchers") == f"{vouchers:,}"
    assert metric(at, "Debit") == f"¥{Decimal(debit):,.2f}" == metric(at, "Credit")
    assert metric(at, "Debit = credit") == "balanced"
    receivables = at.table[0].value
    phones = {c.phone for c in catalog.customers.values()}
    assert len(receivables) == len(catalog.customers) and receivables[header("receivable")].sum() > 0
    assert all(re.fullmatch(r"\d{3}\*{4}\d{4}", p) for p in receivables[header("phone")])
    assert not phones & set(receivables[header("phone")])
    assert all(re.fullmatch(r".\*+.", i) for i in receivables[header("id_number")])
    # the auditor alone sees identity numbers in full (phones stay masked)
    audited = page(Role.AUDITOR, "pages/finance.py").table[0].value
    assert set(audited[header("id_number")]) == {c.id_number for c in catalog.customers.values()}
    assert not phones & set(audited[header("phone")])


def test_data_quality_shows_the_latest_run(env):
    var, catalog = env
    at = page(Role.WAREHOUSE, "pages/data_quality.py")
    with duckdb.connect(str(var / "quality" / "quality.duckdb"), read_only=True) as con:
        ((success, critical),) = con.execute(
            "SELECT success, critical_failures FROM quality_runs ORDER BY checked_at DESC LIMIT 1"
        ).fetchall()
        (results,) = con.execute("SELECT count(*) FROM expectation_results").fetchone()
    assert metric(at, "Latest check") == ("passed" if success else "FAILED")
    assert metric(at, "Critical failures") == str(critical)
    assert len(at.dataframe[0].value) == results > 0


def test_forecasts_page_records_a_review_decision(env, stack, monkeypatch):
    var, _ = env
    at = page(Role.WAREHOUSE, "pages/forecasts.py")
    planning = Planning(var)
    with planning.connect(read_only=True) as con:
        ((series, open_reviews),) = con.execute(
            "SELECT series, (SELECT count(*) FROM reviews WHERE status = 'open') FROM forecast_runs"
        ).fetchall()
    assert metric(at, "Series forecast") == f"{series:,}"
    assert metric(at, "Waiting for review") == f"{open_reviews:,}" and open_reviews > 0
    location, sku = at.selectbox(key="review_target").value

    def decide():
        at.radio(key="review_decision").set_value("override")
        at.number_input(key="review_daily").set_value(12.0)
        at.text_input(key="review_reason").input("promotion next week")
        at.button(key="review_submit").click().run()

    # no stream to take the decision's event: it is refused and the review stays open; the audit
    # log has the decision's entry (written before the event is sent) and the entry voiding it
    audited_before = len(AuditLog(var).records())
    decide()
    assert "Not recorded" in at.error[0].value and not at.success
    assert planning.effective_forecast(location, sku)[0][2] is False
    entry, failed = AuditLog(var).records()[audited_before:]
    assert entry["action"] == "forecast_review.overridden"
    assert failed["action"] == "forecast_review.overridden.failed"
    assert failed["details"]["voids_entry"] == entry["seq"]

    # with a stream worker: the event goes into the stream and the lake, then the decision stands
    worker = stack.worker()
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", worker.url.rsplit(":", 1)[1])
    decide()
    assert not at.exception and at.success, [e.value for e in at.error]
    run_id = planning.open_reviews()[0]["run_id"]
    event_id = f"review:{run_id}:{location}:{sku}"
    wait_until(lambda: event_id in lake_event_ids(stack.lake), 30, "the decision in the lake")
    assert [d[1:] for d in planning.effective_forecast(location, sku)] == [(12.0, True)] * 30
    with planning.connect(read_only=True) as con:
        assert con.execute(
            "SELECT status, reviewer, role, reason FROM reviews WHERE location = ? AND sku = ?",
            [location, sku],
        ).fetchall() == [("overridden", "王经理", "warehouse", "promotion next week")]
    # in the audit log, with who (the signed-in person, not a name typed in), as which role, and why
    last = AuditLog(var).records()[-1]
    assert (last["actor"], last["role"], last["action"], last["reason"]) == (
        "王经理", "warehouse", "forecast_review.overridden", "promotion next week",
    )  # fmt: skip
    assert last["details"]["override_daily"] == 12.0 and last["details"]["event_id"] == event_id
    # a decision without a reason is refused with the core's message, and nothing changes
    at.text_input(key="review_reason").input("")
    at.button(key="review_submit").click().run()
    assert "reason" in at.error[0].value
    # the auditor sees the queue but cannot decide
    audited = page(Role.AUDITOR, "pages/forecasts.py")
    assert len(audited.dataframe) >= 1
    with pytest.raises(KeyError):
        audited.button(key="review_submit")


def test_pages_keep_answering_while_the_warehouse_is_rebuilt(env):
    """A build writes a new file and swaps it in: the overview neither waits nor breaks."""
    import threading

    import streamlit as st

    from stores import warehouse as wh

    var, catalog = env
    result = {}
    build = threading.Thread(target=lambda: result.update(r=wh.build(var, catalog, full=True)))
    build.start()
    seen_building = 0
    try:
        while build.is_alive():
            building = (var / "warehouse" / "building.duckdb").exists()
            st.cache_data.clear()  # read the warehouse each time, not the cached answers
            at = page(Role.MANAGER, "pages/overview.py")
            assert len(at.metric) == 8 and metric(at, "Inventory value").startswith("¥")
            seen_building += building and build.is_alive()
    finally:
        build.join()
    assert result["r"].success and seen_building >= 1


def test_the_audit_page_verifies_the_chain_and_shows_tampering(env):
    var, _ = env
    log = AuditLog(var)
    for i in range(3):
        log.append(
            "李会计", "vouchers.exported", f"vouchers 2026-0{i + 7}", "finance", details={"format": "csv"}
        )
    at = page(Role.AUDITOR, "pages/audit.py")
    assert metric(at, "Chain") == "intact"
    shown = at.dataframe[0].value
    assert len(shown) == len(log.records()) and shown[header("seq")].iloc[0] == len(log.records())
    # someone edits an entry in the file: the page says so and names it
    lines = log.path.read_text(encoding="utf-8").splitlines()
    edited = next(i for i, line in enumerate(lines) if "vouchers 2026-08" in line)
    lines[edited] = lines[edited].replace("2026-08", "2026-06")
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    at = page(Role.AUDITOR, "pages/audit.py")
    assert metric(at, "Chain") == "BROKEN"
    assert f"broken at entry {edited + 1}" in at.error[0].value and "edited" in at.error[0].value
    # the warehouse role has no audit page
    assert not can_view(Role.WAREHOUSE, Area.AUDIT)


def test_suppliers_page_scores_each_supplier_from_its_inspections(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from lake import LakeWriter, now_utc
    from simulator.company import build_catalog
    from stockflow.events import PalletInspected

    var = tmp_path / "var"
    catalog = build_catalog(7)
    catalog.save(var / "masterdata.json")
    first, second = sorted(catalog.suppliers)[:2]
    sku = next(code for code, s in sorted(catalog.skus.items()) if s.batch_managed)
    writer = LakeWriter(var / "lake", "test")
    for i in range(32):
        supplier, damaged = (first, 3) if i < 2 else (second, 0)
        ev = PalletInspected(
            event_id=f"ins-{i}", occurred_at=datetime.now(UTC), source="dock-cam-1", location="WH1",
            inspection_id=f"INS-{i}", supplier=supplier, sku=sku, batch=f"L{i}", cartons=20, layers=4,
            damaged_cartons=damaged, confidence=0.9, verdict="quarantine" if damaged else "accept",
        )  # fmt: skip
        writer.land_applied(ev, ev.model_dump_json().encode(), "scans", 0, i, (), now_utc())
    writer.flush()
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    at = page(Role.WAREHOUSE, "pages/suppliers.py")
    assert metric(at, "Pallets inspected") == "32" and metric(at, "High risk") == "1"
    shown = at.dataframe[0].value
    assert len(shown) == len(catalog.suppliers)
    top = shown.iloc[0]
    assert (top[header("supplier")], top[header("pallets")], top[header("damaged_pallets")]) == (first, 2, 2)
    assert (
        top[header("risk")] == pytest.approx(2.5 / 12) and top[header("level")] == "high"
    )  # not 100% on two pallets
    clean = shown[shown[header("supplier")] == second].iloc[0]
    assert clean[header("risk")] == pytest.approx(0.5 / 40) and clean[header("level")] == "low"
    never = shown[shown[header("pallets")] == 0]
    assert set(never[header("risk")]) == {0.05}  # never inspected: the prior


@pytest.mark.parametrize(
    "path",
    [
        "pages/overview.py", "pages/live_stock.py", "pages/alerts.py", "pages/cold_chain.py",
        "pages/finance.py", "pages/forecasts.py", "pages/data_quality.py", "pages/audit.py",
        "pages/reconciliation.py", "pages/suppliers.py", "pages/ageing.py",
    ],
)  # fmt: skip
def test_on_a_fresh_start_each_page_says_what_it_waits_for(tmp_path, monkeypatch, path):
    """Right after `make run` nothing is built yet: every page explains, none breaks."""
    from simulator.company import build_catalog

    var = tmp_path / "var"
    build_catalog(7).save(var / "masterdata.json")
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")
    at = page(Role.MANAGER, path)
    said = [m.value for m in (*at.info, *at.warning)] + [m.value for m in at.caption]
    assert said, path
    assert not (var / "warehouse").exists() and not (var / "planning.duckdb").exists()  # nothing created


AGEING_AMOUNTS = ["bucket_0_30", "bucket_31_60", "bucket_61_90", "bucket_over_90", "total"]


def test_ageing_shows_each_subledger_by_bucket_per_party_with_totals(env):
    var, _ = env
    at = page(Role.FINANCE, "pages/ageing.py")
    assert at.title[0].value == "Ageing"
    assert [tab.label for tab in at.tabs] == ["Payables (suppliers)", "Receivables (customers)"]
    ((as_of,),) = warehouse(var, "SELECT DISTINCT as_of_date FROM fct_ap_ageing")
    assert f"counted on {as_of.isoformat()}" in at.caption[0].value
    amounts = ", ".join(AGEING_AMOUNTS)
    labels = iter(["Payables open", "of which over 90 days", "Receivables open", "of which over 90 days"])
    for n, (kind, mart) in enumerate((("supplier", "fct_ap_ageing"), ("customer", "fct_ar_ageing"))):
        rows = warehouse(
            var,
            f"SELECT party, accounting_unit, {amounts} FROM {mart} ORDER BY total DESC, accounting_unit, party",
        )
        assert len(rows) >= 3, mart  # the company's known open items
        shown = at.table[n].value
        assert shown.index.name == header(kind)
        assert list(shown.columns) == [header("accounting_unit"), *(header(c) for c in AGEING_AMOUNTS)]
        on_screen = [
            (party, *row) for party, row in zip(shown.index, shown.itertuples(index=False), strict=True)
        ]
        assert on_screen[:-1] == [(p, u, *map(float, a)) for p, u, *a in rows]
        # the totals row last, summed over every party
        totals = [sum(r[2 + i] for r in rows) for i in range(len(AGEING_AMOUNTS))]
        assert on_screen[-1] == ("Total", "", *map(float, totals))
        assert at.metric[2 * n].label == next(labels) and at.metric[2 * n].value == f"¥{totals[-1]:,.2f}"
        assert at.metric[2 * n + 1].label == next(labels)
        assert at.metric[2 * n + 1].value == f"{'-' if totals[3] < 0 else ''}¥{abs(totals[3]):,.2f}"
    assert len(at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")) == 2  # one per subledger
    # the warehouse role has no finance pages
    assert not can_view(Role.WAREHOUSE, Area.FINANCE)


def test_the_ageing_page_says_when_nothing_is_open(tmp_path, monkeypatch):
    """A warehouse built before the ageing marts, then with nothing open, then only receivables:
    the page says which, and shows what there is."""
    import streamlit as st

    var = tmp_path / "var"
    (var / "warehouse").mkdir(parents=True)
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    en = catalogue(Language.EN)
    columns = ", ".join(f"{c} DECIMAL(38, 2)" for c in AGEING_AMOUNTS)

    def change_warehouse(sql: str) -> None:
        with duckdb.connect(str(var / "warehouse" / "warehouse.duckdb")) as con:
            con.execute(sql)
        st.cache_data.clear()  # the page reads it again

    def create(mart: str) -> str:
        return f"CREATE TABLE {mart} (accounting_unit VARCHAR, party VARCHAR, {columns}, as_of_date DATE)"

    change_warehouse(create("fct_ap_ageing"))
    at = page(Role.FINANCE, "pages/ageing.py")
    assert [i.value for i in at.info] == [en["ageing.not_built"]] and not at.table
    change_warehouse(create("fct_ar_ageing"))
    at = page(Role.FINANCE, "pages/ageing.py")
    assert [i.value for i in at.info] == [en["ageing.no_open_items"]] and not at.table and not at.tabs
    change_warehouse(
        "INSERT INTO fct_ar_ageing VALUES ('DIST', 'CUS009', 0, 0, 0, 12.50, 12.50, '2026-09-30')"
    )
    at = page(Role.FINANCE, "pages/ageing.py")
    assert [i.value for i in at.info] == [en["ageing.none_payable"]]
    assert "counted on 2026-09-30" in at.caption[0].value
    (shown,) = at.table
    assert list(shown.value.index) == ["CUS009", "Total"]
    assert [m.value for m in at.metric] == ["¥12.50", "¥12.50"]
    # a bar per bucket, youngest first
    (chart,) = at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    buckets = [en[f"column.{c}"] for c in AGEING_AMOUNTS[:4]]
    assert (
        spec["encoding"]["x"]["sort"] == buckets
        and spec["encoding"]["x"]["title"] == en["ageing.axis_bucket"]
    )
    assert spec["encoding"]["y"]["title"] == en["ageing.axis_amount"]


def test_trial_balance_totals_are_compared_exactly_in_the_warehouse(tmp_path):
    from dashboards import data
    from stockflow.config import Settings

    settings = Settings(var_dir=tmp_path)
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb")) as con:
        con.execute(
            "CREATE TABLE fct_voucher_lines (accounting_unit VARCHAR, period VARCHAR,"
            " debit DECIMAL(18, 2), credit DECIMAL(18, 2))"
        )
        # 0.1 + 0.2 is not 0.3 in floats; in DECIMAL it is
        con.execute(
            "INSERT INTO fct_voucher_lines VALUES ('A', '2026-01', 0.10, 0), ('A', '2026-01', 0.20, 0),"
            " ('A', '2026-01', 0, 0.30), ('B', '2026-02', 0.01, 0)"
        )
    assert data.trial_balance_totals(settings, "2026-01") == {
        "debit": pytest.approx(0.3),
        "credit": pytest.approx(0.3),
        "balanced": True,
    }
    assert data.trial_balance_totals(settings, None)["balanced"] is False  # B is a cent out
    assert data.trial_balance_totals(settings, None, "A")["balanced"] is True
    assert data.trial_balance_totals(settings, "2026-02", "B")["balanced"] is False


def test_every_page_masks_a_mobile_number_inside_any_text(env):
    """Not only the Finance page: a number someone typed into a reason shows masked in the audit
    trail too (masking by value happens wherever a table is shown)."""
    var, _ = env
    AuditLog(var).append("李会计", "customer.note", "CUST-88", reason="客户电话 138 1234 5678，请回电")
    at = page(Role.AUDITOR, "pages/audit.py")
    text = at.dataframe[0].value.to_csv(index=False)
    assert "1234 5678" not in text and "12345678" not in text
    assert "138****5678" in text


# ----------------------------------------------------------------------------- languages
ALL_PAGES = [
    "pages/overview.py", "pages/live_stock.py", "pages/alerts.py", "pages/cold_chain.py",
    "pages/finance.py", "pages/forecasts.py", "pages/data_quality.py", "pages/audit.py",
    "pages/reconciliation.py", "pages/suppliers.py", "pages/ageing.py", "pages/dishes.py",
    "pages/recipe_variance.py", "pages/production.py",
]  # fmt: skip
HAN = re.compile(r"[\u4e00-\u9fff]")
#: Latin words a Chinese interface may show: codes, units and names of standards
LATIN_ALLOWED = {
    "SKU",
    "GTIN",
    "WAPE",
    "CSV",
    "ID",
    "P95",
    "P50",
    "B2B",
    "stockflow",
    "reconcile_stock",
    "GS1",
}
#: the stored words of the statuses and classes tables show (shown translated in Chinese)
VOCABULARY = {
    m.value
    for vocabulary in (AlertType, Severity, Pattern, SuggestionStatus, Decision, Classification, RiskLevel)
    for m in vocabulary
} - {"high", "low", "medium"} | {"open"}
KEY_LIKE = re.compile(r"\b[a-z_]+\.[a-z_]+(\.[a-z_]+)*\b")


def labels_on(at: AppTest) -> dict[str, list[str]]:
    """What a page labels (not the data it shows): titles, headings, captions, notices, metric
    and widget labels, tab names, table headers, status words, chart axis and legend titles."""
    found: dict[str, list[str]] = {
        "titles": [e.value for e in (*at.title, *at.subheader, *at.header)],
        "notices": [e.value for e in (*at.caption, *at.info, *at.warning, *at.error, *at.success)],
        "metrics": [m.label for m in at.metric],
        "widgets": [
            w.label
            for w in (*at.selectbox, *at.multiselect, *at.radio, *at.text_input, *at.number_input, *at.slider)
        ]
        + [b.label for b in at.button],
        "tabs": [tab.label for tab in at.tabs],
        "headers": [str(c) for d in at.dataframe for c in d.value.columns]
        + [str(c) for d in at.table for c in (*d.value.columns, d.value.index.name) if c],
        "charts": [],
    }
    found["values"] = [
        str(v)
        for d in at.dataframe
        for column in d.value.columns
        if d.value[column].dtype == object
        for v in d.value[column].dropna().unique()
        if isinstance(v, str) and v in VOCABULARY
    ]
    for chart in at.get("arrow_vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        found["charts"] += [str(v) for v in _titles(spec)]
    return found


def _titles(node):
    """Every title a chart shows: the ones given, and a channel's field name where none is given
    (Vega-Lite shows the field's name as the axis, legend or tooltip title then)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "encoding" and isinstance(value, dict):
                for channel, encodings in value.items():
                    if channel in ("x2", "y2", "detail", "order"):
                        continue
                    for encoding in encodings if isinstance(encodings, list) else [encodings]:
                        if not isinstance(encoding, dict):
                            continue
                        if "title" in encoding:
                            if isinstance(encoding["title"], str):
                                yield encoding["title"]
                        elif "field" in encoding:
                            yield encoding["field"]
            elif key == "title" and isinstance(value, str):
                yield value
            else:
                yield from _titles(value)
    elif isinstance(node, list):
        for item in node:
            yield from _titles(item)


def english_words(text: str) -> list[str]:
    """Latin words of two or more letters not allowed in a Chinese label (fields such as
    hashes, codes and numbers are not words)."""
    words = re.findall(r"(?<![\w`])[A-Za-z][A-Za-z_]+(?![\w`])", re.sub(r"`[^`]*`", "", text))
    return [w for w in words if w not in LATIN_ALLOWED and not w.isupper()]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_page_speaks_one_language(env, monkeypatch, language):
    """In Chinese no label is English or a message key; in English no label is Chinese. Data
    (names, codes) may be in either; labels come only from the catalogue of the language."""
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", language)
    problems = []
    for path in ALL_PAGES:
        role = Role.FINANCE if path == "pages/finance.py" else Role.MANAGER
        at = page(role, path)
        if path == "pages/live_stock.py":  # a SKU's ledger: its table and chart too
            at.selectbox(key="ledger_sku").set_value("CHI-0005").run()
        assert not at.exception, (path, [e.value for e in at.exception])
        for kind, texts in labels_on(at).items():
            for text in texts:
                if KEY_LIKE.fullmatch(text.strip()) or any(
                    m.group(0).count(".") and m.group(0).split(".")[0] in {"page", "column", "value", "kpi"}
                    for m in KEY_LIKE.finditer(text)
                ):
                    problems.append((path, kind, "key", text))
                elif (
                    language == "zh_CN" and kind != "charts" and english_words(text) and not HAN.search(text)
                ):
                    problems.append((path, kind, "english", text))
                elif language == "zh_CN" and english_words(text) and kind in ("headers", "metrics", "tabs"):
                    problems.append((path, kind, "english", text))
                elif language == "zh_CN" and kind == "values":
                    problems.append((path, kind, "stored word", text))
                elif language == "en" and HAN.search(text) and kind not in ("notices", "values"):
                    problems.append((path, kind, "chinese", text))
    assert not problems, "\n".join(map(str, problems))


def test_a_person_picks_a_language_before_signing_in_and_an_account_keeps_its_own(env, monkeypatch):
    var, _ = env
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.text_input(key="sign_in_name").label == "Name"
    at.selectbox(key="language_choice").select_index(list(Language).index(Language.ZH_CN)).run()
    assert at.text_input(key="sign_in_name").label == "账户名"
    sign_in(at, ensure_account(var, Role.MANAGER), PASSWORDS[Role.MANAGER])
    at.switch_page("pages/overview.py").run()
    assert at.title[0].value == "概览" and at.metric[0].label == "库存金额"
    # a person's saved choice (the sidebar's switch keeps it with the account) opens their sessions
    name = ensure_account(var, Role.WAREHOUSE)
    save_language(Settings(var_dir=var), name, "zh_CN")
    try:
        assert AccountFile(var / "accounts.json").get(name).language == "zh_CN"
        assert page(Role.WAREHOUSE, "pages/overview.py").title[0].value == "概览"
        assert page(Role.MANAGER, "pages/overview.py").title[0].value == "Overview"  # the company's
    finally:
        set_language(AccountFile(var / "accounts.json"), AuditLog(var), name, None, "test-admin")
