-- Dead stock per location on the last business day: stock of SKUs with no outbound movement
-- in the 90 days before, by value.
with latest as (
    select *
    from {{ ref('int_location_sku_days') }}
    where business_date = (select max(business_date) from {{ ref('int_location_sku_days') }})
),

last_out as (
    select location_id, sku_id, max(business_date) as last_outbound_date
    from {{ ref('int_location_sku_days') }}
    where qty_out > 0
    group by all
)

select
    l.location_id,
    l.business_date as as_of_date,
    cast(sum(l.closing_value) filter (where l.closing_qty > 0) as decimal(18, 2)) as stock_value,
    cast(coalesce(sum(l.closing_value) filter (
        where l.closing_qty > 0
        and (o.last_outbound_date is null or o.last_outbound_date < l.business_date - 90)
    ), 0) as decimal(18, 2)) as dead_stock_value,
    round(
        coalesce(sum(l.closing_value) filter (
            where l.closing_qty > 0
            and (o.last_outbound_date is null or o.last_outbound_date < l.business_date - 90)
        ), 0) / nullif(sum(l.closing_value) filter (where l.closing_qty > 0), 0),
        4
    ) as dead_stock_ratio
from latest as l
left join last_out as o using (location_id, sku_id)
group by all
