{{ config(materialized='incremental', incremental_strategy='append') }}

-- Posted lines never change (corrections are new vouchers) and each posting run exports its
-- lines as one file, so an incremental build appends the lines of runs it has not seen yet.
{% if is_incremental() and execute %}
{#- the runs exported since the last build, as constants (Parquet statistics prune the rest) -#}
{% set new_runs_query %}
select distinct run_id from {{ ref('stg_books__vouchers') }}
where posted_at > (select coalesce(max(posted_at), timestamptz '1970-01-01') from {{ this }})
    - interval ({{ var('lookback_minutes') }}) minute
except
select distinct run_id from {{ this }}
where posted_at > (select coalesce(max(posted_at), timestamptz '1970-01-01') from {{ this }})
    - interval ({{ var('lookback_minutes') }}) minute
{% endset %}
{% set new_runs = run_query(new_runs_query).columns[0].values() %}
{% endif %}

with lines as (
    select * from {{ ref('stg_books__voucher_lines') }}
    {% if is_incremental() %}
    where run_id in ({% for run in new_runs %}'{{ run }}'{% if not loop.last %}, {% endif %}{% else %}null{% endfor %})
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
    l.counterpart_unit,
    l.run_id
from lines as l
inner join {{ ref('stg_books__vouchers') }} as v using (voucher_id)
