{% test balance_rolls_forward(model) %}
-- opening + in − out = closing, and each day opens with the previous closing.
with checked as (
    select
        *,
        lag(closing_qty) over (partition by location_id, sku_id, batch_id order by business_date) as previous_closing,
        lag(closing_value) over (partition by location_id, sku_id, batch_id order by business_date) as previous_value
    from {{ model }}
)
select * from checked
where opening_qty + qty_in - qty_out <> closing_qty
   or opening_value + value_change <> closing_value
   or (previous_closing is not null and previous_closing <> opening_qty)
   or (previous_value is not null and previous_value <> opening_value)
{% endtest %}
