with

source as (

    select * from {{ source('shop', 'order_items') }}

    {{ latest_row_per_key('order_items') }}

),

renamed as (

    select
        {{ surrogate_key(contract_key('order_items')) }} as order_item_key,
        order_item_id,
        order_id,
        product_id,
        quantity,
        cast(price as numeric(18, 2)) as unit_price,
        _ingested_at as ingested_at

    from source

)

select * from renamed
