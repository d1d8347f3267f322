{#-
    Keep one row per key: the most recently ingested one. Exports may repeat a row in a later
    file (an update); the lake keeps both and staging decides. `qualify` runs on DuckDB and
    Snowflake alike.
-#}
{% macro latest_row_per_key(key) -%}
    qualify row_number() over (
        partition by {{ key }}
        order by _ingested_at desc, _source_file desc, _source_line desc
    ) = 1
{%- endmacro %}
