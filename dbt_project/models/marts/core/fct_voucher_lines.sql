{{
    config(materialized='incremental', unique_key='voucher_line_key', incremental_strategy='delete+insert')
}}

with vouchers as (
    select * from {{ ref('stg_books__vouchers') }}
    {% if is_incremental() %}
    where posted_at > (select max(posted_at) from {{ this }}) - interval ({{ var('lookback_minutes') }}) minute
    {% endif %}
)

select
    l.voucher_line_key,
    l.voucher_id,
    v.voucher_no,
    v.accounting_unit,
    v.period,
    v.voucher_date,
    v.kind,
    v.reverses_voucher_id,
    v.source_event_type,
    v.posted_at,
    l.line_no,
    l.account_code,
    l.account_name,
    l.debit,
    l.credit,
    l.summary,
    l.location_id,
    l.sku_id,
    l.batch_id,
    l.supplier_id,
    l.customer_id,
    l.counterpart_unit
from vouchers as v
inner join {{ ref('stg_books__voucher_lines') }} as l using (voucher_id)
