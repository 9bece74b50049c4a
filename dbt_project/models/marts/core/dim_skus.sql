-- The SKUs' versions (a type 2 slowly changing dimension): one row per version of each SKU of
-- the catalogue, in effect from the change that made it until the next change of that SKU.
-- The versions before the current one come from the master-data change log; the current one is
-- the catalogue's record (what the build was given), in effect since the log's last change of
-- the SKU. A SKU the log does not know (a lake from before the log) has one version: the
-- catalogue's. A SKU's first version is in effect from the beginning (effective_from), so facts
-- older than the log join it. A fact joins the version of its time (macro version_at); a
-- reader of the SKUs as they are now takes `where is_current`.
with catalogue as (
    select * from {{ ref('stg_masterdata__skus') }}
),

logged as (
    select
        sku_id,
        version as sku_version,
        occurred_at as valid_from,
        lead(occurred_at) over (partition by sku_id order by version) as valid_to,
        gtin,
        sku_name,
        category,
        sku_status,
        serial_managed,
        base_unit,
        packs,
        min_pack_units,
        shelf_life_days,
        batch_managed,
        cold_chain_min_c,
        cold_chain_max_c,
        reorder_point,
        negative_stock_policy,
        standard_cost,
        vat_rate,
        wholesale_price,
        valuation_method
    from {{ ref('stg_masterdata__changes') }}
    where entity = 'sku' and sku_id in (select sku_id from catalogue)
),

versions as (
    -- the versions a later change replaced
    select * from logged where valid_to is not null
    union all by name
    -- the current one
    select c.*, coalesce(l.sku_version, 0) as sku_version, l.valid_from, null::timestamptz as valid_to
    from catalogue as c
    left join logged as l on l.sku_id = c.sku_id and l.valid_to is null
)

select
    sku_id,
    gtin,
    sku_name,
    category,
    base_unit,
    packs,
    min_pack_units,
    shelf_life_days,
    shelf_life_days is not null as is_perishable,
    batch_managed,
    cold_chain_min_c,
    cold_chain_max_c,
    cold_chain_min_c is not null as is_cold_chain,
    reorder_point,
    negative_stock_policy,
    standard_cost,
    vat_rate,
    wholesale_price,
    valuation_method,
    sku_status,
    serial_managed,
    sku_version,
    valid_from,
    valid_to,
    case
        when row_number() over (partition by sku_id order by sku_version) = 1 then {{ beginning_of_time() }}
        else valid_from
    end as effective_from,
    valid_to is null as is_current
from versions
