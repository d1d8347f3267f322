with

source as (

    select * from {{ source('results', 'alert_log') }}

),

renamed as (

    select
        raised_at,
        alert_key,
        source,
        severity,
        title,
        detail,
        context,
        delivery,
        cast(delivery_attempts as bigint) as delivery_attempts,
        delivery_error

    from source

)

select * from renamed
