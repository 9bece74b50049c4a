{{ config(materialized='view', tags=['reads_whole_lake']) }}

-- Work orders (生产工单): what each was released to make, what came in, its state, and its
-- cost from the books' stock ledger. Quantities in base units (the order's own converted with
-- the product's packs as they were when it was released). A view: the production page reads
-- it a few times an hour, and no build pays for it.
with events as (
    select
        event_type,
        json_extract_string(payload, '$.work_order') as work_order_id,
        location_id,
        occurred_at,
        business_date,
        payload
    from {{ ref('stg_lake__events') }}
    where topic = 'scans' and event_type in ('work_order_released', 'work_order_closed')
),

released as (
    select
        work_order_id,
        location_id,
        json_extract_string(payload, '$.product') as product_sku_id,
        cast(json_extract_string(payload, '$.qty') as decimal(18, 3)) as qty,
        coalesce(json_extract_string(payload, '$.unit'), 'each') as unit,
        cast(json_extract_string(payload, '$.due_date') as date) as due_date,
        coalesce(json_extract(payload, '$.backflush')::boolean, false) as backflush,
        json_extract_string(payload, '$.subcontractor') as subcontractor_id,
        occurred_at as released_at,
        business_date as bom_date
    from events
    where event_type = 'work_order_released'
),

closed as (
    select work_order_id, min(occurred_at) as closed_at
    from events
    where event_type = 'work_order_closed'
    group by all
),

-- units from the lake (the record), as they land
moved as (
    select
        m.reference as work_order_id,
        sum(case when m.sku_id = r.product_sku_id and m.on_hand_delta > 0 then m.on_hand_delta else 0 end)
            as received_units,
        count(distinct case when m.sku_id <> r.product_sku_id then m.sku_id end) as materials_issued,
        max(case when m.sku_id = r.product_sku_id and m.on_hand_delta > 0 then m.occurred_at end)
            as last_received_at
    from {{ ref('stg_lake__inventory_changes') }} as m
    join released as r on r.work_order_id = m.reference and r.location_id = m.location_id
    where m.event_type in ('material_issued', 'production_receipt')
    group by all
),

-- cost from the books (a little behind the lake)
costs as (
    select
        reference as work_order_id,
        sum(case when event_type = 'material_issued' or (event_type = 'production_receipt' and qty_change < 0)
            then wip_change else 0 end) as material_cost,
        sum(labour_cost) as labour_cost,
        sum(overhead_cost) as overhead_cost,
        sum(service_fee) as service_fee,
        sum(case when event_type = 'production_receipt' and qty_change > 0 then value_change + cost_variance else 0 end)
            as goods_value,
        -sum(case when event_type = 'work_order_closed' then wip_change else 0 end) as variance,
        sum(wip_change) as wip_value,
        bool_or(event_type = 'work_order_closed') as close_posted
    from {{ ref('stg_books__stock_ledger_entries') }}
    where event_type in ('material_issued', 'operation_reported', 'production_receipt', 'work_order_closed')
    group by all
),

orders as (
    select
        r.*,
        cast(
            r.qty * case when r.unit = s.base_unit then 1 else cast(json_extract(s.packs, '$.' || r.unit) as integer) end
            as bigint
        ) as ordered_units
    from released as r
    join {{ ref('dim_skus') }} as s on s.sku_id = r.product_sku_id and {{ version_at('s', 'r.released_at') }}
)

select
    o.work_order_id,
    o.location_id,
    o.product_sku_id,
    o.ordered_units,
    coalesce(m.received_units, 0) as received_units,
    greatest(o.ordered_units - coalesce(m.received_units, 0), 0) as open_units,
    o.due_date,
    o.bom_date,
    o.backflush,
    o.subcontractor_id,
    o.released_at,
    m.last_received_at,
    c.closed_at,
    case
        when c.closed_at is not null then 'closed'
        when coalesce(m.received_units, 0) >= o.ordered_units then 'completed'
        when coalesce(m.received_units, 0) > 0 or coalesce(m.materials_issued, 0) > 0 then 'in_progress'
        else 'released'
    end as status,
    coalesce(k.material_cost, 0) as material_cost,
    coalesce(k.labour_cost, 0) as labour_cost,
    coalesce(k.overhead_cost, 0) as overhead_cost,
    coalesce(k.service_fee, 0) as service_fee,
    coalesce(k.goods_value, 0) as goods_value,
    coalesce(k.variance, 0) as variance,
    coalesce(k.wip_value, 0) as wip_value,
    coalesce(k.close_posted, false) as close_posted
from orders as o
left join moved as m on m.work_order_id = o.work_order_id
left join closed as c on c.work_order_id = o.work_order_id
left join costs as k on k.work_order_id = o.work_order_id
