-- Every ingested row of the orders and order_items sources, reduced to what the incremental models
-- need to find the orders that changed (docs/incremental.md): the order (and, for a line, its
-- order_item_id) the row is about, the order's business date (header rows; null on lines), and
-- when the lake ingested it. All versions, not only the winning ones: filtered on `ingested_at` it
-- is the change feed, filtered on an order it gives every date that order ever had.

with

orders as (

    select
        order_id,
        cast(null as {{ var('key_data_types')['order_item_id'] }}) as order_item_id,
        {{ contract_date('orders', 'order_date') }} as order_date,
        _ingested_at as ingested_at

    from {{ source('shop', 'orders') }}

),

order_items as (

    select
        order_id,
        order_item_id,
        cast(null as date) as order_date,
        _ingested_at as ingested_at

    from {{ source('shop', 'order_items') }}

),

unioned as (

    select * from orders
    union all
    select * from order_items

)

select * from unioned
