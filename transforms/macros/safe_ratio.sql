{#-
    numerator / denominator as a double, null when the denominator is zero. Floating point on
    both targets: a decimal division gives DOUBLE on DuckDB but NUMBER on Snowflake, so a
    contracted column could not declare one type for both.
-#}
{% macro safe_ratio(numerator, denominator) -%}
    cast({{ numerator }} as {{ dbt.type_float() }}) / nullif({{ denominator }}, 0)
{%- endmacro %}
