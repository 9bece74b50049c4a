{% set posted_date %} cast(timezone('{{ var("timezone") }}', posted_at) as date) {% endset %}
{#- the posting days of the vouchers this build added are recomputed -#}
{% set recomputed %}
select min({{ posted_date }}) from fct_vouchers where built_at = {{ build_started_at() }}
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['accounting_unit', 'posted_date'],
    incremental_predicates=[recomputed_from('posted_date', recomputed)],
) }}

-- Voucher lag (event time → posted) per set of books and day of posting, of the vouchers whose
-- event arrived live: vouchers for history its producer sent after the fact (backfilled,
-- replayed) are counted apart. A voucher whose event is not in the lake counts as live.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with vouchers as (
    select accounting_unit, {{ posted_date }} as posted_date, source_event_id, lag_seconds
    from {{ ref('fct_vouchers') }}
    where kind = 'normal'
    {% if is_incremental() %} and posted_at >= cast({{ cutoff }} - 1 as timestamptz) and {{ posted_date }} >= {{ cutoff }} {% endif %}
),

backfilled as (
    select event_id
    from {{ ref('stg_lake__events') }}
    where delivery = 'backfill' and event_id in (select source_event_id from vouchers)
),

judged as (
    select v.*, b.event_id is null as live
    from vouchers as v
    left join backfilled as b on b.event_id = v.source_event_id
)

select
    accounting_unit,
    posted_date,
    count(*) as vouchers,
    count(*) filter (where live) as live_vouchers,
    count(*) filter (where not live) as backfilled_vouchers,
    quantile_cont(lag_seconds, 0.5) filter (where live) as lag_p50_seconds,
    quantile_cont(lag_seconds, 0.99) filter (where live) as lag_p99_seconds,
    max(lag_seconds) filter (where live) as lag_max_seconds
from judged
group by all
