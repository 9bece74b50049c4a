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

-- Event time → landed in the lake, per topic and business day, of the events that arrived live:
-- history its producer sent after the fact (backfilled, replayed) is counted apart.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with events as (
    select
        topic,
        business_date,
        delivery = 'live' as live,
        epoch(landed_at) - epoch(occurred_at) as landed_lag_seconds,
        landed_at
    from {{ ref('stg_lake__events') }}
    {% if is_incremental() %}
    where business_date >= {{ cutoff }} and occurred_at >= cast({{ cutoff }} - 1 as timestamptz)
    {% endif %}
)

select
    topic,
    business_date,
    count(*) as events,
    count(*) filter (where live) as live_events,
    count(*) filter (where not live) as backfilled_events,
    quantile_cont(landed_lag_seconds, 0.5) filter (where live) as landed_lag_p50_seconds,
    quantile_cont(landed_lag_seconds, 0.95) filter (where live) as landed_lag_p95_seconds,
    max(landed_lag_seconds) filter (where live) as landed_lag_max_seconds,
    max(landed_at) as last_landed_at
from events
group by all
