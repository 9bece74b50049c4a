-- Expiry date of each batch at each location, as its receipt or its transfer declared it
-- (a transfer's in-transit leg is an event of the destination).
select
    location_id,
    payload ->> '$.sku' as sku_id,
    payload ->> '$.batch' as batch_id,
    min(cast(payload ->> '$.expiry_date' as date)) as expiry_date
from {{ ref('stg_lake__events') }}
where event_type in ('goods_receipt', 'transit_dispatched') and payload ->> '$.expiry_date' is not null
group by all
