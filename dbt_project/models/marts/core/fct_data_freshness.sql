{#- the days of events that landed since the last build are recomputed -#}
{% set recomputed %}
select min(business_date) from stg_lake__events where landed_at >= {{ check_since() }}
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['topic', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}

-- Event time → landed in the lake, per topic and business day.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

select
    topic,
    business_date,
    count(*) as events,
    quantile_cont(epoch(landed_at) - epoch(occurred_at), 0.5) as landed_lag_p50_seconds,
    quantile_cont(epoch(landed_at) - epoch(occurred_at), 0.95) as landed_lag_p95_seconds,
    max(epoch(landed_at) - epoch(occurred_at)) as landed_lag_max_seconds,
    max(landed_at) as last_landed_at
from {{ ref('stg_lake__events') }}
{% if is_incremental() %}
where business_date >= {{ cutoff }} and occurred_at >= cast({{ cutoff }} - 1 as timestamptz)
{% endif %}
group by all
