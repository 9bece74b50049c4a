{% set recomputed = rebuilt_days('fct_daily_stock_balances') %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}
-- depends_on: {{ ref('fct_daily_stock_balances') }}  (its rebuilt days bound the incremental range)

-- Portions of each dish made to order per store × sales channel × business day: what the
-- dish's own rows of the till lines say (a dish moves no stock; its ingredients' rows are
-- recipe consumption, not demand for them). Sold portions count; a refund takes its portions
-- off only where the ticket says the dish was untouched (its ingredients came back): a dish
-- refunded after it was made was still made. Never below 0 on a day. An incremental build
-- replaces a store × dish × day with all its channels (the key above).
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with tickets as (
    select
        event_id,
        payload ->> '$.channel' as channel,
        coalesce(cast(payload ->> '$.restock_ingredients' as boolean), false) as untouched
    from {{ ref('stg_lake__events') }}
    where topic = 'pos_transactions' and event_type in ('pos_sale', 'pos_return')
    {% if is_incremental() %}
        -- the day is the company's: a ticket of that day occurred at most a day before its UTC date
        and occurred_at >= {{ cutoff }} - interval 1 day
    {% endif %}
),

dish_rows as (
    -- each till line of a dish books its rows under `<ticket's event id>:<line number>`
    select
        regexp_replace(event_id, ':[0-9]+$', '') as ticket_event_id,
        event_type,
        location_id,
        sku_id,
        business_date,
        portions
    from {{ ref('fct_stock_movements') }}
    where event_type in ('pos_sale', 'pos_return') and sku_id = dish_sku_id and portions > 0
    {% if is_incremental() %} and business_date >= {{ cutoff }} {% endif %}
)

select
    d.location_id,
    d.sku_id,
    t.channel,
    d.business_date,
    sum(case when d.event_type = 'pos_sale' then d.portions else 0 end) as portions_sold,
    sum(case when d.event_type = 'pos_return' and t.untouched then d.portions else 0 end)
        as portions_untouched,
    greatest(
        0,
        sum(case when d.event_type = 'pos_sale' then d.portions when t.untouched then -d.portions else 0 end)
    ) as units,
    count(distinct case when d.event_type = 'pos_sale' then d.ticket_event_id end) as tickets,
    {{ build_started_at() }} as built_at
from dish_rows as d
join tickets as t on t.event_id = d.ticket_event_id
group by all
{% if not is_incremental() %} order by d.business_date {% endif %}
