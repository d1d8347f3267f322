{#-
    First date an incremental clickstream model rebuilds: its latest date minus the
    `clickstream_lookback_days` var, so late events inside that window still count. An empty
    model starts from the beginning.
-#}
{% macro clickstream_cutoff_date(date_column) -%}
    (
        select
            cast({{ dbt.dateadd('day', -1 * var('clickstream_lookback_days'),
                "coalesce(max(" ~ date_column ~ "), cast('1900-01-08' as date))") }} as date)
        from {{ this }}
    )
{%- endmacro %}
