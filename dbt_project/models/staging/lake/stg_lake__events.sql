{% set tables = ['scans', 'pos_transactions', 'stock_transits', 'temperature_readings'] %}
{% for t in tables %}
select
    event_id,
    event_type,
    '{{ t }}' as topic,
    occurred_at,
    cast(timezone('{{ var("timezone") }}', occurred_at) as date) as business_date,
    source as source_id,
    source_seq,
    location as location_id,
    payload,
    "partition" as partition_id,
    "offset" as kafka_offset,
    apply_seq,
    coalesce(delivery, 'live') as delivery,
    landed_at
from (
    {#- files landed before deliveries were recorded have no `delivery` column: their events are live -#}
    select * from {{ source('lake', t) }}
    union all by name
    select null::varchar as delivery where false
)
{% if not loop.last %}union all{% endif %}
{% endfor %}
