{#- days from the first one whose stock was rebuilt (a sale is a stock movement, so the days
    after a newly landed sale are among them) -#}
{% set recomputed = rebuilt_days('int_location_sku_days') %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}

-- Stockout rate per store and day: among the SKUs a store sold in the `stockout_active_days`
-- days before, the share that ended the day with nothing on hand.
{% set active_days = var('stockout_active_days') %}
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with sold as (
    -- what the tills sold (every sold line is a stock movement of the store)
    select location_id, sku_id, business_date
    from {{ ref('fct_stock_movements') }}
    where event_type = 'pos_sale'
    {% if is_incremental() %} and business_date >= {{ cutoff }} - {{ active_days }} {% endif %}
    group by all
),

active as (
    select distinct d.location_id, d.sku_id, d.business_date, d.closing_qty
    from {{ ref('int_location_sku_days') }} as d
    inner join sold as s
        on s.location_id = d.location_id
        and s.sku_id = d.sku_id
        and s.business_date between d.business_date - {{ active_days }} and d.business_date - 1
    {% if is_incremental() %} where d.business_date >= {{ cutoff }} {% endif %}
)

select
    location_id,
    business_date,
    count(*) as active_sku_days,
    count(*) filter (where closing_qty <= 0) as stockout_sku_days,
    round(count(*) filter (where closing_qty <= 0) / count(*), 4) as stockout_rate
from active
group by all
