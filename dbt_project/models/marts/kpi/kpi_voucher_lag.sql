{% set posted_date %} cast(timezone('{{ var("timezone") }}', posted_at) as date) {% endset %}
{#- the posting days of the vouchers this build added are recomputed -#}
{% set recomputed %}
select min({{ posted_date }}) from fct_vouchers where built_at = {{ build_started_at() }}
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['accounting_unit', 'posted_date'],
    incremental_predicates=[recomputed_from('posted_date', recomputed)],
) }}

-- Voucher lag (event time → posted) per set of books and day of posting.
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

select
    accounting_unit,
    {{ posted_date }} as posted_date,
    count(*) as vouchers,
    quantile_cont(lag_seconds, 0.5) as lag_p50_seconds,
    quantile_cont(lag_seconds, 0.99) as lag_p99_seconds,
    max(lag_seconds) as lag_max_seconds
from {{ ref('fct_vouchers') }}
where kind = 'normal'
{% if is_incremental() %} and posted_at >= cast({{ cutoff }} - 1 as timestamptz) and {{ posted_date }} >= {{ cutoff }} {% endif %}
group by all
