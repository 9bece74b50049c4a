{{ config(materialized='incremental', incremental_strategy='append') }}

-- Posted vouchers never change (corrections are new vouchers), so an incremental build appends
-- the vouchers of posting runs it has not seen yet.
select
    v.*,
    {{ build_started_at() }} as built_at
from {{ ref('stg_books__vouchers') }} as v
{% if is_incremental() %} where run_id in {{ new_posting_runs(this) }} {% endif %}
