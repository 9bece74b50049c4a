-- One row per location × SKU × day from its first movement to the last business day,
-- with the closing on-hand quantity and value (days without movements carried forward).
with daily as (
    select
        location_id,
        sku_id,
        business_date,
        sum(qty_in - qty_out) as qty_change,
        sum(value_change) as value_change,
        sum(qty_out) as qty_out
    from {{ ref('fct_daily_stock_balances') }}
    group by all
),

bounds as (
    select location_id, sku_id, min(business_date) as first_date
    from daily
    group by all
),

calendar as (
    select b.location_id, b.sku_id, cast(d.day as date) as business_date
    from bounds as b,
        range(b.first_date, (select max(business_date) from daily) + 1, interval 1 day) as d(day)
)

select
    c.location_id,
    c.sku_id,
    c.business_date,
    coalesce(d.qty_out, 0) as qty_out,
    sum(coalesce(d.qty_change, 0)) over w as closing_qty,
    sum(coalesce(d.value_change, 0)) over w as closing_value
from calendar as c
left join daily as d using (location_id, sku_id, business_date)
window w as (partition by c.location_id, c.sku_id order by c.business_date rows unbounded preceding)
