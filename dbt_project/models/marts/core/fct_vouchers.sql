{{ config(materialized='append') }}

-- Posted vouchers never change (corrections are new vouchers), so an incremental build appends
-- the vouchers of posting runs it has not seen yet.
select
    voucher_id,
    voucher_no,
    accounting_unit,
    period,
    voucher_date,
    summary,
    kind,
    reverses_voucher_id,
    note,
    source_event_id,
    source_event_type,
    occurred_at,
    landed_at,
    posted_at,
    lag_seconds,
    total,
    run_id,
    {{ build_started_at() }} as built_at
from {{ ref('stg_books__vouchers') }}
{% if is_incremental() %} where run_id in {{ new_posting_runs(this) }} {% endif %}
