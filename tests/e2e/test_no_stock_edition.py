"""The no-stock edition (进销存(无库存版)) as a service business starts it: `stockflow init
--edition no_stock`, its service items, `stockflow up` (started once for the module). The broker
has none of the stock module's topics; a service order and its delivery go through the service
worker and post a balanced revenue voucher at 6%; a delivery beyond the order is dead-lettered;
the dashboard's router has the Services page and no stock page."""

import asyncio
import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from stockflow.editions import STOCK_TOPICS
from stockflow.events import Topic
from stockflow.watermarks import is_watermark_row
from stores.services import ServiceRecords
from tests.support import free_port, kill_left_behind, post_json, wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboards" / "streamlit_app.py")


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


@pytest.fixture(scope="module")
def service_company(tmp_path_factory):
    root = tmp_path_factory.mktemp("no-stock")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKFLOW_")}
    env.update(
        PYTHONPATH=str(REPO),
        STOCKFLOW_LANGUAGE="en",
        STOCKFLOW_BROKER_PORT=str(free_port()),
        STOCKFLOW_WEB_PORT=str(free_port()),
        STOCKFLOW_PREFECT_PORT=str(free_port()),
        STOCKFLOW_DASHBOARD_PORT=str(free_port()),
        STOCKFLOW_DRAIN_TIMEOUT_SECONDS="20",
        STOCKFLOW_VOUCHER_INTERVAL_SECONDS="15",
    )
    company = root / "consulting"
    made = stockflow(root, env, "init", str(company), "--name", "Bright Consulting", "--edition", "no_stock")
    assert made.returncode == 0, made.stderr + made.stdout
    assert "STOCKFLOW_EDITION=no_stock" in (company / ".env").read_text()
    for code, name, unit, price in (
        ("CONSULT", "咨询服务", "hour", "333.33"),
        ("TRAIN", "培训课程", "session", "1200"),
    ):
        added = stockflow(company, env, "services", "items", "add", code, "--name", name, "--unit", unit,
                          "--price", price)  # fmt: skip
        assert added.returncode == 0, added.stderr + added.stdout
    log_path = root / "up.log"
    log = open(log_path, "wb")
    up = subprocess.Popen([sys.executable, "-m", "cli.main", "up"], cwd=company, env=env, stdout=log,
                          stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(
            lambda: "Ctrl-C stops everything" in log_path.read_text() or up.poll() is not None,
            240,
            "the banner",
        )
        assert up.poll() is None, log_path.read_text()[-3000:]
        yield company, env, log_path
    finally:
        down = stockflow(company, env, "down", timeout=180)
        try:
            up.wait(timeout=60)
        finally:
            if up.poll() is None:
                up.kill()
            kill_left_behind(company / "var")
        log.close()
        assert down.returncode == 0, down.stderr


async def _broker_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_no_stock_topic_is_created(service_company):
    company, env, log_path = service_company
    topics = asyncio.run(_broker_topics(f"127.0.0.1:{env['STOCKFLOW_BROKER_PORT']}"))
    assert "service_events" in topics, topics
    assert not topics & set(STOCK_TOPICS), topics
    assert not topics & {t.value for t in Topic} and "inventory_changed" not in topics
    out = log_path.read_text()
    assert "no-stock edition" in out and "stock API" not in out, out[-2000:]


def test_a_delivery_posts_a_balanced_revenue_voucher_at_6_percent(service_company):
    company, env, _ = service_company
    token = (company / "var" / "service.token").read_text().strip()
    url = f"http://127.0.0.1:{env['STOCKFLOW_WEB_PORT']}/service-events"
    now = datetime.now(UTC).isoformat()
    base = {"occurred_at": now, "source": "crm", "customer": "C001"}
    events = [
        {**base, "event_type": "service_order_placed", "event_id": "so-1", "service_order": "SO-1",
         "lines": [{"item": "CONSULT", "qty": "4"}, {"item": "TRAIN", "qty": "1", "unit_price": "999.99"}]},
        {**base, "event_type": "service_delivered", "event_id": "d-1", "service_order": "SO-1", "line": 1,
         "qty": "2.75", "delivered_by": "li.na"},
        {**base, "event_type": "service_delivered", "event_id": "d-2", "service_order": "SO-1", "line": 1,
         "qty": "1.5"},  # 1.25 hours left: refused
        {**base, "event_type": "consumption_recorded", "event_id": "c-1", "service_order": "SO-1",
         "material": "打印耗材", "qty": "3", "cost": "12.345"},
    ]  # fmt: skip
    status, answer = post_json(url, events, token)
    assert status == 202, answer
    records = ServiceRecords(company / "var" / "lake")
    vouchers = wait_until(lambda: records.voucher_lines(), 60, "the revenue voucher landed")
    wait_until(lambda: records.consumptions(), 60, "the consumption landed")
    # by hand: 2.75 h × 333.33 = 916.6575 → 916.66; VAT 916.66 × 6% = 54.9996 → 55.00; 971.66
    assert {(v["account_code"], v["debit"], v["credit"]) for v in vouchers} == {
        ("1122", Decimal("971.66"), Decimal("0.00")),
        ("5001", Decimal("0.00"), Decimal("916.66")),
        ("22210102", Decimal("0.00"), Decimal("55.00")),
    }
    assert sum(v["debit"] for v in vouchers) == sum(v["credit"] for v in vouchers)
    assert {v["source_event_id"] for v in vouchers} == {"d-1"}  # the delivery beyond the order booked nothing
    lines = {row["line"]: row for row in records.order_lines()}
    assert lines[1]["delivered"] == Decimal("2.75") and lines[1]["left"] == Decimal("1.25")
    assert records.consumptions()[0]["cost"] == Decimal("12.35")
    dead = wait_until(
        lambda: [p for p in (company / "var" / "lake" / "dead_letters").glob("date=*/part-*.parquet")],
        60,
        "the refused delivery dead-lettered",
    )
    import pyarrow.parquet as pq

    reasons = {r["event_id"]: r["reason"] for p in dead for r in pq.read_table(p).to_pylist()}
    assert reasons == {"d-2": "beyond_order"}
    # the posting flow takes the voucher into the books: numbered, exported like any other
    settings = dict(
        line.split("=", 1)
        for line in (company / ".env").read_text().splitlines()
        if line.startswith("STOCKFLOW_")
    )
    period = datetime.now(ZoneInfo(settings["STOCKFLOW_TIMEZONE"])).strftime("%Y-%m")  # the company's month

    def exported() -> list[dict[str, str]]:
        out = stockflow(company, env, "vouchers", "export", period)
        assert out.returncode == 0, out.stderr + out.stdout
        *rows, mark = csv.reader(io.StringIO(out.stdout.lstrip("\ufeff")))
        assert is_watermark_row(mark), mark  # who took the export, and when
        return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]

    rows = wait_until(exported, 120, "the revenue voucher posted in the books")
    assert {(r["account_code"], Decimal(r["debit"]), Decimal(r["credit"])) for r in rows} == {
        ("1122", Decimal("971.66"), Decimal("0.00")),
        ("5001", Decimal("0.00"), Decimal("916.66")),
        ("22210102", Decimal("0.00"), Decimal("55.00")),
    }
    assert {r["voucher_id"] for r in rows} == {"V:services:d-1"} and all(r["voucher_no"] for r in rows)


