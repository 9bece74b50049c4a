-- A store's till sales per day add up to the same units by channel as in total: every sale
-- movement found its ticket's channel. Checked on the complete days this build (re)wrote (the
-- current day is still landing while the build reads).
with channels as (
    select location_id, sku_id, business_date, sum(units) as units
    from {{ ref('fct_daily_channel_demand') }}
    where built_at = (select started_at from build_info)
    group by all
),

totals as (
    select d.location_id, d.sku_id, d.business_date, d.units
    from {{ ref('fct_daily_demand') }} as d
    join {{ ref('dim_locations') }} as l on l.location_id = d.location_id and l.location_kind = 'store'
    where d.built_at = (select started_at from build_info)
)

select *
from channels
full outer join totals using (location_id, sku_id, business_date)
where coalesce(channels.units, 0) <> coalesce(totals.units, 0)
    and business_date < (select max(business_date) from {{ ref('fct_daily_demand') }})
