with

source as (

    select * from {{ source('shop', 'customers') }}

    {{ latest_row_per_key('customers') }}

),

renamed as (

    select
        customer_id,
        customer_name,
        lower(email) as email,
        {{ contract_date('customers', 'signup_date') }} as signup_date,
        country,
        acquisition_channel,
        _ingested_at as ingested_at

    from source

)

select * from renamed
