-- Inventory turnover days per location and month: average stock value / cost of sales per day.
with location_days as (
    select location_id, business_date, sum(closing_value) as stock_value
    from {{ ref('int_location_sku_days') }}
    group by all
),

cost_of_sales as (
    select location_id, business_date, sum(-value_change) as cost_of_sales
    from {{ ref('fct_stock_movements') }}
    where event_type in ('pos_sale', 'pos_return', 'sales_issue') and value_change is not null
    group by all
)

select
    d.location_id,
    date_trunc('month', d.business_date)::date as month,
    count(*) as days,
    cast(avg(d.stock_value) as decimal(18, 2)) as avg_stock_value,
    cast(coalesce(sum(c.cost_of_sales), 0) as decimal(18, 2)) as cost_of_sales,
    case
        when coalesce(sum(c.cost_of_sales), 0) > 0
            then round(avg(d.stock_value) / (sum(c.cost_of_sales) / count(*)), 1)
    end as turnover_days
from location_days as d
left join cost_of_sales as c using (location_id, business_date)
group by all
