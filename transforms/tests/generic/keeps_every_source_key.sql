{#-
    Fails when the model does not hold one row per distinct key of a shop source table: the key its
    contract declares (the `contracts` var), counted over the committed source rows. Staging keeps
    exactly one row per declared key, so a mart with fewer rows lost some (a dedup on a column that
    is not the key, an inner join to a missing parent) and one with more rows doubled some. Use the
    test's `where` config to leave out rows the model adds on purpose (inferred members).
-#}
{% test keeps_every_source_key(model, source_table) %}

{%- set key = contract_key(source_table) %}

with

source_keys as (

    select count(*) as source_keys
    from (
        select distinct {{ key | join(', ') }}
        from {{ source('shop', source_table) }}
    ) as distinct_keys

),

model_rows as (

    select count(*) as model_rows
    from {{ model }}

)

select
    source_keys.source_keys,
    model_rows.model_rows

from source_keys
cross join model_rows
where source_keys.source_keys != model_rows.model_rows

{% endtest %}
