-- Minutes each cold-chain batch spent outside its SKU's range while it was at the location.
with readings as (
    select
        location_id,
        occurred_at,
        celsius,
        lead(occurred_at) over (partition by location_id, sensor_id order by occurred_at) as next_at
    from {{ ref('stg_lake__temperature_readings') }}
),

batches_present as (
    select distinct b.location_id, b.sku_id, b.batch_id, b.business_date
    from {{ ref('fct_daily_stock_balances') }} as b
    inner join {{ ref('dim_skus') }} as s using (sku_id)
    where s.is_cold_chain and (b.opening_qty > 0 or b.closing_qty > 0)
),

out_of_range as (
    select
        p.location_id,
        p.sku_id,
        p.batch_id,
        r.occurred_at,
        r.celsius,
        -- the last reading of a sensor counts for one minute
        coalesce(least(epoch(r.next_at) - epoch(r.occurred_at), 3600), 60) / 60.0 as minutes
    from readings as r
    inner join batches_present as p
        on p.location_id = r.location_id
        and p.business_date = cast(timezone('{{ var("timezone") }}', r.occurred_at) as date)
    inner join {{ ref('dim_skus') }} as s on s.sku_id = p.sku_id
    where r.celsius < s.cold_chain_min_c or r.celsius > s.cold_chain_max_c
)

select
    location_id,
    sku_id,
    batch_id,
    count(*) as readings_out_of_range,
    round(sum(minutes), 1) as minutes_out_of_range,
    max(celsius) as peak_celsius,
    min(celsius) as lowest_celsius,
    min(occurred_at) as first_excursion_at,
    max(occurred_at) as last_excursion_at
from out_of_range
group by all
