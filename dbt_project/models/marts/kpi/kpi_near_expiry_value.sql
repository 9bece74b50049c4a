-- Value of batches by days left to expiry on the last business day (disjoint buckets).
with latest as (
    select
        location_id, sku_id, batch_id,
        arg_max(closing_qty, business_date) as qty,
        arg_max(closing_value, business_date) as value
    from {{ ref('fct_daily_stock_balances') }}
    group by all
),

as_of as (select max(business_date) as as_of_date from {{ ref('fct_daily_stock_balances') }}),

dated as (
    select l.*, e.expiry_date, e.expiry_date - a.as_of_date as days_left, a.as_of_date
    from latest as l
    inner join {{ ref('int_batch_expiries') }} as e using (location_id, sku_id, batch_id)
    cross join as_of as a
    where l.qty > 0
)

select
    location_id,
    as_of_date,
    case
        when days_left < 0 then 'expired'
        when days_left <= 7 then '0-7'
        when days_left <= 30 then '8-30'
        when days_left <= 90 then '31-90'
        else 'over 90'
    end as expiry_bucket,
    count(*) as batches,
    sum(qty) as qty,
    cast(sum(value) as decimal(18, 2)) as stock_value
from dated
group by all
