{#-
    dbt's unit-test materialization, for Snowflake, with one change: the scratch relation it builds
    only to read the model's column types is a (transient) table in the model's schema instead of
    a temporary table. fakesnow, the CI stand-in for Snowflake, rejects database-qualified
    temporary tables and cannot `describe` unqualified ones (docs/snowflake.md, "fakesnow gaps");
    on real Snowflake both forms work, and the scratch table is dropped at the end either way.
    Everything else is dbt-core 1.11's `materialization unit, default`.
-#}
{%- materialization unit, adapter='snowflake' -%}

    {% set relations = [] %}
    {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}

    {% set expected_rows = config.get('expected_rows') %}
    {% set expected_sql = config.get('expected_sql') %}
    {% set tested_expected_column_names = expected_rows[0].keys() if (expected_rows | length ) > 0 else get_columns_in_query(sql) %}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set scratch_relation = make_temp_relation(target_relation, '__dbt_unit_columns') -%}
    {% do run_query(get_create_table_as_sql(False, scratch_relation, get_empty_subquery_sql(sql))) %}
    {%- set columns_in_relation = adapter.get_columns_in_relation(scratch_relation) -%}
    {% do adapter.drop_relation(scratch_relation) %}
    {%- set column_name_to_data_types = {} -%}
    {%- set column_name_to_quoted = {} -%}
    {%- for column in columns_in_relation -%}
        {%- do column_name_to_data_types.update({column.name|lower: column.data_type}) -%}
        {%- do column_name_to_quoted.update({column.name|lower: column.quoted}) -%}
    {%- endfor -%}

    {%- set expected_column_names_quoted = [] -%}
    {%- for column_name in tested_expected_column_names -%}
        {%- do expected_column_names_quoted.append(column_name_to_quoted[column_name|lower]) -%}
    {%- endfor -%}

    {% if not expected_sql %}
        {% set expected_sql = get_expected_sql(expected_rows, column_name_to_data_types, column_name_to_quoted) %}
    {% endif %}
    {% set unit_test_sql = get_unit_test_sql(sql, expected_sql, expected_column_names_quoted) %}

    {% call statement('main', fetch_result=True) -%}

        {% if sql_header %}{{ sql_header }}{% endif %}
        {{ unit_test_sql }}

    {%- endcall %}

    {{ return({'relations': relations}) }}

{%- endmaterialization -%}
