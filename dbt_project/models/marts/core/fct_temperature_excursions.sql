-- Minutes each cold-chain batch spent outside its SKU's range while it was at the location.
select
    location_id,
    sku_id,
    batch_id,
    sum(readings_out_of_range) as readings_out_of_range,
    round(sum(seconds_out_of_range) / 60, 1) as minutes_out_of_range,
    max(peak_celsius) as peak_celsius,
    min(lowest_celsius) as lowest_celsius,
    min(first_excursion_at) as first_excursion_at,
    max(last_excursion_at) as last_excursion_at
from {{ ref('int_batch_excursion_days') }}
group by all
