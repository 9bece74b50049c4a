{% macro movement_key() -%}
    -- one stock movement: its event at one location × SKU × batch (as the books key it)
    event_id || '|' || location || '|' || sku || '|' || batch
{%- endmacro %}
