with tickets as (
    select
        event_id,
        event_type,
        occurred_at,
        cast(timezone('{{ var("timezone") }}', occurred_at) as date) as business_date,
        location as store_id,
        payload ->> '$.ticket' as ticket,
        payload ->> '$.channel' as channel,
        unnest(from_json(
            payload -> '$.lines',
            '[{"sku": "VARCHAR", "qty": "DECIMAL(14,3)", "unit": "VARCHAR", "unit_price": "DECIMAL(18,4)"}]'
        )) as line
    from {{ source('lake', 'pos_transactions') }}
)

select
    event_id,
    event_type,
    occurred_at,
    business_date,
    store_id,
    ticket,
    channel,
    line.sku as sku_id,
    line.qty as qty,
    coalesce(line.unit, 'each') as unit,
    line.unit_price as unit_price,
    case when event_type = 'pos_return' then -1 else 1 end as direction
from tickets
