select
    supplier as supplier_id,
    name as supplier_name,
    lead_time_days
from {{ source('masterdata', 'suppliers') }}
