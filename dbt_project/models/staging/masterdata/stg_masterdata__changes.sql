-- Every master-data change: who made it and when, and the entity's whole record after it
-- (payload). A SKU change's record is also here column by column (null for other entities).
with changes as (
    select
        version,
        event_id,
        event_type,
        entity,
        code,
        change_key,
        actor,
        occurred_at,
        payload
    from {{ source('masterdata', 'masterdata_changes') }}
),

records as (
    select
        *,
        case when entity = 'sku' then payload -> '$.record' end as sku_record
    from changes
)

select
    version,
    event_id,
    event_type,
    entity,
    code as entity_code,
    change_key,
    actor,
    occurred_at,
    payload,
    sku_record ->> '$.sku' as sku_id,
    sku_record ->> '$.gtin' as gtin,
    sku_record ->> '$.name' as sku_name,
    sku_record ->> '$.category' as category,
    sku_record ->> '$.status' as sku_status,
    cast(sku_record ->> '$.serial_managed' as boolean) as serial_managed,
    sku_record ->> '$.base_unit' as base_unit,
    json(sku_record -> '$.packs') as packs,
    -- base units in the smallest pack above one (最小包装), as the catalogue export computes it
    list_min(list_filter(
        map_values(cast(sku_record -> '$.packs' as map(varchar, integer))), lambda n: n > 1
    )) as min_pack_units,
    cast(sku_record ->> '$.shelf_life_days' as integer) as shelf_life_days,
    cast(sku_record ->> '$.batch_managed' as boolean) as batch_managed,
    cast(sku_record ->> '$.cold_chain_min_c' as double) as cold_chain_min_c,
    cast(sku_record ->> '$.cold_chain_max_c' as double) as cold_chain_max_c,
    cast(sku_record ->> '$.reorder_point' as integer) as reorder_point,
    sku_record ->> '$.supplier' as supplier_id,
    cast(sku_record ->> '$.moq' as integer) as moq,
    sku_record ->> '$.negative_stock' as negative_stock_policy,
    cast(sku_record ->> '$.standard_cost' as decimal(18, 6)) as standard_cost,
    cast(sku_record ->> '$.vat_rate' as decimal(4, 2)) as vat_rate,
    cast(sku_record ->> '$.wholesale_price' as decimal(18, 6)) as wholesale_price,
    sku_record ->> '$.valuation_method' as valuation_method
from records
