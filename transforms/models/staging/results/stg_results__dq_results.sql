with

source as (

    select * from {{ source('results', 'dq_results') }}

),

renamed as (

    select
        run_id,
        checked_at,
        check_type,
        check_name,
        target,
        severity,
        status,
        cast(failing_rows as bigint) as failing_rows,
        detail,
        check_date

    from source

)

select * from renamed
