-- Stockout rate per store and day: among the SKUs a store sold in the 28 days before, the
-- share that ended the day with nothing on hand.
with sold as (
    select store_id as location_id, sku_id, business_date
    from {{ ref('stg_lake__pos_lines') }}
    where direction = 1
    group by all
),

active as (
    select distinct d.location_id, d.sku_id, d.business_date, d.closing_qty
    from {{ ref('int_location_sku_days') }} as d
    inner join sold as s
        on s.location_id = d.location_id
        and s.sku_id = d.sku_id
        and s.business_date between d.business_date - 28 and d.business_date - 1
)

select
    location_id,
    business_date,
    count(*) as active_sku_days,
    count(*) filter (where closing_qty <= 0) as stockout_sku_days,
    round(count(*) filter (where closing_qty <= 0) / count(*), 4) as stockout_rate
from active
group by all
