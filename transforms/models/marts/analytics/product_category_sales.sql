-- Daily revenue, revenue-earning orders and units per category, with a row for every category on
-- every trading day (zero when nothing sold). The dashboard's trends and the forecast read it.
-- Incremental by day like int_category_daily_sales, which it publishes (docs/incremental.md).

-- The change feed the incremental runs read (refs inside `changed_orders`):
-- depends_on: {{ ref('stg_shop__order_changes') }}, {{ ref('stg_shop__order_items') }}, {{ ref('stg_shop__products') }}
-- depends_on: {{ ref('stg_shop__categories') }}

{{
    config(
        materialized='incremental',
        unique_key='sales_date',
        incremental_strategy='replace_keys',
        on_schema_change='fail',
    )
}}

with

{% if is_incremental() -%}
changed_days as (

    {{ category_changed_days(shop_changes_since()) }}

),

{% endif -%}
category_sales as (

    -- Joined to the few changed keys on incremental runs, so the optimiser filters early.
    select category_sales.*
    from {{ ref('int_category_daily_sales') }} as category_sales
    {% if is_incremental() %}
        inner join changed_days
            on category_sales.sales_date = changed_days.sales_date
    {% endif %}

),

final as (

    select
        sales_date,
        category_id,
        category_name,
        revenue,
        orders,
        units,
        ingested_at

    from category_sales

)

{{ replace_changed_rows('final', 'sales_date', 'changed_days') }}
