{% macro books_posted() -%}
    {#- the books' posting runs this build reads: those complete when it started (build_info's
        books_through, see stores/warehouse.py); every run when none is listed (books exported
        before runs were) -#}
    where (select books_through from build_info) = '' or run_id <= (select books_through from build_info)
{%- endmacro %}
