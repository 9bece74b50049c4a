select
    voucher_id,
    voucher_no,
    accounting_unit,
    period,
    voucher_date,
    summary,
    kind,
    nullif(reverses, '') as reverses_voucher_id,
    note,
    source_event_id,
    source_event_type,
    occurred_at,
    landed_at,
    posted_at,
    lag_seconds,
    total,
    run_id
from {{ source('books', 'vouchers') }}
{{ books_posted() }}
