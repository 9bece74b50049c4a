{% set recomputed = rebuilt_days('fct_daily_stock_balances') %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}
-- depends_on: {{ ref('fct_daily_stock_balances') }}  (its rebuilt days bound the incremental range)

-- Units sold per store × SKU × sales channel × business day, in base units: the tills' sale
-- movements with the channel of their ticket (returns are not negative demand), and a dish's
-- portions per channel (int_dish_channel_days; the ingredients its recipe took are not their
-- demand), as fct_daily_demand counts them. What per-channel forecasting reads; days without
-- sales are absent. An incremental build replaces a store × SKU × day with all its channels
-- (the key above).
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with tickets as (
    select event_id, payload ->> '$.channel' as channel
    from {{ ref('stg_lake__events') }}
    where topic = 'pos_transactions' and event_type = 'pos_sale'
    {% if is_incremental() %}
        -- the day is the company's: a ticket of that day occurred at most a day before its UTC date
        and occurred_at >= {{ cutoff }} - interval 1 day
    {% endif %}
),

sales as (
    select event_id, location_id, sku_id, business_date, -on_hand_delta as units
    from {{ ref('fct_stock_movements') }}
    where event_type = 'pos_sale' and on_hand_delta < 0 and dish_sku_id is null
    {% if is_incremental() %} and business_date >= {{ cutoff }} {% endif %}
),

goods as (
    select s.location_id, s.sku_id, t.channel, s.business_date, sum(s.units) as units,
        count(distinct s.event_id) as tickets
    from sales as s
    join tickets as t on t.event_id = s.event_id
    group by all
),

dishes as (
    select location_id, sku_id, channel, business_date, units, tickets
    from {{ ref('int_dish_channel_days') }}
    {% if is_incremental() %} where business_date >= {{ cutoff }} {% endif %}
)

select
    location_id,
    sku_id,
    channel,
    business_date,
    units,
    tickets,
    {{ build_started_at() }} as built_at
from (select * from goods union all by name select * from dishes)
{% if not is_incremental() %} order by business_date {% endif %}
