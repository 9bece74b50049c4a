{{ config(materialized='append', cluster_by='landed_at') }}

{% if is_incremental() and execute %}
{#- Movements that landed since the last build, and older ones valued since then (the books
    post a little after the lake): both bounded by landing time. The bound is computed first
    and inlined as a constant, so Parquet statistics prune the files before it. -#}
{% set cutoff_query %}
select strftime(least(
    (select max(landed_at) from {{ this }}),
    coalesce((
        select min(landed_at) from {{ ref('stg_books__stock_ledger_entries') }}
        where valued_at > (select coalesce(max(valued_at), timestamptz '1970-01-01') from {{ this }})
    ), timestamptz '9999-12-31')
) - interval ({{ var('lookback_minutes') }}) minute, '%Y-%m-%d %H:%M:%S.%f+00')
{% endset %}
{% set cutoff = "timestamptz '" ~ run_query(cutoff_query).columns[0].values()[0] ~ "'" %}
{{ delete_from(this, 'landed_at', cutoff) }}
{% endif %}

with movements as (
    select * from {{ ref('stg_lake__inventory_changes') }}
    {% if is_incremental() %} where landed_at >= {{ cutoff }} {% endif %}
),

valued as (
    select * from {{ ref('stg_books__stock_ledger_entries') }}
    {% if is_incremental() %} where landed_at >= {{ cutoff }} {% endif %}
)

select
    m.movement_key,
    m.event_id,
    m.event_type,
    m.occurred_at,
    m.business_date,
    m.location_id,
    m.sku_id,
    m.batch_id,
    m.on_hand_delta,
    m.reserved_delta,
    m.quarantined_delta,
    m.in_transit_delta,
    m.on_hand_after,
    m.reserved_after,
    m.quarantined_after,
    m.in_transit_after,
    m.reference,
    m.counterparty,
    m.unit_price,
    m.negative_stock,
    m.apply_seq,
    m.landed_at,
    v.valuation_method,
    v.unit_cost,
    v.value_change,
    v.transit_value_change,
    v.transit_location_id,
    v.cost_variance,
    v.stock_value_after,
    v.valuation_rate,
    v.valued_at
from movements as m
left join valued as v using (movement_key)
