{% test expression_is_true(model, expression) %}
-- Every row satisfies `expression` (no package download needed).
select * from {{ model }} where not ({{ expression }})
{% endtest %}
