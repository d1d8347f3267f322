-- title: Monthly cohort retention
-- answers: Of the customers who first bought in a given month (their cohort), what share bought
-- answers: again 1, 2, 3 ... months later?
-- requires: fct_orders
-- param: max_months int = 12 | how many months after the first purchase to follow
-- param: start_date date = null | first cohort month shown, any day in it (null = every cohort)
-- Only revenue-earning orders count as buying. Month 0 is the cohort month itself (always 100%).
-- Months after the last order date in the data are not shown, so recent cohorts have shorter rows.

with

revenue_orders as (

    select
        customer_id,
        cast(date_trunc('month', order_date) as date) as order_month
    from fct_orders
    where is_revenue

),

cohorts as (

    select
        customer_id,
        min(order_month) as cohort_month
    from revenue_orders
    group by customer_id

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_customers
    from cohorts
    group by cohort_month

),

activity as (

    select distinct
        cohorts.cohort_month,
        revenue_orders.customer_id,
        (extract(year from revenue_orders.order_month) - extract(year from cohorts.cohort_month)) * 12
        + (extract(month from revenue_orders.order_month) - extract(month from cohorts.cohort_month))
        as months_since_first_order
    from revenue_orders
    inner join cohorts
        on revenue_orders.customer_id = cohorts.customer_id

),

retained as (

    select
        cohort_month,
        months_since_first_order,
        count(*) as active_customers
    from activity
    group by cohort_month, months_since_first_order

),

last_month as (

    select max(order_month) as last_order_month
    from revenue_orders

),

offsets as (

    select distinct months_since_first_order
    from activity
    where months_since_first_order <= cast(:max_months as integer)

),

-- every cohort x month offset that the data can already show, so a month nobody came back has 0
grid as (

    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_customers,
        offsets.months_since_first_order
    from cohort_sizes
    cross join offsets
    cross join last_month
    where
        offsets.months_since_first_order
        <= (extract(year from last_month.last_order_month) - extract(year from cohort_sizes.cohort_month)) * 12
        + (extract(month from last_month.last_order_month) - extract(month from cohort_sizes.cohort_month))

),

final as (

    select
        grid.cohort_month,
        cast(grid.months_since_first_order as integer) as months_since_first_order,
        grid.cohort_customers,
        coalesce(retained.active_customers, 0) as active_customers,
        round(coalesce(retained.active_customers, 0) * 1.0 / grid.cohort_customers, 4) as retention_rate
    from grid
    left join retained
        on
            grid.cohort_month = retained.cohort_month
            and grid.months_since_first_order = retained.months_since_first_order
    where
        cast(:start_date as date) is null
        or grid.cohort_month >= cast(date_trunc('month', cast(:start_date as date)) as date)

)

select * from final
order by cohort_month, months_since_first_order
