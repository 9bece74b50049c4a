select
    sku as sku_id,
    gtin,
    name as sku_name,
    category,
    base_unit,
    packs,
    min_pack_units,
    shelf_life_days,
    batch_managed,
    cold_chain_min_c,
    cold_chain_max_c,
    reorder_point,
    negative_stock as negative_stock_policy,
    standard_cost,
    vat_rate,
    wholesale_price,
    valuation_method
from {{ source('masterdata', 'skus') }}
