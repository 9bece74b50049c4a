select
    {{ movement_key() }} as movement_key,
    event_id,
    event_type,
    occurred_at,
    cast(timezone('{{ var("timezone") }}', occurred_at) as date) as business_date,
    location as location_id,
    sku as sku_id,
    batch as batch_id,
    method as valuation_method,
    qty_change,
    in_transit_change,
    unit_cost,
    value_change,
    transit_value_change,
    nullif(transit_location, '') as transit_location_id,
    cost_variance,
    provisional,
    qty_after,
    stock_value_after,
    valuation_rate,
    landed_at,
    valued_at,
    run_id,
    reference,
    counterparty,
    unit_price,
    nullif(dish, '') as dish_sku_id,
    coalesce(portions, 0) as portions,
    coalesce(wip_change, 0) as wip_change,
    coalesce(labour, 0) as labour_cost,
    coalesce(overhead, 0) as overhead_cost,
    coalesce(service_fee, 0) as service_fee
from (
    {#- files exported before recipes have no dish and portions columns, before work orders no
        cost in production -#}
    select * from {{ source('books', 'stock_ledger') }}
    union all by name
    select
        null::varchar as dish,
        null::bigint as portions,
        null::decimal(18, 2) as wip_change,
        null::decimal(18, 2) as labour,
        null::decimal(18, 2) as overhead,
        null::decimal(18, 2) as service_fee
    where false
)
{{ books_posted() }}
