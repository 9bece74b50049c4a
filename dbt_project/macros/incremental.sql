{#- Helpers for incremental models. Every build writes `build_info` (one row: started_at,
    full_refresh, check_since) into the warehouse before dbt runs; see stores/warehouse.py.

    Incremental models use dbt-duckdb's own `incremental` materialization with the
    `delete+insert` strategy: the model selects the rows from a cutoff on (computed first, by a
    query, and inlined as a constant so Parquet statistics prune older files); dbt deletes the
    rows of the same keys and inserts the new ones. The cutoff query is the model's
    `incremental_predicates` too, so the delete only scans the recomputed range. A model's
    rendering only reads. -#}

{% macro build_started_at() -%}
    (select started_at from build_info)
{%- endmacro %}

{% macro check_since() -%}
    {#- Rows that landed from here on are new to this build (the last successful build's start
        minus the lookback): in a model, a constant so Parquet statistics prune older files; in
        a model's config (rendered before any build), the query for it. -#}
    {%- if execute -%}
        timestamptz '{{ run_query("select strftime(check_since, '%Y-%m-%d %H:%M:%S.%f+00') from build_info").columns[0].values()[0] }}'
    {%- else -%}
        (select check_since from build_info)
    {%- endif -%}
{%- endmacro %}

{% macro constant_date(query) -%}
    {#- The single date `query` returns (9999-12-31 if it returns null), inlined as a constant. -#}
    {%- if execute -%}
        date '{{ run_query("select coalesce((" ~ query ~ "), date '9999-12-31')::varchar").columns[0].values()[0] }}'
    {%- else -%}
        date '9999-12-31'
    {%- endif -%}
{%- endmacro %}

{% macro constant_timestamp(query) -%}
    {#- The single timestamp `query` returns (9999-12-31 if null), inlined as a constant. -#}
    {%- if execute -%}
        timestamptz '{{ run_query("select strftime(coalesce((" ~ query ~ "), timestamptz '9999-12-31'), '%Y-%m-%d %H:%M:%S.%f+00')").columns[0].values()[0] }}'
    {%- else -%}
        timestamptz '9999-12-31 00:00:00+00'
    {%- endif -%}
{%- endmacro %}

{% macro rebuilt_days(relation) -%}
    {#- The query for the earliest business day of `relation` that this build (re)wrote. -#}
    select min(business_date) from {{ relation }} where built_at = {{ build_started_at() }}
{%- endmacro %}

{% macro recomputed_from(column, query, sentinel="date '9999-12-31'") -%}
    {#- An incremental predicate: the target's rows from the cutoff `query` returns on (the
        same query the model inlines as a constant; relations by name, as dbt renders a
        model's config before it resolves refs). -#}
    DBT_INCREMENTAL_TARGET.{{ column }} >= coalesce(({{ query }}), {{ sentinel }})
{%- endmacro %}

{% macro new_posting_runs(this_relation) -%}
    {#- The posting runs exported since the last build: each run exports its vouchers and their
        lines once, so a run not yet in `this_relation` is new. Inlined as constants. -#}
    {%- if execute -%}
        {%- set query -%}
            select distinct run_id from {{ ref('stg_books__vouchers') }}
            where posted_at > (select coalesce(max(posted_at), timestamptz '1970-01-01') from {{ this_relation }})
                - interval ({{ var('lookback_minutes') }}) minute
            except
            select distinct run_id from {{ this_relation }}
            where posted_at > (select coalesce(max(posted_at), timestamptz '1970-01-01') from {{ this_relation }})
                - interval ({{ var('lookback_minutes') }}) minute
        {%- endset -%}
        ({% for run in run_query(query).columns[0].values() %}'{{ run }}'{% if not loop.last %}, {% endif %}{% else %}null{% endfor %})
    {%- else -%}
        (null)
    {%- endif -%}
{%- endmacro %}
