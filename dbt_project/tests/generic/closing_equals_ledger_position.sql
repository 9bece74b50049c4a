{% test closing_equals_ledger_position(model) %}
-- The last closing balance of every location × SKU × batch is the ledger's position after its
-- last movement.
select *
from (
    select
        location_id, sku_id, batch_id,
        arg_max(closing_qty, business_date) as closing_qty,
        arg_max(ledger_on_hand_after, last_apply_seq) as ledger_on_hand
    from {{ model }}
    group by all
)
where closing_qty <> ledger_on_hand
{% endtest %}
