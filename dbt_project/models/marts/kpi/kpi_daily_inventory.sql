{#- the days the stock series rebuilt (every new movement or valuation rebuilds its day on) -#}
{% set recomputed = rebuilt_days('int_location_sku_days') %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}

-- The stock KPIs per location and business day: stock value (inventory value), cost of sales
-- (turnover = stock value / cost of sales per day), and dead stock: stock of SKUs with no
-- outbound movement in the `dead_stock_days` days before.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with stock as (
    select
        location_id,
        business_date,
        sum(closing_value) as stock_value,
        coalesce(sum(closing_value) filter (where closing_qty > 0), 0) as on_hand_value,
        coalesce(sum(closing_value) filter (
            where closing_qty > 0
            and (last_outbound_date is null or last_outbound_date < business_date - {{ var('dead_stock_days') }})
        ), 0) as dead_stock_value
    from {{ ref('int_location_sku_days') }}
    {% if is_incremental() %} where business_date >= {{ cutoff }} {% endif %}
    group by all
),

cost_of_sales as (
    select location_id, business_date, sum(-value_change) as cost_of_sales
    from {{ ref('fct_stock_movements') }}
    where event_type in ('pos_sale', 'pos_return', 'sales_issue') and value_change is not null
    {% if is_incremental() %} and business_date >= {{ cutoff }} {% endif %}
    group by all
)

select
    s.location_id,
    s.business_date,
    cast(s.stock_value as decimal(18, 2)) as stock_value,
    cast(coalesce(c.cost_of_sales, 0) as decimal(18, 2)) as cost_of_sales,
    cast(s.on_hand_value as decimal(18, 2)) as on_hand_value,
    cast(s.dead_stock_value as decimal(18, 2)) as dead_stock_value,
    round(s.dead_stock_value / nullif(s.on_hand_value, 0), 4) as dead_stock_ratio,
    {{ build_started_at() }} as built_at
from stock as s
left join cost_of_sales as c using (location_id, business_date)
