{{ config(materialized='view', tags=['reads_whole_lake']) }}

-- Per work order and material: base units issued (backflushed ones included, returns taken
-- off) from the lake, and their cost from the books. A view, as fct_work_orders.
with units as (
    select
        m.reference as work_order_id,
        m.location_id,
        m.sku_id,
        -sum(m.on_hand_delta) as issued_units
    from {{ ref('stg_lake__inventory_changes') }} as m
    where m.event_type = 'material_issued' or (m.event_type = 'production_receipt' and m.on_hand_delta < 0)
    group by all
),

costs as (
    select reference as work_order_id, location_id, sku_id, sum(wip_change) as issued_cost
    from {{ ref('stg_books__stock_ledger_entries') }}
    where event_type = 'material_issued' or (event_type = 'production_receipt' and qty_change < 0)
    group by all
)

select
    u.work_order_id,
    u.location_id,
    u.sku_id,
    u.issued_units,
    coalesce(c.issued_cost, 0) as issued_cost
from units as u
left join costs as c on c.work_order_id = u.work_order_id and c.location_id = u.location_id and c.sku_id = u.sku_id
