{#-
    `dbt.type_float()` renders `float` on every adapter, but DuckDB reads `float` as a 4-byte REAL
    while Snowflake's FLOAT is an 8-byte double, so one model gave different numbers per target
    (`shoplake parity` caught it in customer_cohort_retention: 16/51 = 0.313726 vs 0.313725).
    Double precision on DuckDB too makes both targets compute the same values.
-#}
{% macro duckdb__type_float() -%}
    double
{%- endmacro %}
