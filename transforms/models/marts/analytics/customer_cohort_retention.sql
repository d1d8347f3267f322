-- Monthly cohort retention: customers grouped by the month of their first revenue-earning order,
-- and how many of them bought again N months later. Pre-aggregated so the dashboard's heatmap
-- reads a few hundred rows instead of every order.

with

orders as (

    select * from {{ ref('fct_orders') }}

),

customer_months as (

    select distinct
        customer_id,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as order_month
    from orders
    where is_revenue

),

cohorts as (

    select
        customer_id,
        min(order_month) as cohort_month
    from customer_months
    group by customer_id

),

activity as (

    select
        cohorts.cohort_month,
        (extract(year from customer_months.order_month) - extract(year from cohorts.cohort_month)) * 12
        + extract(month from customer_months.order_month)
        - extract(month from cohorts.cohort_month) as months_since_first,
        count(*) as customers
    from customer_months
    inner join cohorts
        on customer_months.customer_id = cohorts.customer_id
    group by
        cohorts.cohort_month,
        months_since_first

),

cohort_sizes as (

    select
        cohort_month,
        customers as cohort_size
    from activity
    where months_since_first = 0

),

final as (

    select
        activity.cohort_month,
        activity.months_since_first,
        activity.customers,
        cohort_sizes.cohort_size,
        cast(activity.customers as {{ dbt.type_float() }}) / cohort_sizes.cohort_size as retention

    from activity
    inner join cohort_sizes
        on activity.cohort_month = cohort_sizes.cohort_month

)

select * from final
