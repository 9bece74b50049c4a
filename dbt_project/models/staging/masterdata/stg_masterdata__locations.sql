select
    location as location_id,
    name as location_name,
    kind as location_kind,
    city,
    latitude,
    longitude,
    accounting_unit
from {{ source('masterdata', 'locations') }}
