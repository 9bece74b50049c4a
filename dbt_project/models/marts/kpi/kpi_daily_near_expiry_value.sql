{#- the days the stock KPIs rebuilt: a batch's balance changes only with its movements -#}
{% set recomputed = rebuilt_days('kpi_daily_inventory') %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}

-- Near-expiry value per location and business day: the value, at the close of the day, of the
-- batches on hand that expire within `near_expiry_value_days` days (or have expired).
-- Every location-day of kpi_daily_inventory has a row (0 when nothing is near expiry).
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with days as (
    select location_id, business_date
    from {{ ref('kpi_daily_inventory') }}
    {% if is_incremental() %} where business_date >= {{ cutoff }} {% endif %}
),

near as (
    -- each batch on the days it is near expiry, with its balance at their close
    select d.location_id, d.business_date, e.sku_id, e.batch_id
    from days as d
    inner join {{ ref('int_batch_expiries') }} as e
        on e.location_id = d.location_id
        and d.business_date >= e.expiry_date - {{ var('near_expiry_value_days') }}
),

held as (
    select n.location_id, n.business_date, b.closing_qty, b.closing_value
    from near as n
    asof join {{ ref('fct_daily_stock_balances') }} as b
        on b.location_id = n.location_id
        and b.sku_id = n.sku_id
        and b.batch_id = n.batch_id
        and n.business_date >= b.business_date
    where b.closing_qty > 0
)

select
    d.location_id,
    d.business_date,
    count(h.closing_qty) as batches,
    cast(coalesce(sum(h.closing_value), 0) as decimal(18, 2)) as near_expiry_value,
    {{ build_started_at() }} as built_at
from days as d
left join held as h using (location_id, business_date)
group by all
