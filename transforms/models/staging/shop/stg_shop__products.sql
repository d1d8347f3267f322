with

source as (

    select * from {{ source('shop', 'products') }}

    {{ latest_row_per_key('products') }}

),

renamed as (

    select
        product_id,
        category_id,
        product_name,
        cast(price as numeric(18, 2)) as list_price,
        _ingested_at as ingested_at

    from source

)

select * from renamed
