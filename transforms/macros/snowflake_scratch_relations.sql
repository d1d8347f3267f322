{#-
    The scratch table of dbt's unit tests on Snowflake (docs/snowflake.md, "fakesnow gaps", 1).

    A unit test first builds an empty copy of the model to read its column types: dbt-core's
    `materialization unit` asks `get_create_table_as_sql(True, ...)` for a temporary table. fakesnow,
    the CI stand-in for Snowflake, rejects a database-qualified temporary table and cannot
    `describe` an unqualified one. This implementation of the dispatched macro (found before
    dbt's through the `dispatch` search order in dbt_project.yml) builds that one as a transient
    table in the model's schema instead; it is named after the unit test (`<unit test>__dbt_tmp`),
    so tests running at the same time never share one, and the materialization drops it after the
    test query. Real Snowflake runs the same statements. Every other caller keeps dbt's behaviour;
    incremental models reach the same result through their `tmp_relation_type` config.
-#}
{% macro snowflake__get_create_table_as_sql(temporary, relation, sql) -%}
    {%- set is_unit_test = model is defined and model.resource_type == 'unit_test' -%}
    {{ return(create_table_as(temporary and not is_unit_test, relation, sql)) }}
{%- endmacro %}
