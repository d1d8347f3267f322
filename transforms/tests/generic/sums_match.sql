{#-
    Fails when the column's sum differs from `compare_column`'s sum in `compare_model`: an aggregate
    mart that dropped or doubled rows of the model it summarises (revenue of a category missing from
    the categories export, say) fails the build instead of showing a smaller total. Sums are compared
    at `scale` decimal places (cents by default): exact for money columns, and robust to an engine
    that sums decimals as floating point (fakesnow).
-#}
{% test sums_match(model, column_name, compare_model, compare_column, scale=2) %}

with

model_total as (

    select cast(coalesce(sum({{ column_name }}), 0) as numeric(38, {{ scale }})) as model_total
    from {{ model }}

),

compare_total as (

    select cast(coalesce(sum({{ compare_column }}), 0) as numeric(38, {{ scale }})) as compare_total
    from {{ compare_model }}

)

select
    model_total.model_total,
    compare_total.compare_total

from model_total
cross join compare_total
where model_total.model_total != compare_total.compare_total

{% endtest %}
