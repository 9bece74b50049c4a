-- Theoretical against actual ingredient usage between two counts (理论用量 vs 实际用量): one
-- row per location × ingredient × count that has a previous count of the same location ×
-- ingredient.
--
-- * An ingredient is a stocked SKU (goods or semi-finished) some recipe takes.
-- * A count is the cycle_count events of one count_id at a location for one SKU (one per batch
--   counted), and those taken at the same moment under other ids: its quantity is their sum in
--   base units, its time the latest of them. A batch it does not name was counted as nothing.
-- * Between the previous count and this one (occurred_at in (previous, this]), each movement
--   of the ingredient at the location is one of:
--   - recipe consumption: a row made to a recipe of another product (dish_sku_id set and not
--     the ingredient itself): the ingredients a till line of a dish or a prep took, and those
--     a refund of an untouched dish gave back;
--   - a count-variance adjustment (what a count's difference booked): left out, the counts
--     themselves say it;
--   - anything else (receipts, transfers, the prep of the item itself, waste adjustments, ...):
--     net_other.
-- * actual_usage = opening + net_other − closing; theoretical_usage = what the recipes took
--   (net of restocked refunds); variance = actual − theoretical (positive: more was used than
--   the recipes say). recorded_waste: the damage, expired and shrinkage adjustments of the
--   interval (already in net_other: known waste, shown apart).
-- * Values at the ingredient's valuation rate in the books' stock ledger at the count (its
--   standard cost where the books have not valued it yet).
with ingredients as (
    select s.sku_id, s.base_unit, s.packs, s.standard_cost
    from {{ ref('stg_masterdata__skus') }} as s
    where s.sku_kind <> 'dish'
      and s.sku_id in (select component_sku_id from {{ ref('stg_masterdata__recipes') }})
),

count_events as (
    select
        e.event_id,
        e.occurred_at,
        e.location_id,
        e.payload ->> '$.count_id' as count_id,
        e.payload ->> '$.sku' as sku_id,
        cast(e.payload ->> '$.counted_qty' as decimal(18, 3)) as counted_qty,
        coalesce(e.payload ->> '$.unit', 'each') as unit
    from {{ ref('stg_lake__events') }} as e
    where e.event_type = 'cycle_count'
),

counts as (
    select
        c.location_id,
        c.sku_id,
        c.count_id,
        max(c.occurred_at) as counted_at,
        sum(round(c.counted_qty * case
            when c.unit = i.base_unit then 1
            else cast(json_extract_string(i.packs, '$."' || c.unit || '"') as bigint)
        end)) as counted_qty
    from count_events as c
    join ingredients as i on i.sku_id = c.sku_id
    group by all
),

-- counts of one SKU at one location taken at the same moment under several ids (a count per
-- batch) are one count: the first id names it
sessions as (
    select location_id, sku_id, min(count_id) as count_id, counted_at, sum(counted_qty) as counted_qty
    from counts
    group by location_id, sku_id, counted_at
),

intervals as (
    select
        location_id,
        sku_id,
        count_id,
        counted_at,
        counted_qty,
        lag(count_id) over w as previous_count_id,
        lag(counted_at) over w as previous_counted_at,
        lag(counted_qty) over w as previous_counted_qty
    from sessions
    window w as (partition by location_id, sku_id order by counted_at, count_id)
),

movements as (
    select
        m.location_id,
        m.sku_id,
        m.occurred_at,
        m.on_hand_delta,
        m.dish_sku_id is not null and m.dish_sku_id <> m.sku_id as is_recipe,
        m.event_type = 'stock_adjustment' and m.reference = 'count_variance' as is_count_variance,
        m.event_type = 'stock_adjustment' and m.reference in ('damage', 'expired', 'shrinkage') as is_waste
    from {{ ref('stg_lake__inventory_changes') }} as m
    where m.on_hand_delta <> 0 and m.sku_id in (select sku_id from ingredients)
),

flows as (
    select
        i.location_id,
        i.sku_id,
        i.count_id,
        coalesce(sum(m.on_hand_delta) filter (where not m.is_recipe and not m.is_count_variance), 0) as net_other,
        coalesce(sum(-m.on_hand_delta) filter (where m.is_recipe), 0) as theoretical_usage,
        coalesce(sum(-m.on_hand_delta) filter (where m.is_waste), 0) as recorded_waste
    from intervals as i
    left join movements as m
        on m.location_id = i.location_id
        and m.sku_id = i.sku_id
        and m.occurred_at > i.previous_counted_at
        and m.occurred_at <= i.counted_at
    where i.previous_count_id is not null
    group by all
),

valued as (
    select location_id, sku_id, occurred_at, valuation_rate
    from {{ ref('stg_books__stock_ledger_entries') }}
    where sku_id in (select sku_id from ingredients)
),

measured as (
    select
        i.location_id,
        i.sku_id,
        i.count_id,
        i.counted_at,
        cast(timezone('{{ var("timezone") }}', i.counted_at) as date) as business_date,
        i.previous_count_id,
        i.previous_counted_at,
        cast(i.previous_counted_qty as bigint) as opening_qty,
        f.net_other,
        cast(i.counted_qty as bigint) as closing_qty,
        cast(i.previous_counted_qty + f.net_other - i.counted_qty as bigint) as actual_usage,
        f.theoretical_usage,
        f.recorded_waste
    from intervals as i
    join flows as f using (location_id, sku_id, count_id)
)

select
    m.location_id,
    m.sku_id,
    m.count_id,
    m.counted_at,
    m.business_date,
    m.previous_count_id,
    m.previous_counted_at,
    date_diff('day', cast(timezone('{{ var("timezone") }}', m.previous_counted_at) as date), m.business_date)
        as days_covered,
    m.opening_qty,
    m.net_other,
    m.closing_qty,
    m.actual_usage,
    m.theoretical_usage,
    m.actual_usage - m.theoretical_usage as variance_qty,
    case when m.theoretical_usage <> 0
        then round((m.actual_usage - m.theoretical_usage) / m.theoretical_usage, 4)
    end as variance_pct,
    m.recorded_waste,
    coalesce(v.valuation_rate, i.standard_cost) as valuation_rate,
    round(m.theoretical_usage * coalesce(v.valuation_rate, i.standard_cost), 2) as theoretical_value,
    round(m.actual_usage * coalesce(v.valuation_rate, i.standard_cost), 2) as actual_value,
    round((m.actual_usage - m.theoretical_usage) * coalesce(v.valuation_rate, i.standard_cost), 2)
        as variance_value,
    round(m.recorded_waste * coalesce(v.valuation_rate, i.standard_cost), 2) as recorded_waste_value
from measured as m
join ingredients as i on i.sku_id = m.sku_id
asof left join valued as v
    on v.location_id = m.location_id and v.sku_id = m.sku_id and v.occurred_at <= m.counted_at
order by m.business_date, m.location_id, m.sku_id, m.counted_at
