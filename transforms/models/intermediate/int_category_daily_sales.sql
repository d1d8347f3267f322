-- Daily revenue, revenue-earning orders and units per category. Every category has a row for
-- every trading day, zero when nothing sold, so trends and anomaly baselines see the quiet days
-- too. The product_category_sales mart publishes it; the anomaly baselines and the anomalies
-- mart read it here, so no model reads a mart of its own layer or above. A table, because three
-- models read it and the baselines join it to itself; incremental by day (docs/incremental.md):
-- each run rebuilds the days of the orders that changed (every day they ever had), or every day
-- when a category changed, and replaces the days whose rows differ.

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
order_items as (

    -- Joined to the few changed keys on incremental runs, so the optimiser filters early.
    select order_items.*
    from {{ ref('int_order_items_joined_to_orders') }} as order_items
    {% if is_incremental() %}
        inner join changed_days
            on order_items.order_date = changed_days.sales_date
    {% endif %}

),

categories as (

    select * from {{ ref('stg_shop__categories') }}

),

trading_days as (

    select distinct order_date as sales_date
    from order_items

),

daily as (

    select
        order_items.order_date as sales_date,
        order_items.category_id,
        sum(order_items.revenue) as revenue,
        count(distinct case when order_items.is_revenue then order_items.order_id end) as orders,
        sum(case when order_items.is_revenue then order_items.quantity else 0 end) as units,
        max(order_items.ingested_at) as ingested_at

    from order_items
    group by 1, 2

),

final as (

    select
        trading_days.sales_date,
        categories.category_id,
        categories.category_name,
        cast(coalesce(daily.revenue, 0) as numeric(18, 2)) as revenue,
        cast(coalesce(daily.orders, 0) as bigint) as orders,
        cast(coalesce(daily.units, 0) as bigint) as units,
        daily.ingested_at

    from trading_days
    cross join categories
    left join daily
        on
            trading_days.sales_date = daily.sales_date
            and categories.category_id = daily.category_id

)

{{ replace_changed_rows('final', 'sales_date', 'changed_days') }}
