-- Event time → landed in the lake, per topic and business day.
select
    topic,
    business_date,
    count(*) as events,
    quantile_cont(epoch(landed_at) - epoch(occurred_at), 0.5) as landed_lag_p50_seconds,
    quantile_cont(epoch(landed_at) - epoch(occurred_at), 0.95) as landed_lag_p95_seconds,
    max(epoch(landed_at) - epoch(occurred_at)) as landed_lag_max_seconds,
    max(landed_at) as last_landed_at
from {{ ref('stg_lake__events') }}
group by all
