-- The inventory accounts' balance per location equals the stock value built from movements
-- (the accounts whose balance is stock value come from the accounting policy).
with accounts as (
    select location_id, sum(debit) - sum(credit) as balance
    from {{ ref('fct_voucher_lines') }}
    where account_code in ({% for code in var('inventory_account_codes') %}'{{ code }}'{% if not loop.last %}, {% endif %}{% endfor %})
    group by all
),

stock as (
    select location_id, sum(v) as value
    from (
        select location_id, value_change as v from {{ ref('fct_stock_movements') }} where value_change is not null
        union all
        select transit_location_id, transit_value_change from {{ ref('fct_stock_movements') }}
        where transit_location_id is not null
    )
    group by all
)

select *
from accounts
full outer join stock using (location_id)
where coalesce(balance, 0) <> coalesce(value, 0)
