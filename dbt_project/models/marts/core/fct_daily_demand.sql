{#- a day's demand changes only with its movements: the days the balances rebuilt -#}
{% set recomputed = rebuilt_days('fct_daily_stock_balances') %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}
-- depends_on: {{ ref('fct_daily_stock_balances') }}  (its rebuilt days bound the incremental range)

-- Units demanded per location × SKU × business day, in base units: sold at the tills (stores)
-- and issued against B2B orders (warehouses). Returns are not negative demand. A dish made to
-- order is demanded in portions (int_dish_channel_days: sold less refunded untouched); the
-- ingredients and semi-finished items its recipe took at the till are recipe consumption, not
-- their own demand (planning explodes the dish's forecast into them). What forecasting reads;
-- days without demand are absent (the reader fills them with zeros).
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with goods as (
    select location_id, sku_id, business_date, sum(-on_hand_delta) as units, count(distinct event_id) as documents
    from {{ ref('fct_stock_movements') }}
    where event_type in ('pos_sale', 'sales_issue') and on_hand_delta < 0 and dish_sku_id is null
    {% if is_incremental() %} and business_date >= {{ cutoff }} {% endif %}
    group by all
),

dishes as (
    -- a ticket has one channel: its tickets add up over the channels
    select location_id, sku_id, business_date, sum(units) as units, sum(tickets) as documents
    from {{ ref('int_dish_channel_days') }}
    {% if is_incremental() %} where business_date >= {{ cutoff }} {% endif %}
    group by all
)

select
    location_id,
    sku_id,
    business_date,
    units,
    documents,
    {{ build_started_at() }} as built_at
from (select * from goods union all by name select * from dishes)
{% if not is_incremental() %} order by business_date {% endif %}
