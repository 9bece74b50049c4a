{% macro version_at(version, at) -%}
    {#- The join condition that picks, of a dimension's versions (`version`: its alias), the one
        in effect at the timestamp `at`: from its effective_from up to, not including, its
        valid_to (the current one has none). The first version of each key is effective from
        the beginning, so a fact older than the change log still finds one. -#}
    ({{ version }}.effective_from <= {{ at }} and ({{ version }}.valid_to is null or {{ at }} < {{ version }}.valid_to))
{%- endmacro %}

{% macro beginning_of_time() -%}
    {#- Where a key's first version takes effect: before any fact the books can hold. -#}
    timestamptz '1900-01-01 00:00:00+00'
{%- endmacro %}
