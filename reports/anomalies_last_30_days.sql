-- title: Category anomalies in the last 30 days
-- answers: Which category-days in the last `days` days (up to `as_of`) were flagged as anomalous,
-- answers: how far was revenue from what was expected, and how strong was the signal?
-- requires: anomalies
-- param: as_of date = null | last day of the window (null = the latest day in the anomalies mart)
-- param: days int = 30 | length of the window in days, as_of included
-- param: min_score float = null | only anomalies whose orders_score is at least this far from 0 (null = every flagged day)
-- Columns of anomalies read here (one row per sales_date and category): sales_date, category_id,
-- category_name, revenue (actual), expected_revenue, orders_score, direction, is_anomaly.

with

scored as (

    select * from anomalies

),

window_end as (

    select coalesce(cast(:as_of as date), max(sales_date)) as as_of_date
    from scored

),

final as (

    select
        scored.sales_date,
        scored.category_id,
        scored.category_name,
        scored.revenue,
        scored.expected_revenue,
        scored.revenue - scored.expected_revenue as revenue_gap,
        round(scored.revenue / nullif(scored.expected_revenue, 0), 4) as revenue_vs_expected,
        scored.orders_score,
        scored.direction
    from scored
    cross join window_end
    where
        scored.is_anomaly
        and scored.sales_date <= window_end.as_of_date
        -- datediff with a quoted part reads the same on DuckDB and Snowflake; `date - int` does not
        and datediff('day', scored.sales_date, window_end.as_of_date) < cast(:days as integer)
        and (cast(:min_score as double) is null or abs(scored.orders_score) >= cast(:min_score as double))

)

select * from final
order by sales_date desc, abs(orders_score) desc, category_id
