{#-
    Keep one row per declared primary key of a source table. The key (one or more columns) and
    the optional version column come from the table's contract: pipelines/warehouse/dbt.py passes
    them as the `contracts` var, and dbt_project.yml holds the same values as defaults. Which row
    wins: the newest version where the contract declares a version column (a null version loses),
    then the most recently ingested one (`_ingested_at` is strictly increasing per source file, in
    the order files were ingested: by modification time within a run). Never the file name.
    `qualify` runs on DuckDB and Snowflake alike. Where the contract declares a deleted column (a
    soft delete at the source), a key whose winning row is marked deleted is dropped.
-#}
{% macro latest_row_per_key(table) -%}
    {%- set contracts = var('contracts') -%}
    {%- if table not in contracts -%}
        {{ exceptions.raise_compiler_error(
            "latest_row_per_key: no contract facts for table '" ~ table ~ "' in var('contracts')"
        ) }}
    {%- endif -%}
    {%- set contract = contracts[table] -%}
    {%- set version_column = contract.get('version_column') -%}
    {%- set deleted_column = contract.get('deleted_column') -%}
    qualify row_number() over (
        partition by {{ contract['primary_key'] | join(', ') }}
        order by
            {% if version_column -%} {{ version_column }} desc nulls last, {% endif -%}
            _ingested_at desc,
            _source_line desc
    ) = 1
    {%- if deleted_column and contract.get('deleted_is_flag') %}
        and not coalesce({{ deleted_column }}, false)
    {%- elif deleted_column %}
        and {{ deleted_column }} is null
    {%- endif %}
{%- endmacro %}
