with

source as (

    select * from {{ source('shop', 'customers') }}

),

renamed as (

    select
        customer_id,
        customer_name,
        lower(email) as email,
        signup_date,
        country,
        acquisition_channel,
        _ingested_at as ingested_at

    from source

    {{ latest_row_per_key('customer_id') }}

)

select * from renamed
