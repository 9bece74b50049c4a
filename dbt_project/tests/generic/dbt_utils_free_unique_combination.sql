{% test dbt_utils_free_unique_combination(model, columns) %}
-- The combination of `columns` is unique (no package download needed).
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
