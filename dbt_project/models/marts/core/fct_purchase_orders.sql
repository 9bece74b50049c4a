{{ config(materialized='view', tags=['reads_whole_lake']) }}

-- Purchase order lines: what was ordered, what goods receipts naming the order have brought in,
-- what is still open (on order), and the days from order to first receipt (the supplier's
-- observed lead time). Quantities in base units, converted with the SKU's packs as they were
-- when the order was placed. A view: planning reads it a few times an hour,
-- and no build pays for it.
with orders as (
    select
        json_extract_string(payload, '$.purchase_order') as purchase_order_id,
        location_id,
        json_extract_string(payload, '$.supplier') as supplier_id,
        json_extract_string(payload, '$.sku') as sku_id,
        cast(json_extract_string(payload, '$.qty') as decimal(18, 3)) as qty,
        coalesce(json_extract_string(payload, '$.unit'), 'each') as unit,
        cast(json_extract_string(payload, '$.expected_date') as date) as expected_date,
        occurred_at as ordered_at,
        business_date as order_date,
        event_id
    from {{ ref('stg_lake__events') }}
    where topic = 'scans' and event_type = 'purchase_order'
),

receipts as (
    select
        reference as purchase_order_id,
        location_id,
        sku_id,
        sum(on_hand_delta) as received_units,
        min(occurred_at) as first_received_at
    from {{ ref('fct_stock_movements') }}
    where event_type = 'goods_receipt'
    group by all
),

lines as (
    select
        o.*,
        cast(
            o.qty * case when o.unit = s.base_unit then 1 else cast(json_extract(s.packs, '$.' || o.unit) as integer) end
            as bigint
        ) as ordered_units
    from orders as o
    -- in the SKU's packs when the order was placed
    join {{ ref('dim_skus') }} as s on s.sku_id = o.sku_id and {{ version_at('s', 'o.ordered_at') }}
)

select
    l.purchase_order_id,
    l.location_id,
    l.supplier_id,
    l.sku_id,
    l.ordered_units,
    coalesce(r.received_units, 0) as received_units,
    greatest(l.ordered_units - coalesce(r.received_units, 0), 0) as open_units,
    l.ordered_at,
    l.order_date,
    l.expected_date,
    r.first_received_at,
    round(epoch(r.first_received_at - l.ordered_at) / 86400.0, 2) as lead_time_days,
    l.event_id
from lines as l
left join receipts as r
    on r.purchase_order_id = l.purchase_order_id and r.location_id = l.location_id and r.sku_id = l.sku_id
