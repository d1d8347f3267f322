with

source as (

    select * from {{ source('shop', 'categories') }}

    {{ latest_row_per_key('categories') }}

),

renamed as (

    select
        category_id,
        category_name,
        _ingested_at as ingested_at

    from source

)

select * from renamed
