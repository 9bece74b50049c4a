"""The dbt project's layering and the values Python gives it, checked on its files (no dbt run)."""

import re

import yaml

from stockflow import kpis
from stockflow.vouchers import AccountingPolicy
from stores.warehouse import LOOKBACK_MINUTES, PROJECT_DIR, build_vars

#: staging models are named stg_<source>__<entity>s and read only their own source
STAGING = re.compile(r"^stg_(?P<source>[a-z]+)__[a-z_]+s$")
SOURCE_CALL = re.compile(r"\bsource\s*\(\s*['\"](?P<source>\w+)['\"]")
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)


def source_calls(sql: str) -> list[str]:
    """The sources a model's SQL reads (`source('lake', ...)` → 'lake'), Jinja comments aside."""
    return [m["source"] for m in SOURCE_CALL.finditer(JINJA_COMMENT.sub("", sql))]


def models() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((PROJECT_DIR / "models").rglob("*.sql"))}


def test_the_check_finds_source_calls():
    assert source_calls("select * from {{ source('lake', 'scans') }}") == ["lake"]
    assert source_calls('from {{ source( "books" , t) }} join {{ ref("x") }}') == ["books"]
    assert (
        source_calls("{# not {{ source('lake', 'x') }} #} select 1 from {{ ref('stg_lake__events') }}") == []
    )


def test_only_staging_models_read_sources_and_each_its_own():
    found = models()
    assert len(found) > 30
    readers = {name: source_calls(sql) for name, sql in found.items() if source_calls(sql)}
    outside = sorted(name for name in readers if not STAGING.match(name))
    assert not outside, f"models calling source() that are not stg_<source>__<entity>s: {outside}"
    for name, sources in readers.items():
        assert set(sources) == {STAGING.match(name)["source"]}, name
    # and no macro hands a model a source behind its back
    for macro in (PROJECT_DIR / "macros").rglob("*.sql"):
        assert not source_calls(macro.read_text()), macro.name


def test_no_model_or_macro_deletes_or_redefines_is_incremental():
    """Rendering a model only reads; deletes are dbt's own incremental materialization's."""
    for path in [*(PROJECT_DIR / "models").rglob("*.sql"), *(PROJECT_DIR / "macros").rglob("*.sql")]:
        sql = JINJA_COMMENT.sub("", path.read_text()).lower()
        assert not re.search(r"\bdelete\s+from\b|\bdrop\s+table\b|\btruncate\b", sql), path.name
        assert not re.search(r"\bmacro\s+is_incremental\b|\bmaterialization\b", sql), path.name


def test_the_project_gets_every_var_from_python_and_repeats_none():
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert "vars" not in project  # the settings and the policy are the one place
    used = set()
    for path in PROJECT_DIR.rglob("*.sql"):
        used |= set(re.findall(r"\bvar\(\s*['\"](\w+)['\"]", path.read_text()))
    given = build_vars()
    assert used == set(given)
    assert given["dead_stock_days"] == kpis.DEAD_STOCK_DAYS
    assert given["near_expiry_value_days"] == kpis.NEAR_EXPIRY_VALUE_DAYS
    assert given["stockout_active_days"] == kpis.STOCKOUT_ACTIVE_DAYS
    assert given["lookback_minutes"] == LOOKBACK_MINUTES


def test_inventory_accounts_and_time_zone_come_from_settings_and_policy(tmp_path, monkeypatch):
    from stockflow.config import Settings
    from stockflow.masterdata import Category

    default = build_vars(Settings(timezone="Europe/Berlin"))
    assert default["timezone"] == "Europe/Berlin"
    policy = AccountingPolicy.cn_small_enterprise()
    assert default["inventory_account_codes"] == ["140501", "140502"]
    assert all(policy.is_inventory_account(c) for c in default["inventory_account_codes"])
    # a policy that keeps dry goods in 原材料 adds that account
    custom = policy.model_copy(update={"inventory_accounts": {Category.DRY_GOODS: "1403"}})
    path = tmp_path / "policy.json"
    path.write_text(custom.model_dump_json())
    chosen = build_vars(Settings(accounting_policy_file=path))
    assert chosen["inventory_account_codes"] == ["1403", "140501", "140502"]


