-- Dishes sold and refunded per store × dish × sales channel × business day, valued from the
-- books' stock ledger. A till line of a dish is booked apart under `<ticket event>:<line>`: the
-- dish's own row (its portions and VAT-inclusive price per portion, no stock) and one row per
-- ingredient batch it took (or, refunded untouched, gave back). Revenue is net of VAT at the
-- dish's rate (as the vouchers book it: the line's amount to the fen, then its net part); the
-- ingredient cost is what the line's ingredient rows took out of stock value (a restocked
-- refund gives its cost back; a refund not restocked gives none: the food is lost).
with ledger as (
    select *
    from {{ ref('stg_books__stock_ledger_entries') }}
    where dish_sku_id is not null and event_type in ('pos_sale', 'pos_return')
),

dish_lines as (
    select
        event_id,
        event_type,
        occurred_at,
        business_date,
        location_id,
        sku_id as dish_sku_id,
        portions,
        coalesce(unit_price, 0) as unit_price,
        counterparty,
        case when event_type = 'pos_return' then -1 else 1 end as direction
    from ledger
    where sku_id = dish_sku_id
),

ingredient_costs as (
    select event_id, location_id, dish_sku_id, -sum(value_change) as ingredient_cost
    from ledger
    where sku_id <> dish_sku_id
    group by all
),

tickets as (
    select event_id, payload ->> '$.channel' as channel
    from {{ ref('stg_lake__events') }}
    where topic = 'pos_transactions'
),

lines as (
    select
        d.location_id,
        d.dish_sku_id,
        -- the ticket's channel (the dish row's counterparty is the customer when it names one)
        coalesce(t.channel, d.counterparty) as channel,
        d.business_date,
        d.event_type,
        d.portions,
        d.direction,
        {{ net_of_vat('round(d.portions * d.unit_price, 2)', 's.vat_rate') }} as revenue_net,
        coalesce(c.ingredient_cost, 0) as ingredient_cost
    from dish_lines as d
    left join tickets as t on t.event_id = regexp_replace(d.event_id, ':[0-9]+$', '')
    left join {{ ref('dim_skus') }} as s on s.sku_id = d.dish_sku_id and {{ version_at('s', 'd.occurred_at') }}
    left join ingredient_costs as c
        on c.event_id = d.event_id and c.location_id = d.location_id and c.dish_sku_id = d.dish_sku_id
),

days as (
    select
        location_id,
        dish_sku_id,
        channel,
        business_date,
        coalesce(sum(portions) filter (where event_type = 'pos_sale'), 0) as portions_sold,
        coalesce(sum(portions) filter (where event_type = 'pos_return'), 0) as portions_refunded,
        count(*) filter (where event_type = 'pos_sale') as sale_lines,
        sum(direction * revenue_net) as revenue_net,
        sum(ingredient_cost) as ingredient_cost
    from lines
    group by all
)

select
    location_id,
    dish_sku_id,
    channel,
    business_date,
    portions_sold,
    portions_refunded,
    portions_sold - portions_refunded as portions_net,
    sale_lines,
    revenue_net,
    ingredient_cost,
    revenue_net - ingredient_cost as gross_margin,
    case when revenue_net <> 0 then round((revenue_net - ingredient_cost) / revenue_net, 4) end as margin_pct
from days
order by business_date, location_id, dish_sku_id, channel
