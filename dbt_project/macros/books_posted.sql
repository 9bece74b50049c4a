{% macro books_posted() -%}
    {#- the books' posting runs this build reads: those complete when it started (build_info's
        books_through, see stores/warehouse.py); none while the list is empty (the first run
        may be half exported); every run when the lake has no list (books exported without one) -#}
    where (select books_through from build_info) is null or run_id <= (select books_through from build_info)
{%- endmacro %}
