-- Order lines with their order's date, customer and status, and their product's category.
-- `revenue` is defined here, once: the line amount when the order's status earns revenue.
-- `ingested_at` is the newest lake ingestion time among the line, its order and its product: what
-- the incremental marts compare with their own rows. A view over the staging tables: the
-- incremental marts read it filtered to the orders or days that changed, full builds read all of it.

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
        {{ is_revenue_status('orders.order_status') }} as is_revenue,
        greatest(order_items.ingested_at, orders.ingested_at, products.ingested_at) as ingested_at

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
