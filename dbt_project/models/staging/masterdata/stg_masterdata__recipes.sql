select
    product as product_sku_id,
    store as store_id,
    effective_from,
    recipe_name,
    yield_qty,
    component as component_sku_id,
    qty as component_qty,
    unit as component_unit,
    loss_rate,
    component_base_qty
from {{ source('masterdata', 'recipes') }}
