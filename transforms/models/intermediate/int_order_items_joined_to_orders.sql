-- Order lines with their order's date, customer and status, and their product's category.
-- `revenue` is defined here, once: the line amount when the order's status earns revenue.
-- A table: fct_orders, fct_order_items and int_category_daily_sales all read it, and joining
-- once is cheaper than three times (scale 1 on DuckDB: 16.8 s of CPU per build against 19.5 s
-- as a view).

{{ config(materialized='table') }}

with

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

joined as (

    select
        order_items.order_item_key,
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        products.category_id,
        orders.customer_id,
        orders.order_date,
        orders.order_status,
        orders.sales_channel,
        order_items.quantity,
        order_items.unit_price,
        cast(order_items.quantity * order_items.unit_price as numeric(18, 2)) as line_amount,
        {{ is_revenue_status('orders.order_status') }} as is_revenue

    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    inner join products
        on order_items.product_id = products.product_id

),

final as (

    select
        *,
        cast(case when is_revenue then line_amount else 0 end as numeric(18, 2)) as revenue

    from joined

)

select * from final