def test_the_router_has_the_services_page_and_no_stock_page(service_company, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from stockflow.masking import Role
    from stockflow.services.accounts import add_account
    from stores.accounts import AccountFile
    from stores.audit_log import AuditLog

    company, _, _ = service_company
    var = company / "var"
    add_account(
        AccountFile(var / "accounts.json"), AuditLog(var), "wang.li", Role.MANAGER, "pw-services-2026", "t"
    )
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_EDITION", "no_stock")
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sign_in_name").input("wang.li")
    at.text_input(key="sign_in_password").input("pw-services-2026")
    at.button[0].click().run()
    assert not at.exception, at.exception
    at.switch_page("pages/services.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Services"
    assert any("C001" in str(frame.value) for frame in at.dataframe)
    for stock_page in (
        "pages/live_stock.py",
        "pages/reconciliation.py",
        "pages/cold_chain.py",
        "pages/overview.py",
    ):
        try:
            at.switch_page(stock_page).run()
        except ValueError as exc:  # AppTest knows the pages the last run registered
            assert "Could not find a navigation page" in str(exc)
        else:  # or the page runs, and the edition's guard refuses it before it shows anything
            assert [e.value for e in at.error] == ["This page is not part of this edition."], stock_page
            assert not at.title and not at.dataframe and not at.metric, stock_page
