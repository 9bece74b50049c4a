-- Inventory turnover days per location and month: average stock value / cost of sales per day.
select
    location_id,
    date_trunc('month', business_date)::date as month,
    count(*) as days,
    cast(avg(stock_value) as decimal(18, 2)) as avg_stock_value,
    cast(sum(cost_of_sales) as decimal(18, 2)) as cost_of_sales,
    case
        when sum(cost_of_sales) > 0 then round(avg(stock_value) / (sum(cost_of_sales) / count(*)), 1)
    end as turnover_days
from {{ ref('kpi_daily_inventory') }}
group by all
