{#- Helpers for incremental models. Every build writes `build_info` (one row: started_at,
    full_refresh, check_since) into the warehouse before dbt runs; see flows/warehouse.py. -#}

{% macro build_started_at() -%}
    (select started_at from build_info)
{%- endmacro %}

{% macro check_since() -%}
    {#- Rows that landed from here on are new to this build (the last successful build's start
        minus the lookback), as a constant so Parquet statistics prune older files. -#}
    {%- if execute -%}
        timestamptz '{{ run_query("select strftime(check_since, '%Y-%m-%d %H:%M:%S.%f+00') from build_info").columns[0].values()[0] }}'
    {%- else -%}
        timestamptz '1970-01-01 00:00:00+00'
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

{% macro rebuilt_from(relation) -%}
    {#- The earliest business day of `relation` that this build (re)wrote, as a constant. -#}
    {{ constant_date("select min(business_date) from " ~ relation ~ " where built_at = " ~ build_started_at()) }}
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

{% macro delete_from(relation, column, bound) -%}
    {#- Rows from `bound` on are read again by the model: remove them first (a range delete).
        Builds run on a copy of the warehouse that replaces the current one only when the whole
        build passed, so a reader never sees the gap. -#}
    {%- if execute -%}
        {%- do run_query("delete from " ~ relation ~ " where " ~ column ~ " >= " ~ bound) -%}
    {%- endif -%}
{%- endmacro %}
