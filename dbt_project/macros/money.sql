{% macro net_of_vat(gross, vat_rate) -%}
    {#- The net part of a VAT-inclusive amount, to the fen, half up (stockflow.money.split_vat):
        worked in whole fen and hundredths of the rate, so no division goes through a double. -#}
    (cast(
        (2 * cast(round({{ gross }} * 100) as hugeint) * 100 + (100 + cast(round({{ vat_rate }} * 100) as hugeint)))
        // (2 * (100 + cast(round({{ vat_rate }} * 100) as hugeint)))
    as decimal(18, 0)) * 0.01)
{%- endmacro %}
