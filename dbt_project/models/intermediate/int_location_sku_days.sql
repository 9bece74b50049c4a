{#- The days from the first one the balances rebuilt (or the day after the last one here) are
    recomputed, carried forward from the closing of the day before: the calendar is dense, so
    every series that started earlier has a row on that day. -#}
{% set recomputed %}
select least(
    coalesce(({{ rebuilt_days('fct_daily_stock_balances') }}), date '9999-12-31'),
    coalesce((select max(business_date) + 1 from int_location_sku_days), date '9999-12-31')
)
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}
-- depends_on: {{ ref('fct_daily_stock_balances') }}

-- One row per location × SKU × day from its first movement to the last business day,
-- with the closing on-hand quantity and value (days without movements carried forward) and
-- the last day with an outbound movement so far.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with daily as (
    select
        location_id,
        sku_id,
        business_date,
        sum(qty_in - qty_out) as qty_change,
        sum(value_change) as value_change,
        sum(qty_out) as qty_out
    from {{ ref('fct_daily_stock_balances') }}
    {% if is_incremental() %} where business_date >= {{ cutoff }} {% endif %}
    group by all
),

{% if is_incremental() %}
previous as (
    select location_id, sku_id, closing_qty, closing_value, last_outbound_date
    from {{ this }}
    where business_date = {{ cutoff }} - 1
),
{% endif %}

bounds as (
    select location_id, sku_id, min(first_date) as first_date
    from (
        select location_id, sku_id, min(business_date) as first_date from daily group by all
        {% if is_incremental() %}
        union all
        select location_id, sku_id, {{ cutoff }} from previous
        {% endif %}
    )
    group by all
),

calendar as (
    select b.location_id, b.sku_id, cast(d.day as date) as business_date
    from bounds as b,
        range(
            b.first_date,
            (select max(business_date) from {{ ref('fct_daily_stock_balances') }}) + 1,
            interval 1 day
        ) as d(day)
)

select
    c.location_id,
    c.sku_id,
    c.business_date,
    coalesce(d.qty_out, 0) as qty_out,
    {% if is_incremental() %} coalesce(p.closing_qty, 0) + {% endif %}
        sum(coalesce(d.qty_change, 0)) over w as closing_qty,
    {% if is_incremental() %} coalesce(p.closing_value, 0) + {% endif %}
        sum(coalesce(d.value_change, 0)) over w as closing_value,
    {% if is_incremental() %} greatest(p.last_outbound_date, {% endif %}
        max(case when d.qty_out > 0 then c.business_date end) over w
    {% if is_incremental() %} ) {% endif %} as last_outbound_date,
    {{ build_started_at() }} as built_at
from calendar as c
left join daily as d using (location_id, sku_id, business_date)
{% if is_incremental() %} left join previous as p using (location_id, sku_id) {% endif %}
window w as (partition by c.location_id, c.sku_id order by c.business_date rows unbounded preceding)
{% if not is_incremental() %} order by c.business_date {% endif %}
