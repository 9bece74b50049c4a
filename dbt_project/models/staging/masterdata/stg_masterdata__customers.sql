select
    customer as customer_id,
    name as customer_name,
    phone,
    id_number
from {{ source('masterdata', 'customers') }}
