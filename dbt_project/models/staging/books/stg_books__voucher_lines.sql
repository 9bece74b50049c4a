select
    voucher_id,
    line_no,
    account_code,
    account_name,
    debit,
    credit,
    summary,
    nullif(location, '') as location_id,
    nullif(sku, '') as sku_id,
    nullif(batch, '') as batch_id,
    nullif(supplier, '') as supplier_id,
    nullif(customer, '') as customer_id,
    nullif(counterpart_unit, '') as counterpart_unit,
    run_id
from {{ source('books', 'voucher_lines') }}
{{ books_posted() }}
