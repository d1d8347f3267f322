-- One row per order. `revenue` is the sum of its landed lines when the order status earns
-- revenue; `order_amount` is what the ERP reported on the header.

with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_items as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

),

line_summary as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as units,
        sum(line_amount) as lines_amount
    from order_items
    group by order_id

),

joined as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        orders.ordered_at,
        orders.order_status,
        orders.sales_channel,
        orders.order_amount,
        coalesce(line_summary.line_count, 0) as line_count,
        cast(coalesce(line_summary.units, 0) as bigint) as units,
        cast(coalesce(line_summary.lines_amount, 0) as numeric(18, 2)) as lines_amount,
        {{ is_revenue_status('orders.order_status') }} as is_revenue

    from orders
    left join line_summary
        on orders.order_id = line_summary.order_id

),

final as (

    select
        *,
        cast(case when is_revenue then lines_amount else 0 end as numeric(18, 2)) as revenue

    from joined

)

select * from final
