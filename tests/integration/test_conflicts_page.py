"""The Conflicts page under Streamlit's AppTest, over conflicts a real ledger found and the lake
writer landed: who sees and who decides, both sides of a conflict in either language, and a
decision the page refuses (no reason) or cannot publish (no workers) checked in the audit log."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lake import LakeWriter, conflict_decision_row, conflict_row
from stockflow.config import Settings
from stockflow.conflicts import ConflictKind, find_conflicts
from stockflow.events import ConflictDecided, CycleCount, PosLine, PosSale, StockAdjustment, decision_event_id
from stockflow.i18n import Language, catalogue
from stockflow.ledger import Ledger
from stockflow.masking import Area, Role, can_decide, can_view
from stockflow.masterdata import Location, LocationKind, Sku
from stockflow.masterdata_changes import Upsert
from stockflow.reconciliation import variance_adjustment_id
from stockflow.services.accounts import add_account
from stockflow.services.masterdata import change_master_data
from stores.accounts import AccountFile
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py")
PAGE = "pages/conflicts.py"
NAMES = {
    Role.MANAGER: "zhou.min",
    Role.WAREHOUSE: "王仓管",
    Role.FINANCE: "li.kuaiji",
    Role.AUDITOR: "sun.shen",
}
PASSWORDS = {role: f"pw-{role.value}-2026" for role in Role}
T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
EDGE = "s1-box"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def sale(event_id: str, qty: int, minutes: float) -> PosSale:
    return PosSale(
        event_id=event_id, occurred_at=at(minutes), source="till-1", store="S1", ticket=f"T-{event_id}",
        channel="retail", lines=[PosLine(sku="RICE-5KG", qty=Decimal(qty), unit_price=Decimal("50"))],
    )  # fmt: skip


def write_company(var: Path) -> dict[ConflictKind, str]:
    """Master data and accounts through the core's use cases; two conflicts a real ledger found
    (one decided), landed by the lake writer. Returns the conflict ids by kind."""
    settings = Settings(var_dir=var)
    store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
    proposals = [
        Upsert(
            Location(location="S1", name="徐汇店", kind=LocationKind.STORE, latitude=31.19, longitude=121.43)
        ),
        Upsert(Sku(sku="RICE-5KG", gtin="4006381333931", name="东北大米 5kg", category="dry_goods")),
    ]
    assert change_master_data(store, None, AuditLog(var), proposals, "setup").ok
    for role, name in NAMES.items():
        add_account(
            AccountFile(var / "accounts.json"), AuditLog(var), name, role, PASSWORDS[role], "test-admin"
        )
    ledger = Ledger(store.load())
    ledger.apply(StockAdjustment(event_id="f1", occurred_at=at(0), source="hq", location="S1", sku="RICE-5KG",
                                 qty=Decimal(10), reason="found"))  # fmt: skip
    ledger.apply(CycleCount(event_id="c1", occurred_at=at(60), source="hq", location="S1", count_id="C-1",
                            sku="RICE-5KG", counted_qty=Decimal(7)))  # fmt: skip
    ledger.apply(StockAdjustment(event_id=variance_adjustment_id("c1"), occurred_at=at(61), source="hq",
                                 location="S1", sku="RICE-5KG", qty=Decimal(-3), reason="count_variance",
                                 count_id="C-1"))  # fmt: skip
    writer = LakeWriter(settings.lake_dir, "test")
    ids = {}
    for event in (sale("late-1", 3, minutes=30), sale("late-2", 20, minutes=90)):
        (conflict,) = find_conflicts(ledger, event, ledger.apply(event), EDGE, at(600))
        writer.append("conflicts", conflict_row(conflict, 0, writer.next_seq()))
        ids[conflict.kind] = conflict.conflict_id
    negative = ids[ConflictKind.NEGATIVE_STOCK]
    decided = ConflictDecided(
        event_id=decision_event_id(negative), occurred_at=at(700), source="conflicts", conflict_id=negative,
        location="S1", sku="RICE-5KG", decision="adjust", on_hand=10, decided_by="zhou.min", role="manager",
        note="recounted: 10 there",
    )  # fmt: skip
    writer.append("conflicts", conflict_decision_row(decided, 0, writer.next_seq(), at(701)))
    writer.flush()
    return ids


@pytest.fixture
def company(tmp_path, monkeypatch):
    var = tmp_path / "var"
    ids = write_company(var)
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", "9")  # no stream workers: a decision cannot be published
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    return var, ids


def open_page(role: Role) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sign_in_name").input(NAMES[role])
    at.text_input(key="sign_in_password").input(PASSWORDS[role])
    at.button[0].click().run()
    assert at.session_state["account"] == NAMES[role], [e.value for e in at.error]
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def en(key: str, **fields) -> str:
    message = catalogue(Language.EN)[key]
    return message.format(**fields) if fields else message


def test_who_sees_and_who_decides_conflicts():
    assert all(can_view(role, Area.CONFLICTS) for role in Role)
    assert can_decide(Role.MANAGER, Area.CONFLICTS) and can_decide(Role.WAREHOUSE, Area.CONFLICTS)
    assert not can_decide(Role.FINANCE, Area.CONFLICTS) and not can_decide(Role.AUDITOR, Area.CONFLICTS)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.AUDITOR])
def test_finance_and_the_auditor_see_conflicts_and_decide_nothing(company, role):
    _, ids = company
    at = open_page(role)
    assert at.title[0].value == "Conflicts"
    assert en("conflicts.cannot_decide") in [c.value for c in at.caption]
    assert not at.radio and not [b for b in at.button if (b.key or "").startswith("conflict_")]
    open_table, decided_table = (d.value for d in at.dataframe)
    assert open_table[en("column.conflict_id")].tolist() == [ids[ConflictKind.COUNTED_MEANWHILE]]
    assert open_table[en("column.kind")].tolist() == ["Counted meanwhile"]
    assert open_table[en("column.suggested_on_hand")].tolist() == [3]
    assert decided_table[en("column.decision")].tolist() == ["Adjust"]
    assert decided_table[en("column.note")].tolist() == ["recounted: 10 there"]
    assert [m.value for m in at.metric] == ["1", "1"]
    shown = " ".join(m.value for m in at.markdown)
    assert "late-1" in shown and "count C-1" in shown  # both sides, to read


def test_the_manager_sees_both_sides_and_a_decision_needs_its_reason(company):
    var, ids = company
    conflict_id = ids[ConflictKind.COUNTED_MEANWHILE]
    at = open_page(Role.MANAGER)
    shown = " ".join(m.value for m in at.markdown)
    assert "s1-box" in shown and "late-1" in shown and "count C-1" in shown
    assert at.number_input(key="conflict_adjustment").value == 3  # the suggestion
    at.radio(key="conflict_decision").set_value("reverse")
    at.button(key="conflict_submit").click().run()
    assert [e.value for e in at.error] == [en("conflicts.refused.note_required")]
    assert not [e for e in AuditLog(var).records() if e and e["action"].startswith("conflict.")]
    # with a reason, the entry is written first; the workers are down, so it is voided
    at.text_input(key="conflict_note").input("the count saw these gone")
    at.button(key="conflict_submit").click().run()
    assert at.error and at.error[0].value.startswith("Not recorded")
    entries = [e for e in AuditLog(var).records() if e and e["action"].startswith("conflict.")]
    assert [e["action"] for e in entries] == ["conflict.reverse", "conflict.reverse.failed"]
    assert entries[0]["actor"] == "zhou.min" and entries[0]["role"] == "manager"
    assert entries[0]["details"]["conflict_id"] == conflict_id and entries[0]["details"]["on_hand"] == 3


def test_the_page_speaks_chinese(company, monkeypatch):
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "zh_CN")
    at = open_page(Role.WAREHOUSE)
    assert at.title[0].value == "冲突处理"
    assert "盘点 C-1" in " ".join(m.value for m in at.markdown)
    assert at.dataframe[0].value[catalogue(Language.ZH_CN)["column.kind"]].tolist() == ["盘点已覆盖"]


def test_without_conflicts_the_page_says_so(tmp_path, monkeypatch):
    var = tmp_path / "var"
    add_account(AccountFile(var / "accounts.json"), AuditLog(var), NAMES[Role.MANAGER], Role.MANAGER,
                PASSWORDS[Role.MANAGER], "test-admin")  # fmt: skip
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(var))
    monkeypatch.setenv("STOCKFLOW_LANGUAGE", "en")
    at = open_page(Role.MANAGER)
    assert [i.value for i in at.info] == [en("conflicts.none")]
