with

order_items as (

    select * from {{ ref('int_order_items_joined_to_orders') }}

),

final as (

    select
        order_item_key,
        order_item_id,
        order_id,
        product_id,
        category_id,
        customer_id,
        order_date,
        sales_channel,
        quantity,
        unit_price,
        line_amount,
        is_revenue,
        revenue

    from order_items

)

select * from final
