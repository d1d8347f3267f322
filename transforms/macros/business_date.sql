{#-
    Calendar dates in the business time zone (the `business_timezone` var, setting
    SHOPLAKE_BUSINESS_TIMEZONE; default UTC). Instants stay UTC everywhere; only the day an order or
    a session counts on is local: at Europe/Berlin, an order at 2025-03-02 00:30+01:00
    (2025-03-01 23:30 UTC) counts on 2 March.
-#}

{#- The business-local date of a naive UTC timestamp. -#}
{% macro business_date(utc_timestamp) -%}
    {{ return(adapter.dispatch('business_date')(utc_timestamp, var('business_timezone'))) }}
{%- endmacro %}

{% macro default__business_date(utc_timestamp, zone) -%}
    {%- if zone == 'UTC' -%}
        cast({{ utc_timestamp }} as date)
    {%- else -%}
        cast(convert_timezone('UTC', '{{ zone | replace("'", "''") }}', {{ utc_timestamp }}) as date)
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__business_date(utc_timestamp, zone) -%}
    {%- if zone == 'UTC' -%}
        cast({{ utc_timestamp }} as date)
    {%- else -%}
        cast(timezone('{{ zone | replace("'", "''") }}', timezone('UTC', {{ utc_timestamp }})) as date)
    {%- endif -%}
{%- endmacro %}

{#-
    A source column that the table's contract declares as a date or a timestamp (the `contracts`
    var's column types), as the business-local date: a date stays as exported; a timestamp (an
    instant) gives its date in the business time zone, not one value per distinct time.
-#}
{% macro contract_date(table, column) -%}
    {%- if var('contracts')[table]['column_types'][column] == 'timestamp' -%}
        {{ business_date(to_utc_timestamp(column)) }}
    {%- else -%}
        {{ column }}
    {%- endif -%}
{%- endmacro %}

{#- The instant (naive UTC) of a contract column declared as a timestamp; null when it is a date. -#}
{% macro contract_instant(table, column) -%}
    {%- if var('contracts')[table]['column_types'][column] == 'timestamp' -%}
        {{ to_utc_timestamp(column) }}
    {%- else -%}
        cast(null as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}
