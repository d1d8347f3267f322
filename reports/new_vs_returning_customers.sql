-- title: New vs returning customers per month
-- answers: Each month, how many buying customers were new (their first revenue-earning order ever)
-- answers: and how many came back, and how much revenue did each group bring?
-- requires: fct_orders
-- param: start_date date = null | first month shown, any day in it (null = from the first month)
-- param: end_date date = null | last month shown, any day in it (null = up to the latest month)
-- A customer is new in the month of their first revenue-earning order over the whole history, so
-- narrowing the months does not turn returning customers into new ones.

with

revenue_orders as (

    select
        customer_id,
        revenue,
        cast(date_trunc('month', order_date) as date) as order_month
    from fct_orders
    where is_revenue

),

first_month as (

    select
        customer_id,
        min(order_month) as first_order_month
    from revenue_orders
    group by customer_id

),

classified as (

    select
        revenue_orders.order_month,
        revenue_orders.customer_id,
        revenue_orders.revenue,
        revenue_orders.order_month = first_month.first_order_month as is_new
    from revenue_orders
    inner join first_month
        on revenue_orders.customer_id = first_month.customer_id

),

final as (

    select
        order_month,
        count(distinct case when is_new then customer_id end) as new_customers,
        count(distinct case when not is_new then customer_id end) as returning_customers,
        count(distinct customer_id) as buying_customers,
        sum(case when is_new then revenue else 0 end) as new_customer_revenue,
        sum(case when not is_new then revenue else 0 end) as returning_customer_revenue,
        round(
            count(distinct case when not is_new then customer_id end) * 1.0 / count(distinct customer_id), 4
        ) as returning_share
    from classified
    where
        (
            cast(:start_date as date) is null
            or order_month >= cast(date_trunc('month', cast(:start_date as date)) as date)
        )
        and (
            cast(:end_date as date) is null
            or order_month <= cast(date_trunc('month', cast(:end_date as date)) as date)
        )
    group by order_month

)

select * from final
order by order_month
