{#-
    A timezone-aware timestamp as a naive UTC timestamp, so dates and hours are UTC whatever
    the session time zone. Each warehouse spells this differently.
-#}
{% macro to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('to_utc_timestamp')(column)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(column) -%}
    cast({{ column }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(column) -%}
    timezone('UTC', {{ column }})
{%- endmacro %}

{% macro snowflake__to_utc_timestamp(column) -%}
    convert_timezone('UTC', {{ column }})::timestamp_ntz
{%- endmacro %}
