with

source as (

    select * from {{ source('shop', 'products') }}

),

renamed as (

    select
        product_id,
        category_id,
        product_name,
        cast(price as numeric(18, 2)) as list_price,
        _ingested_at as ingested_at

    from source

    {{ latest_row_per_key('product_id') }}

)

select * from renamed