def test_the_lake_s_deliveries_are_the_core_s():
    from stockflow.delivery import Delivery

    spec = yaml.safe_load((PROJECT_DIR / "models" / "staging" / "lake" / "stg_lake__events.yml").read_text())
    (model,) = spec["models"]
    (column,) = [c for c in model["columns"] if c["name"] == "delivery"]
    (test,) = [t["accepted_values"] for t in column["data_tests"] if "accepted_values" in t]
    assert set(test["arguments"]["values"]) == {d.value for d in Delivery}
    # and the marts that count live operation name the values the core has
    for path in ("marts/core/fct_data_freshness.sql", "marts/kpi/kpi_voucher_lag.sql"):
        named = set(re.findall(r"delivery = '(\w+)'", (PROJECT_DIR / "models" / path).read_text()))
        assert named and named <= {d.value for d in Delivery}, path


def test_the_master_data_vocabularies_are_the_core_s():
    from stockflow.masterdata import SkuStatus
    from stockflow.masterdata_changes import CHANGE_MODELS

    def accepted(model: str, column: str) -> set[str]:
        (path,) = (PROJECT_DIR / "models").rglob(f"{model}.yml")
        (spec,) = yaml.safe_load(path.read_text())["models"]
        (found,) = [c for c in spec["columns"] if c["name"] == column]
        (test,) = [t["accepted_values"] for t in found["data_tests"] if "accepted_values" in t]
        return set(test["arguments"]["values"])

    statuses = {s.value for s in SkuStatus}
    assert accepted("stg_masterdata__skus", "sku_status") == statuses
    assert accepted("stg_masterdata__changes", "sku_status") == statuses
    assert accepted("stg_masterdata__changes", "event_type") == set(CHANGE_MODELS)


def test_facts_join_the_sku_version_of_their_time():
    """dim_skus holds every version of a SKU: a model joining it either picks the version in
    effect when its fact happened (version_at) or the current one, never all of them."""
    readers = {name: sql for name, sql in models().items() if "ref('dim_skus')" in sql}
    assert {"fct_stock_movements", "fct_purchase_orders", "int_batch_excursion_days"} <= set(readers)
    for name, sql in readers.items():
        for join in re.findall(r"join \{\{ ref\('dim_skus'\) \}\}[^\n]*", sql):
            assert "version_at(" in join or "is_current" in join, (name, join)


def test_the_subledgers_party_kinds_are_the_core_s():
    from stockflow.finance import PartyKind

    kinds = {k.value for k in PartyKind}
    path = PROJECT_DIR / "models" / "staging" / "books" / "stg_books__open_items.yml"
    (model,) = yaml.safe_load(path.read_text())["models"]
    (column,) = [c for c in model["columns"] if c["name"] == "party_kind"]
    (test,) = [
        t["accepted_values"] for t in column["data_tests"] if isinstance(t, dict) and "accepted_values" in t
    ]
    assert set(test["arguments"]["values"]) == kinds
    # one ageing mart per kind: payables (suppliers), receivables (customers)
    named = {
        mart: re.findall(
            r"open_items_ageing\('(\w+)'\)",
            (PROJECT_DIR / "models" / "marts" / "core" / f"{mart}.sql").read_text(),
        )
        for mart in ("fct_ap_ageing", "fct_ar_ageing")
    }
    assert named == {"fct_ap_ageing": [PartyKind.SUPPLIER.value], "fct_ar_ageing": [PartyKind.CUSTOMER.value]}


def _accepted(model: str, column: str) -> set[str]:
    (path,) = (PROJECT_DIR / "models").rglob(f"{model}.yml")
    (spec,) = yaml.safe_load(path.read_text())["models"]
    (found,) = [c for c in spec["columns"] if c["name"] == column]
    (test,) = [t["accepted_values"] for t in found["data_tests"] if "accepted_values" in t]
    return set(test["arguments"]["values"])


def test_every_event_that_moves_stock_is_an_accepted_movement_type():
    """The ledger's handlers decide which events make inventory rows: each one the staging of
    inventory_changed accepts (a new event type the list forgets fails every warehouse build)."""
    from stockflow.events import EVENT_MODELS, SalesChannel

    never_move = {
        "purchase_order",
        "forecast_reviewed",
        "credit_approved",
        "cycle_count",
        "temperature_reading",
        "work_order_released",
    }
    assert _accepted("stg_lake__inventory_changes", "event_type") == set(EVENT_MODELS) - never_move
    assert _accepted("stg_lake__pos_lines", "channel") == {c.value for c in SalesChannel}
