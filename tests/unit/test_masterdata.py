from decimal import Decimal

import pytest
from pydantic import ValidationError

from stockflow.masterdata import Category, InvalidGtin, Sku, UnitConversionError, validate_gtin


def test_gtin_is_normalised_to_14_digits():
    assert validate_gtin("4006381333931") == "04006381333931"


def test_invalid_check_digit_is_rejected_with_biip_reason():
    with pytest.raises(InvalidGtin, match="check digit"):
        validate_gtin("4006381333932")


def test_sku_with_bad_gtin_cannot_be_created():
    with pytest.raises(ValidationError, match="invalid GTIN"):
        Sku(sku="X", gtin="12345678", name="x", category=Category.DRY_GOODS)


def test_pack_conversion(catalog):
    milk = catalog.skus["MILK-1L"]
    assert catalog.to_base_units(milk, Decimal(2), "case") == 24
    assert catalog.to_base_units(milk, Decimal("0.5"), "case") == 6
    with pytest.raises(UnitConversionError, match="not a whole number"):
        catalog.to_base_units(milk, Decimal("0.1"), "case")
    with pytest.raises(UnitConversionError, match="no unit 'pallet'"):
        catalog.to_base_units(milk, Decimal(1), "pallet")


def test_cold_chain_range_must_be_ordered():
    with pytest.raises(ValidationError, match="below maximum"):
        Sku(
            sku="X",
            gtin="4006381333931",
            name="x",
            category=Category.CHILLED_FOOD,
            cold_chain_min_c=5,
            cold_chain_max_c=2,
        )


def test_distance(catalog):
    wh, store = catalog.locations["WH1"], catalog.locations["S1"]
    assert 6 < wh.distance_km(store) < 9


def test_a_sku_names_only_a_known_supplier(catalog):
    rice = catalog.skus["RICE-5KG"]
    ok = catalog.model_copy(
        update={"skus": {**catalog.skus, "RICE-5KG": rice.model_copy(update={"supplier": "SUP1"})}}
    )
    assert type(catalog).model_validate(ok.model_dump()).skus["RICE-5KG"].supplier == "SUP1"
    with pytest.raises(ValidationError, match="supplier 'SUP9'"):
        type(catalog).model_validate(
            {**catalog.model_dump(), "skus": {"RICE-5KG": {**rice.model_dump(), "supplier": "SUP9"}}}
        )
