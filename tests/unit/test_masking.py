"""Roles and field-level masking of personal data (passwords: test_accounts.py; phone numbers
inside any text: test_masking_values.py)."""

from simulator.company import build_catalog
from stockflow.masking import (
    DEFAULT_POLICY,
    Role,
    mask_id_number,
    mask_phone,
    mask_record,
)


def test_phone_numbers_keep_their_first_3_and_last_4_digits():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("008613812345678") == "138****5678"
    assert mask_phone("021-6432-1234") == "021****1234"  # a landline with its area code
    assert mask_phone("1234567") == "*******"  # nothing left to hide: hidden whole
    assert mask_phone("") == "" and mask_phone(None) is None


def test_identity_numbers_keep_their_first_and_last_character():
    assert mask_id_number("31011519870412123X") == "3****************X"
    assert mask_id_number("ab") == "**"


def test_only_the_auditor_sees_identity_numbers_and_nobody_a_whole_phone_number():
    customer = {
        "customer": "CUS001",
        "name": "客户 001",
        "phone": "13812341234",
        "id_number": "31011519870412123X",
    }
    for role in Role:
        shown = mask_record(customer, role)
        assert shown["phone"] == "138****1234" and shown["customer"] == "CUS001"
        assert (shown["id_number"] == customer["id_number"]) is (role is Role.AUDITOR)
    assert customer["phone"] == "13812341234"  # the record itself is left alone
    assert DEFAULT_POLICY.masked_fields(Role.MANAGER) == ["phone", "id_number"]


def test_no_simulated_customer_s_number_survives_masking():
    for c in build_catalog(7).customers.values():
        shown = mask_record(c.model_dump(), Role.MANAGER)
        assert c.phone not in str(shown) and c.id_number not in str(shown)


def test_roles_see_their_areas_and_only_planners_decide():
    from stockflow.masking import Area, can_decide, can_view

    assert all(can_view(Role.MANAGER, a) and can_view(Role.AUDITOR, a) for a in Area)
    assert not can_view(Role.FINANCE, Area.STOCK) and can_view(Role.FINANCE, Area.FINANCE)
    assert not can_view(Role.WAREHOUSE, Area.FINANCE) and can_view(Role.WAREHOUSE, Area.COLD_CHAIN)
    assert can_decide(Role.WAREHOUSE, Area.PLANNING) and can_decide(Role.MANAGER, Area.PLANNING)
    assert not can_decide(Role.AUDITOR, Area.PLANNING) and not can_decide(Role.FINANCE, Area.PLANNING)
