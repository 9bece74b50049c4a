-- Dead stock per location on the last business day (kpi_daily_inventory's last day).
select
    location_id,
    business_date as as_of_date,
    on_hand_value as stock_value,
    dead_stock_value,
    dead_stock_ratio
from {{ ref('kpi_daily_inventory') }}
where business_date = (select max(business_date) from {{ ref('kpi_daily_inventory') }})
