select
    event_id,
    occurred_at,
    location as location_id,
    payload ->> '$.sensor' as sensor_id,
    cast(payload ->> '$.celsius' as double) as celsius,
    landed_at
from {{ source('lake', 'temperature_readings') }}
