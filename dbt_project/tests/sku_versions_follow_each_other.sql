-- Each SKU's versions follow each other without a gap or an overlap: a version ends where the
-- next one takes effect, only the last one is current (and open-ended), and the first one is in
-- effect from the beginning. So any instant finds exactly one version of a SKU.
with ordered as (
    select
        sku_id,
        sku_version,
        effective_from,
        valid_to,
        is_current,
        lead(effective_from) over (partition by sku_id order by sku_version) as next_from,
        row_number() over (partition by sku_id order by sku_version) as nth
    from {{ ref('dim_skus') }}
)

select *
from ordered
where valid_to is distinct from next_from
    or is_current <> (next_from is null)
    or (nth = 1 and effective_from <> {{ beginning_of_time() }})
