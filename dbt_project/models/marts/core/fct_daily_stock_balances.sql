{#- Days from the earliest one touched since the last build are recomputed, starting from the
    closing balances already built before them: history is not rescanned. -#}
{% set recomputed %}
select min(business_date) from fct_stock_movements
where landed_at > (select max(last_landed_at) from fct_daily_stock_balances) - interval ({{ var('lookback_minutes') }}) minute
    or valued_at > (select coalesce(max(last_valued_at), timestamptz '1970-01-01') from fct_daily_stock_balances)
{% endset %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku_id', 'batch_id', 'business_date'],
    incremental_predicates=[recomputed_from('business_date', recomputed)],
) }}
{% if is_incremental() %}{% set cutoff = constant_date(recomputed) %}{% endif %}

with daily as (
    select
        location_id,
        sku_id,
        batch_id,
        business_date,
        sum(greatest(on_hand_delta, 0)) as qty_in,
        sum(greatest(-on_hand_delta, 0)) as qty_out,
        sum(coalesce(value_change, 0)) as value_change,
        arg_max(on_hand_after, apply_seq) as ledger_on_hand_after,
        max(apply_seq) as last_apply_seq,
        max(landed_at) as last_landed_at,
        max(valued_at) as last_valued_at
    from {{ ref('fct_stock_movements') }}
    {% if is_incremental() %} where business_date >= {{ cutoff }} {% endif %}
    group by all
),

{% if is_incremental() %}
previous as (
    select
        location_id,
        sku_id,
        batch_id,
        arg_max(closing_qty, business_date) as qty,
        arg_max(closing_value, business_date) as value
    from {{ this }}
    where business_date < {{ cutoff }}
    group by all
),
{% endif %}

running as (
    select
        d.*,
        {% if is_incremental() %} coalesce(p.qty, 0) {% else %} 0 {% endif %}
            + sum(d.qty_in - d.qty_out) over w as closing_qty,
        {% if is_incremental() %} coalesce(p.value, 0) {% else %} 0 {% endif %}
            + sum(d.value_change) over w as closing_value
    from daily as d
    {% if is_incremental() %} left join previous as p using (location_id, sku_id, batch_id) {% endif %}
    window w as (partition by d.location_id, d.sku_id, d.batch_id order by d.business_date rows unbounded preceding)
)

select
    location_id,
    sku_id,
    batch_id,
    business_date,
    closing_qty - qty_in + qty_out as opening_qty,
    qty_in,
    qty_out,
    closing_qty,
    cast(closing_value - value_change as decimal(18, 2)) as opening_value,
    cast(value_change as decimal(18, 2)) as value_change,
    cast(closing_value as decimal(18, 2)) as closing_value,
    ledger_on_hand_after,
    last_apply_seq,
    last_landed_at,
    last_valued_at,
    {{ build_started_at() }} as built_at
from running
{% if not is_incremental() %} order by business_date {% endif %}  {#- later builds replace recent days -#}
