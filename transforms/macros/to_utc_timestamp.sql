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

{#-
    The UTC date of a clickstream event. On DuckDB it is the lake's hive partition column, so a
    filter on it skips whole folders; a warehouse table loaded from the files (Snowflake RAW)
    has no such column and derives it from the event time.
-#}
{% macro clickstream_event_date() -%}
    {{ return(adapter.dispatch('clickstream_event_date')()) }}
{%- endmacro %}

{% macro default__clickstream_event_date() -%}
    cast({{ to_utc_timestamp('event_time') }} as date)
{%- endmacro %}

{% macro duckdb__clickstream_event_date() -%}
    cast(event_date as date)
{%- endmacro %}
