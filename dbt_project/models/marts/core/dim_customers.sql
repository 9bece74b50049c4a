-- Personal data: the dashboards show phone and id_number only through the core's masking.
select * from {{ ref('stg_masterdata__customers') }}
