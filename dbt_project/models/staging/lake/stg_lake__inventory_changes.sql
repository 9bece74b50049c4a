select
    {{ movement_key() }} as movement_key,
    event_id,
    event_type,
    occurred_at,
    cast(timezone('{{ var("timezone") }}', occurred_at) as date) as business_date,
    location as location_id,
    sku as sku_id,
    batch as batch_id,
    on_hand_delta,
    reserved_delta,
    quarantined_delta,
    in_transit_delta,
    on_hand as on_hand_after,
    reserved as reserved_after,
    quarantined as quarantined_after,
    in_transit as in_transit_after,
    reference,
    counterparty,
    unit_cost,
    unit_price,
    negative_stock,
    "partition" as partition_id,
    apply_seq,
    processed_at,
    landed_at,
    nullif(dish, '') as dish_sku_id,
    coalesce(portions, 0) as portions
from (
    {#- files landed before recipes have no dish and portions columns -#}
    select * from {{ source('lake', 'inventory_changed') }}
    union all by name
    select null::varchar as dish, null::bigint as portions where false
)
