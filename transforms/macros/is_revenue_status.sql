{#- True when the order status earns revenue (the `revenue_statuses` var). -#}
{% macro is_revenue_status(column) -%}
    {{ column }} in (
        {%- for status in var('revenue_statuses') -%}
            '{{ status }}'{{ ", " if not loop.last }}
        {%- endfor -%}
    )
{%- endmacro %}
