{{ config(materialized='incremental', incremental_strategy='append') }}

-- Posted lines never change (corrections are new vouchers) and each posting run exports its
-- lines as one file, so an incremental build appends the lines of runs it has not seen yet.
-- The voucher's own fields are in fct_vouchers; a line keeps what it is filtered and summed by.
{% set runs = new_posting_runs(this) if is_incremental() else none %}

with lines as (
    select * from {{ ref('stg_books__voucher_lines') }}
    {% if is_incremental() %} where run_id in {{ runs }} {% endif %}
),

vouchers as (
    -- a run exports its vouchers and their lines together
    select voucher_id, accounting_unit, period, voucher_date, posted_at
    from {{ ref('stg_books__vouchers') }}
    {% if is_incremental() %} where run_id in {{ runs }} {% endif %}
)

select
    l.voucher_id,
    l.line_no,
    v.accounting_unit,
    v.period,
    v.voucher_date,
    v.posted_at,
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
    l.counterpart_unit,
    l.run_id
from lines as l
left join vouchers as v using (voucher_id)  -- a line without its voucher fails vouchers_are_whole
