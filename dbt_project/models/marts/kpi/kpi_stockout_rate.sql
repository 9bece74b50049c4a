{{ config(materialized='append') }}

-- Stockout rate per store and day: among the SKUs a store sold in the 28 days before, the
-- share that ended the day with nothing on hand.
{% if is_incremental() %}
{#- days from the first one whose stock was rebuilt (a sale is a stock movement, so the days
    after a newly landed sale are among them) -#}
{% set cutoff = rebuilt_from(ref('int_location_sku_days')) %}
{{ delete_from(this, 'business_date', cutoff) }}
{% endif %}

with sold as (
    -- what the tills sold (every sold line is a stock movement of the store)
    select location_id, sku_id, business_date
    from {{ ref('fct_stock_movements') }}
    where event_type = 'pos_sale'
    {% if is_incremental() %} and business_date >= {{ cutoff }} - 28 {% endif %}
    group by all
),

active as (
    select distinct d.location_id, d.sku_id, d.business_date, d.closing_qty
    from {{ ref('int_location_sku_days') }} as d
    inner join sold as s
        on s.location_id = d.location_id
        and s.sku_id = d.sku_id
        and s.business_date between d.business_date - 28 and d.business_date - 1
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
