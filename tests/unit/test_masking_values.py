"""Mobile numbers inside any text are masked for roles that may not see them in full: every
case written out, the ones that must be masked and the ones that must be left alone."""

import pytest

from stockflow.masking import DEFAULT_POLICY, MaskingPolicy, Role, mask_phone_numbers, mask_record

MASKED = [
    ("13812345678", "138****5678"),
    ("19912345678", "199****5678"),
    ("14712345678", "147****5678"),
    ("138 1234 5678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("138 1234-5678", "138****5678"),
    ("+8613812345678", "138****5678"),
    ("+86 13812345678", "138****5678"),
    ("+86-138-1234-5678", "138****5678"),
    ("008613812345678", "138****5678"),
    ("0086 138 1234 5678", "138****5678"),
    ("CUS13812345678", "CUS138****5678"),
    ("13812345678A", "138****5678A"),
    ("tel:13812345678", "tel:138****5678"),
    ("张三 13812345678 退货", "张三 138****5678 退货"),
    ("客户13812345678的应收", "客户138****5678的应收"),
    ("13812345678/13987654321", "138****5678/139****4321"),
    ("13812345678,15900001111", "138****5678,159****1111"),
    ("(+86) 138 1234 5678", "(+86) 138****5678"),
    ("call 138-1234-5678 or +86 150 0000 9999", "call 138****5678 or 150****9999"),
]

LEFT_ALONE = [
    "",
    "CUS001",
    "12812345678",  # 1 then 2: not a mobile prefix
    "10012345678",
    "1381234567",  # 10 digits
    "138123456789",  # 12 digits: part of a longer run
    "013812345678",  # a digit before it
    "8613812345678",  # 86 without + or 00: one run of 13 digits
    "0013812345678",
    "2213812345678",
    "31011519870412123X",  # an identity number
    "021-6432-1234",  # a landline
    "138 12345 678",  # groups that are not 3-4-4
    "138  1234  5678",  # two spaces between the groups
    "138_1234_5678",
    "1381234567８",  # a full-width last digit
    "记-000001",
    "V2026-03-13812",
    "2026-03-02 08:00:00",
]


@pytest.mark.parametrize(("text", "shown"), MASKED)
def test_a_mobile_number_inside_text_is_masked(text, shown):
    assert mask_phone_numbers(text) == shown
    assert mask_phone_numbers(shown) == shown  # masking twice changes nothing


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_text_without_a_mobile_number_is_left_alone(text):
    assert mask_phone_numbers(text) == text


def test_none_stays_none():
    assert mask_phone_numbers(None) is None


def test_records_are_masked_by_value_in_every_text_field_for_every_role():
    row = {
        "customer_id": "13812345678",
        "summary": "退货 +86 139-1234-5678",
        "debit": 13812345678,  # not text: left alone
        "phone": "13812345678",
        "id_number": "31011519870412123X",
    }
    for role in Role:
        shown = mask_record(row, role)
        assert shown["customer_id"] == "138****5678" and shown["summary"] == "退货 139****5678"
        assert shown["debit"] == 13812345678 and shown["phone"] == "138****5678"
        assert (shown["id_number"] == row["id_number"]) is (role is Role.AUDITOR)
        assert DEFAULT_POLICY.masks_values(role)


def test_a_role_allowed_to_see_phone_numbers_sees_them_inside_text_too():
    policy = MaskingPolicy(unmasked_for={"phone": frozenset({Role.AUDITOR}), "id_number": frozenset()})
    row = {"customer_id": "13812345678", "phone": "+86 138 1234 5678"}
    assert policy.mask_record(row, Role.AUDITOR) == row
    assert policy.mask_record(row, Role.FINANCE) == {"customer_id": "138****5678", "phone": "138****5678"}
