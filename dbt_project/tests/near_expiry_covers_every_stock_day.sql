-- Every location-day of the stock KPIs has its near-expiry value (0 when nothing is near
-- expiry), so a day without one never shows the day before's.
select location_id, business_date
from {{ ref('kpi_daily_inventory') }}
where built_at = (select started_at from build_info)
except
select location_id, business_date
from {{ ref('kpi_daily_near_expiry_value') }}
