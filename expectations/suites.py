"""Great Expectations suites as code: one `build_*_suite()` per dataset.

An expectation whose `meta.critical` is true fails the quality flow (and raises an alert);
the others are recorded and shown. Thresholds come from `stockflow.quality`.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from stockflow.events import CELSIUS_RANGE
from stockflow.quality import DEVICE_DUPLICATE_RATE_LIMIT, DEVICE_GAP_RATE_LIMIT

CRITICAL = {"critical": True}
WARNING = {"critical": False}


def build_masterdata_suite() -> gx.ExpectationSuite:
    """数据健康度审计: one row per SKU (dim_skus' current versions plus the core's GTIN check and score)."""
    suite = gx.ExpectationSuite(name="masterdata_health")
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="sku_id", meta=CRITICAL))
    suite.add_expectation(  # a dish is made to order, never bought: it has no pack
        gxe.ExpectColumnValuesToNotBeNull(
            column="min_pack_units", row_condition=Column("sku_kind").is_not_in(["dish"]), meta=CRITICAL
        )
    )
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="batch_managed", meta=CRITICAL))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(column="gtin_valid", value_set=[True], meta=CRITICAL)
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToNotBeNull(
            column="shelf_life_days",
            row_condition=Column("category").is_in(["chilled_food", "dry_goods"]),
            meta=CRITICAL,
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="completeness", min_value=0.8, max_value=1.0, meta=WARNING)
    )
    return suite


def build_events_suite() -> gx.ExpectationSuite:
    """Accepted events: one row per event (stg_lake__events with checked columns)."""
    suite = gx.ExpectationSuite(name="event_quality")
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="event_id", meta=CRITICAL))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(column="in_future", value_set=[False], meta=CRITICAL)
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="landed_lag_seconds", min_value=0, max_value=None, meta=WARNING
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="celsius",
            min_value=CELSIUS_RANGE[0],
            max_value=CELSIUS_RANGE[1],
            row_condition=Column("topic") == "temperature_readings",
            meta=CRITICAL,
        )
    )
    return suite


def build_devices_suite() -> gx.ExpectationSuite:
    """Devices: one row per source device: the gap and duplicate rates of its running numbers."""
    suite = gx.ExpectationSuite(name="device_sequences")
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="gap_rate", min_value=0, max_value=DEVICE_GAP_RATE_LIMIT, meta=CRITICAL
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="duplicate_rate", min_value=0, max_value=DEVICE_DUPLICATE_RATE_LIMIT, meta=CRITICAL
        )
    )
    return suite


def build_balances_suite() -> gx.ExpectationSuite:
    """Daily balances the dashboards read: one row per location × SKU × batch × day."""
    suite = gx.ExpectationSuite(name="mart_invariants")
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="balance_error", min_value=0, max_value=0, meta=CRITICAL)
    )
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="closing_value", meta=CRITICAL))
    return suite


def build_kpis_suite() -> gx.ExpectationSuite:
    """KPI ratios the dashboards show: one row per KPI × location × day."""
    suite = gx.ExpectationSuite(name="kpi_ranges")
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="ratio", min_value=0, max_value=1, meta=CRITICAL)
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="kpi", value_set=["stockout_rate", "fill_rate", "dead_stock_ratio"], meta=CRITICAL
        )
    )
    return suite


def build_recipe_variance_suite() -> gx.ExpectationSuite:
    """Kitchens: one row per location with ingredient counts in the window (the settings'
    recipe_variance_days): `over_limit` names the location when its ingredients' usage strayed
    from the recipes by more than the settings' recipe_variance_limit. A warning, not a
    failure: the data is sound, the kitchen is what to look at."""
    suite = gx.ExpectationSuite(name="recipe_variance")
    suite.add_expectation(gxe.ExpectColumnValuesToBeNull(column="over_limit", meta=WARNING))
    return suite


SUITES = {
    "masterdata_health": build_masterdata_suite,
    "event_quality": build_events_suite,
    "device_sequences": build_devices_suite,
    "mart_invariants": build_balances_suite,
    "kpi_ranges": build_kpis_suite,
    "recipe_variance": build_recipe_variance_suite,
}
