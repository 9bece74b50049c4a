-- B2B fill rate per warehouse and day: quantity issued against sales orders / quantity ordered
-- (reserved), capped per order.
with ordered as (
    select
        location_id,
        payload ->> '$.sales_order' as sales_order,
        min(business_date) as business_date,
        sum(cast(payload ->> '$.qty' as decimal(14, 3))) as ordered_qty
    from {{ ref('stg_lake__events') }}
    where event_type = 'stock_reservation' and coalesce(payload ->> '$.action', 'reserve') = 'reserve'
    group by all
),

issued as (
    select
        location_id,
        payload ->> '$.sales_order' as sales_order,
        sum(cast(payload ->> '$.qty' as decimal(14, 3))) as issued_qty
    from {{ ref('stg_lake__events') }}
    where event_type = 'sales_issue'
    group by all
)

select
    o.location_id,
    o.business_date,
    count(*) as orders,
    sum(o.ordered_qty) as ordered_qty,
    sum(least(coalesce(i.issued_qty, 0), o.ordered_qty)) as filled_qty,
    round(sum(least(coalesce(i.issued_qty, 0), o.ordered_qty)) / sum(o.ordered_qty), 4) as fill_rate
from ordered as o
left join issued as i using (location_id, sales_order)
group by all
