{{ config(materialized='append', cluster_by='business_date') }}
-- depends_on: {{ ref('fct_daily_stock_balances') }}  (its rebuilt days bound the incremental range)

-- Units sold per store × SKU × sales channel × business day, in base units, from the till
-- tickets (returns are not negative demand). What per-channel forecasting reads; days without
-- sales are absent.
{% if is_incremental() %}
{% set cutoff = rebuilt_from(ref('fct_daily_stock_balances')) %}
{{ delete_from(this, 'business_date', cutoff) }}
{% endif %}

select
    l.store_id as location_id,
    l.sku_id,
    l.channel,
    l.business_date,
    cast(sum(
        l.qty * case when l.unit = s.base_unit then 1 else cast(json_extract(s.packs, '$.' || l.unit) as integer) end
    ) as bigint) as units,
    count(distinct l.event_id) as tickets,
    {{ build_started_at() }} as built_at
from {{ ref('stg_lake__pos_lines') }} as l
join {{ ref('dim_skus') }} as s on s.sku_id = l.sku_id
where l.event_type = 'pos_sale'
{% if is_incremental() %}
    -- the day is the company's: a ticket of that day occurred at most a day before its UTC date
    and l.business_date >= {{ cutoff }} and l.occurred_at >= {{ cutoff }} - interval 1 day
{% endif %}
group by all
