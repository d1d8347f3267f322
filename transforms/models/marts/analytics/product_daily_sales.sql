-- Revenue-earning sales per product and day. Pre-aggregated for the dashboard's top products:
-- about a quarter of the rows of fct_order_items, and exact for any date range. Incremental by day
-- (docs/incremental.md): each run rebuilds the days of the orders that changed.

-- The change feed the incremental runs read (refs inside `changed_orders`):
-- depends_on: {{ ref('stg_shop__order_changes') }}, {{ ref('stg_shop__order_items') }}, {{ ref('stg_shop__products') }}

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

    {{ order_dates(changed_orders(shop_changes_since())) }}

),

{% endif -%}
order_items as (

    -- Joined to the few changed keys on incremental runs, so the optimiser filters early.
    select order_items.*
    from {{ ref('fct_order_items') }} as order_items
    {% if is_incremental() %}
        inner join changed_days
            on order_items.order_date = changed_days.sales_date
    {% endif %}

),

final as (

    select
        order_date as sales_date,
        product_id,
        category_id,
        cast(sum(revenue) as numeric(18, 2)) as revenue,
        cast(sum(quantity) as bigint) as units,
        count(*) as order_lines,
        max(ingested_at) as ingested_at

    from order_items
    where is_revenue
    group by
        order_date,
        product_id,
        category_id

)

{{ replace_changed_rows('final', 'sales_date', 'changed_days') }}
