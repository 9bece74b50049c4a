{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku_id', 'batch_id'],
) }}

-- Expiry date of each batch at each location, as its receipt or its transfer declared it
-- (a transfer's in-transit leg is an event of the destination). An incremental build merges
-- the declarations that landed since the last build into the batches already known.
with declared as (
    select
        location_id,
        payload ->> '$.sku' as sku_id,
        payload ->> '$.batch' as batch_id,
        cast(payload ->> '$.expiry_date' as date) as expiry_date
    from {{ ref('stg_lake__events') }}
    where event_type in ('goods_receipt', 'transit_dispatched') and payload ->> '$.expiry_date' is not null
    {% if is_incremental() %} and landed_at >= {{ check_since() }} {% endif %}
)

{% if is_incremental() %}
, known as (
    select t.location_id, t.sku_id, t.batch_id, t.expiry_date
    from {{ this }} as t
    semi join declared as d using (location_id, sku_id, batch_id)
)
{% endif %}

select location_id, sku_id, batch_id, min(expiry_date) as expiry_date
from (
    select * from declared
    {% if is_incremental() %} union all select * from known {% endif %}
)
group by all
