with

source as (

    select * from {{ source('shop', 'orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        order_date,
        cast(order_amount as numeric(18, 2)) as order_amount,
        order_status,
        sales_channel,
        _ingested_at as ingested_at

    from source

    {{ latest_row_per_key('order_id') }}

)

select * from renamed
