-- Category-days whose orders (and revenue) left their same-weekday baseline. A day is flagged
-- when it is (1) material: at least `anomaly_min_ratio` times above or below the expected
-- orders, (2) beyond Poisson noise: `anomaly_min_count_score` on the Anscombe scale, where a
-- count's noise is 1, and (3) beyond the category's own recent spread: `anomaly_min_robust_score`
-- robust z (MAD, floored at the Poisson noise). Revenue must move the same way. See docs/quality.md.

with

category_sales as (

    select * from {{ ref('int_category_daily_sales') }}

),

baselines as (

    select * from {{ ref('int_category_daily_baselines') }}

),

scored as (

    select
        category_sales.sales_date,
        category_sales.category_id,
        category_sales.category_name,
        category_sales.orders,
        category_sales.revenue,
        baselines.baseline_days,
        -- Back-transformed medians: the expected values for the day.
        greatest(power(baselines.orders_anscombe_median / 2, 2) - 0.375, 0) as expected_orders,
        exp(baselines.revenue_log_median) - 1 as expected_revenue,
        2 * sqrt(category_sales.orders + 0.375) - baselines.orders_anscombe_median as orders_count_score,
        (2 * sqrt(category_sales.orders + 0.375) - baselines.orders_anscombe_median)
        / greatest(1.4826 * baselines.orders_anscombe_mad, 1) as orders_score,
        (ln(1 + category_sales.revenue) - baselines.revenue_log_median)
        / greatest(1.4826 * baselines.revenue_log_mad, 0.1) as revenue_score

    from category_sales
    inner join baselines
        on
            category_sales.sales_date = baselines.sales_date
            and category_sales.category_id = baselines.category_id
    where baselines.baseline_days >= {{ var('anomaly_min_baseline_weeks') }}

),

flagged as (

    select
        *,
        (orders + 1) / (expected_orders + 1) as orders_ratio,
        abs(orders_count_score) >= {{ var('anomaly_min_count_score') }}
        and abs(orders_score) >= {{ var('anomaly_min_robust_score') }}
        and abs(ln((orders + 1) / (expected_orders + 1))) >= ln({{ var('anomaly_min_ratio') }})
        and sign(revenue_score) = sign(orders_score) as is_anomaly

    from scored

),

final as (

    select
        sales_date,
        category_id,
        category_name,
        orders,
        cast(expected_orders as numeric(18, 2)) as expected_orders,
        cast(orders_ratio as numeric(18, 3)) as orders_ratio,
        cast(orders_score as numeric(18, 3)) as orders_score,
        cast(orders_count_score as numeric(18, 3)) as orders_count_score,
        revenue,
        cast(expected_revenue as numeric(18, 2)) as expected_revenue,
        cast(revenue_score as numeric(18, 3)) as revenue_score,
        baseline_days,
        case when orders_score >= 0 then 'spike' else 'drop' end as direction,
        is_anomaly

    from flagged

)

select * from final
