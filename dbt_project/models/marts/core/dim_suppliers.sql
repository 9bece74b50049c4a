select * from {{ ref('stg_masterdata__suppliers') }}
