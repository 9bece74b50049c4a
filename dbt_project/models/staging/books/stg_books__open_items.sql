select
    item_id,
    accounting_unit,
    party_kind,
    party,
    document,
    document_type,
    document_date,
    due_date,
    amount,
    open_amount,
    source_event_id,
    nullif(sales_order, '') as sales_order_id,
    nullif(sku, '') as sku_id,
    net,
    vat,
    updated_at
from {{ source('books', 'open_items') }}
