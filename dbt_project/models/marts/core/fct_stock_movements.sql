{#- Movements that landed since the last build, and older ones valued since then (the books
    post a little after the lake): both bounded by landing time. -#}
{% set recomputed %}
select least(
    (select max(landed_at) from fct_stock_movements),
    coalesce((
        select min(landed_at) from stg_books__stock_ledger_entries
        where valued_at > (select coalesce(max(valued_at), timestamptz '1970-01-01') from fct_stock_movements)
    ), timestamptz '9999-12-31')
) - interval ({{ var('lookback_minutes') }}) minute
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['movement_key'],
    incremental_predicates=[recomputed_from('landed_at', recomputed, "timestamptz '9999-12-31'")],
) }}
{% if is_incremental() %}{% set cutoff = constant_timestamp(recomputed) %}{% endif %}

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
    s.category,
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
    m.dish_sku_id,
    m.portions,
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
-- the SKU as it was when the movement occurred: a report by category for a past month counts
-- each movement under the category the SKU had then
left join {{ ref('dim_skus') }} as s on s.sku_id = m.sku_id and {{ version_at('s', 'm.occurred_at') }}
-- a full build stores the rows by landing time: later builds replace a recent range, in few row groups
{% if not is_incremental() %} order by m.landed_at {% endif %}
