-- The current forecast: the rows of the newest run only. Every `shoplake forecast` adds a run (one
-- file, never rewritten), and readers want the latest prediction per category and day, not the
-- history of predictions.

with

forecasts as (

    select * from {{ ref('stg_results__sales_forecast') }}

),

newest_run as (

    select max(generated_at) as generated_at from forecasts

),

final as (

    select
        forecasts.forecast_date,
        forecasts.category_id,
        forecasts.category_name,
        forecasts.revenue_forecast,
        forecasts.revenue_lower,
        forecasts.revenue_upper,
        forecasts.revenue_lower_95,
        forecasts.revenue_upper_95,
        forecasts.origin_date,
        forecasts.model,
        forecasts.generated_at

    from forecasts
    inner join newest_run
        on forecasts.generated_at = newest_run.generated_at

)

select * from final
