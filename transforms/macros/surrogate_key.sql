{#-
    A stable surrogate key from natural key columns: the md5 (`dbt.hash`) of every column as text,
    each prefixed by its length, so ('A-1', '2') and ('A', '1-2') never collide. The same text on
    DuckDB and Snowflake (integers and strings cast alike), so both targets give the same key.
    `columns` is a table's declared primary key from the `contracts` var (see `contract_key`).
-#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- set text = "cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")" -%}
        {%- do parts.append("coalesce(cast(length(" ~ text ~ ") as " ~ dbt.type_string() ~ ") || ':' || "
            ~ text ~ ", '~')") -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- The primary key a source table's contract declares (the `contracts` var), as a list of columns. -#}
{% macro contract_key(table) -%}
    {%- set contracts = var('contracts') -%}
    {%- if table not in contracts -%}
        {{ exceptions.raise_compiler_error(
            "contract_key: no contract facts for table '" ~ table ~ "' in var('contracts')"
        ) }}
    {%- endif -%}
    {{ return(contracts[table]['primary_key']) }}
{%- endmacro %}
