"""The data-quality rules the expectation suites check."""

from stockflow.quality import duplicate_rate, gap_rate, gtin_is_valid, sku_completeness


def test_gap_rate_is_the_share_of_missing_running_numbers():
    assert gap_rate([1, 2, 3, 4]) == 0.0
    assert gap_rate([1, 2, 4, 5]) == 0.2  # 3 of 1..5 never arrived
    assert gap_rate([7]) == 0.0
    assert gap_rate([]) == 0.0


def test_duplicate_rate_is_the_share_of_documents_sent_again():
    assert duplicate_rate([1, 2, 3, 4]) == 0.0
    assert duplicate_rate([1, 2, 2, 3, 3, 3]) == 0.5  # three of six repeat a number already landed
    assert duplicate_rate([None, 5]) == 0.0
    assert duplicate_rate([]) == 0.0


def test_completeness_counts_only_the_fields_a_sku_of_its_kind_must_have():
    dry = {
        "category": "dry_goods",
        "gtin": "06901075001739",
        "min_pack_units": 1,
        "batch_managed": False,
        "shelf_life_days": 365,
        "standard_cost": 2,
    }
    assert gtin_is_valid(dry["gtin"]) and sku_completeness(dry) == 1.0
    assert sku_completeness({**dry, "gtin": "06901075001738"}) == 0.8  # a bad check digit
    electronics = {**dry, "category": "electronics", "shelf_life_days": None}
    assert sku_completeness(electronics) == 1.0  # no shelf life needed
