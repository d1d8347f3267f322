with

source as (

    select * from {{ source('shop', 'categories') }}

),

renamed as (

    select
        category_id,
        category_name,
        _ingested_at as ingested_at

    from source

    {{ latest_row_per_key('category_id') }}

)

select * from renamed
