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
-- and issued against B2B orders (warehouses). Returns are not negative demand. What forecasting
-- reads; days without demand are absent (the reader fills them with zeros).
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

select
    location_id,
    sku_id,
    business_date,
    sum(-on_hand_delta) as units,
    count(distinct event_id) as documents,
    {{ build_started_at() }} as built_at
from {{ ref('fct_stock_movements') }}
where event_type in ('pos_sale', 'sales_issue') and on_hand_delta < 0
{% if is_incremental() %} and business_date >= {{ cutoff }} {% endif %}
group by all
{% if not is_incremental() %} order by business_date {% endif %}
