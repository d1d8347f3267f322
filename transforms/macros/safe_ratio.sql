{#- numerator / denominator as a decimal, null when the denominator is zero. -#}
{% macro safe_ratio(numerator, denominator) -%}
    cast({{ numerator }} as {{ dbt.type_numeric() }}) / nullif({{ denominator }}, 0)
{%- endmacro %}
