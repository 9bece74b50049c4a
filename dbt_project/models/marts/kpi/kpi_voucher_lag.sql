-- Voucher lag (event time → posted) per set of books and day of posting.
select
    accounting_unit,
    cast(timezone('{{ var("timezone") }}', posted_at) as date) as posted_date,
    count(*) as vouchers,
    quantile_cont(lag_seconds, 0.5) as lag_p50_seconds,
    quantile_cont(lag_seconds, 0.99) as lag_p99_seconds,
    max(lag_seconds) as lag_max_seconds
from {{ ref('stg_books__vouchers') }}
where kind = 'normal'
group by all
