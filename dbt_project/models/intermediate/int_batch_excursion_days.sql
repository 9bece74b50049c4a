{#- Days from the first one whose stock was rebuilt, or whose readings landed since the last
    build, are recomputed, from a day earlier: a day's last reading lasts until the next one. -#}
{% set recomputed %}
select least(
    coalesce(({{ rebuilt_days('fct_daily_stock_balances') }}), date '9999-12-31'),
    coalesce((
        select min(cast(timezone('{{ var("timezone") }}', occurred_at) as date)) from stg_lake__temperature_readings
        where landed_at >= {{ check_since() }}
    ), date '9999-12-31')
) - 1
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku_id', 'batch_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}

-- Readings out of its SKU's range (the range in effect when the reading was taken) while a
-- cold-chain batch was at the location, per batch and business day. A reading lasts until the
-- sensor's next one (at most an hour); a sensor's last reading counts for one minute.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with readings as (
    select
        location_id,
        occurred_at,
        cast(timezone('{{ var("timezone") }}', occurred_at) as date) as business_date,
        celsius,
        lead(occurred_at) over (partition by location_id, sensor_id order by occurred_at) as next_at
    from {{ ref('stg_lake__temperature_readings') }}
    {% if is_incremental() %} where occurred_at >= cast({{ cutoff }} - 1 as timestamptz) {% endif %}
),

batches_present as (
    select distinct b.location_id, b.sku_id, b.batch_id, b.business_date
    from {{ ref('fct_daily_stock_balances') }} as b
    where (b.opening_qty > 0 or b.closing_qty > 0)
        -- SKUs with a cold-chain range in any of their versions
        and b.sku_id in (select sku_id from {{ ref('dim_skus') }} where is_cold_chain)
    {% if is_incremental() %} and b.business_date >= {{ cutoff }} {% endif %}
)

select
    p.location_id,
    p.sku_id,
    p.batch_id,
    r.business_date,
    count(*) as readings_out_of_range,
    sum(cast(coalesce(least((epoch_us(r.next_at) - epoch_us(r.occurred_at)) / 1e6, 3600), 60) as decimal(18, 3)))
        as seconds_out_of_range,
    max(r.celsius) as peak_celsius,
    min(r.celsius) as lowest_celsius,
    min(r.occurred_at) as first_excursion_at,
    max(r.occurred_at) as last_excursion_at,
    {{ build_started_at() }} as built_at
from readings as r
inner join batches_present as p
    on p.location_id = r.location_id
    and p.business_date = r.business_date
inner join {{ ref('dim_skus') }} as s on s.sku_id = p.sku_id and {{ version_at('s', 'r.occurred_at') }}
where (r.celsius < s.cold_chain_min_c or r.celsius > s.cold_chain_max_c)
    {% if is_incremental() %} and r.business_date >= {{ cutoff }} {% endif %}
group by all
