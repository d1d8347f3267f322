with

source as (

    select * from {{ source('shop', 'orders') }}

    {{ latest_row_per_key('orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        {{ contract_date('orders', 'order_date') }} as order_date,
        {{ contract_instant('orders', 'order_date') }} as ordered_at,
        cast(order_amount as numeric(18, 2)) as order_amount,
        order_status,
        sales_channel,
        _ingested_at as ingested_at

    from source

)

select * from renamed
