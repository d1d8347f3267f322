-- Same-weekday baseline per category-day: the median and the median absolute deviation (MAD)
-- of the previous `anomaly_baseline_weeks` same weekdays, never including the day itself.
-- Orders are compared on the Anscombe scale 2 * sqrt(x + 3/8), where Poisson counts have unit
-- variance; revenue on the log scale, where a x3 spike is the same distance at any volume.
-- Plain aggregates over a self-join (Snowflake's median takes no window frame), rounded to six
-- decimals so DuckDB and Snowflake give the same numbers.

with

category_sales as (

    select * from {{ ref('int_category_daily_sales') }}

),

transformed as (

    select
        sales_date,
        category_id,
        2 * sqrt(orders + 0.375) as orders_anscombe,
        ln(1 + revenue) as revenue_log

    from category_sales

),

history as (

    select
        current_day.sales_date,
        current_day.category_id,
        past_day.orders_anscombe,
        past_day.revenue_log

    from transformed as current_day
    inner join transformed as past_day
        on
            current_day.category_id = past_day.category_id
            and current_day.sales_date > past_day.sales_date
    where
        {{ dbt.datediff('past_day.sales_date', 'current_day.sales_date', 'day') }}
        <= 7 * {{ var('anomaly_baseline_weeks') }}
        and mod({{ dbt.datediff('past_day.sales_date', 'current_day.sales_date', 'day') }}, 7) = 0

),

medians as (

    select
        sales_date,
        category_id,
        count(*) as baseline_days,
        median(orders_anscombe) as orders_anscombe_median,
        median(revenue_log) as revenue_log_median

    from history
    group by sales_date, category_id

),

deviations as (

    select
        history.sales_date,
        history.category_id,
        median(abs(history.orders_anscombe - medians.orders_anscombe_median)) as orders_anscombe_mad,
        median(abs(history.revenue_log - medians.revenue_log_median)) as revenue_log_mad

    from history
    inner join medians
        on
            history.sales_date = medians.sales_date
            and history.category_id = medians.category_id
    group by history.sales_date, history.category_id

),

final as (

    select
        medians.sales_date,
        medians.category_id,
        medians.baseline_days,
        cast(medians.orders_anscombe_median as numeric(18, 6)) as orders_anscombe_median,
        cast(deviations.orders_anscombe_mad as numeric(18, 6)) as orders_anscombe_mad,
        cast(medians.revenue_log_median as numeric(18, 6)) as revenue_log_median,
        cast(deviations.revenue_log_mad as numeric(18, 6)) as revenue_log_mad

    from medians
    inner join deviations
        on
            medians.sales_date = deviations.sales_date
            and medians.category_id = deviations.category_id

)

select * from final
