{#- the days of the orders that moved since the last build are recomputed -#}
{% set recomputed %}
select min(business_date) from fct_stock_movements
where event_type = 'stock_reservation' and reference in (
    select reference from fct_stock_movements
    where event_type in ('stock_reservation', 'sales_issue') and landed_at >= {{ check_since() }}
)
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}

-- B2B fill rate per warehouse and day: quantity issued against sales orders / quantity ordered
-- (reserved), capped per order, in base units. An order belongs to the day it was first reserved.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with ordered as (
    select
        location_id,
        reference as sales_order,
        min(business_date) as business_date,
        sum(reserved_delta) as ordered_qty
    from {{ ref('fct_stock_movements') }}
    where event_type = 'stock_reservation' and reserved_delta > 0  -- a release is not an order
    {% if is_incremental() %} and business_date >= {{ cutoff }} {% endif %}
    group by all
),

issued as (
    select location_id, reference as sales_order, sum(-on_hand_delta) as issued_qty
    from {{ ref('fct_stock_movements') }}
    where event_type = 'sales_issue'
    {% if is_incremental() %} and business_date >= {{ cutoff }} {% endif %}
    group by all
)

select
    o.location_id,
    o.business_date,
    count(*) as orders,
    sum(o.ordered_qty) as ordered_qty,
    sum(least(coalesce(i.issued_qty, 0), o.ordered_qty)) as filled_qty,
    round(sum(least(coalesce(i.issued_qty, 0), o.ordered_qty)) / sum(o.ordered_qty), 4) as fill_rate
from ordered as o
left join issued as i using (location_id, sales_order)
group by all
