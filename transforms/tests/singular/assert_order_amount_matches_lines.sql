{{ config(severity='warn') }}
-- Orders whose header amount differs from the sum of their landed lines. Expected to warn, not
-- fail: a line quarantined at ingest (bad quantity, unknown product) leaves its order short.

with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

line_totals as (

    select
        order_id,
        sum(quantity * unit_price) as lines_amount

    from order_items
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.order_amount,
        coalesce(line_totals.lines_amount, 0) as lines_amount

    from orders
    left join line_totals
        on orders.order_id = line_totals.order_id
    where abs(orders.order_amount - coalesce(line_totals.lines_amount, 0)) > 0.01

)

select * from final
