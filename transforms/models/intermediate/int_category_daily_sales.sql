-- Daily revenue, revenue-earning orders and units per category. Every category has a row for
-- every trading day, zero when nothing sold, so trends and anomaly baselines see the quiet days
-- too. The product_category_sales mart publishes it; the anomaly baselines and the anomalies
-- mart read it here, so no model reads a mart of its own layer or above. A table, because three
-- models read it and the baselines join it to itself.

{{ config(materialized='table') }}

with

order_items as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

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
        sum(case when order_items.is_revenue then order_items.quantity else 0 end) as units

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
        cast(coalesce(daily.units, 0) as bigint) as units

    from trading_days
    cross join categories
    left join daily
        on
            trading_days.sales_date = daily.sales_date
            and categories.category_id = daily.category_id

)

select * from final
