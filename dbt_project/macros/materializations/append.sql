{#- `append`: an incremental table for facts that only grow (or whose recent range the model
    itself deletes first). The first and full builds create the table, ordered by the model's
    `cluster_by` so that the ranges later deleted and re-read sit in few row groups; later builds
    insert the model's rows straight into it. dbt-duckdb's `incremental` materializes them into
    a temporary table first and then copies that: twice the work for the largest facts. Builds
    run on a copy of the warehouse that replaces the current one only when everything passed,
    so a failure here never leaves a reader with half a build. -#}
{% materialization append, adapter="duckdb" %}
  {%- set existing = load_cached_relation(this) -%}
  {%- set target = this.incorporate(type='table') -%}
  {%- set cluster_by = config.get('cluster_by') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing is none or should_full_refresh() %}
    {{ drop_relation_if_exists(existing) }}
    {% call statement('main') -%}
      create table {{ target }} as
      select * from (
        {{ compiled_code }}
      ) as rows
      {% if cluster_by %} order by {{ cluster_by }} {% endif %}
    {%- endcall %}
  {% else %}
    {% call statement('main') -%}
      insert into {{ target }} by name
      select * from (
        {{ compiled_code }}
      ) as rows
    {%- endcall %}
  {% endif %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target]}) }}
{% endmaterialization %}


{% macro is_incremental() %}
  {#- dbt's own, for `incremental` and `append` models -#}
  {% if not execute %}
    {{ return(False) }}
  {% else %}
    {% set relation = adapter.get_relation(this.database, this.schema, this.table) %}
    {{ return(relation is not none
              and relation.type == 'table'
              and model.config.materialized in ('incremental', 'append')
              and not should_full_refresh()) }}
  {% endif %}
{% endmacro %}
