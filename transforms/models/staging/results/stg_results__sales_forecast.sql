with

source as (

    select * from {{ source('results', 'sales_forecast') }}

),

renamed as (

    select
        forecast_date,
        cast(category_id as {{ var('key_data_types')['category_id'] }}) as category_id,
        category_name,
        cast(revenue_forecast as numeric(18, 2)) as revenue_forecast,
        cast(revenue_lower as numeric(18, 2)) as revenue_lower,
        cast(revenue_upper as numeric(18, 2)) as revenue_upper,
        cast(revenue_lower_95 as numeric(18, 2)) as revenue_lower_95,
        cast(revenue_upper_95 as numeric(18, 2)) as revenue_upper_95,
        origin_date,
        model,
        generated_at

    from source

)

select * from renamed
