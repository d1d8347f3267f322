-- title: Top customers by lifetime value
-- answers: Who are the customers with the highest lifetime revenue, how often and how recently did
-- answers: they buy, and what share of all revenue does each bring?
-- requires: top_customers, dim_customers
-- param: top_n int = 20 | how many customers (the top_customers mart keeps var top_customers_limit, 100)
-- param: country string = null | only customers from this country code (null = all countries)
-- Lifetime value here is lifetime revenue: revenue-earning orders only, before returns and costs.

with

ranked as (

    select * from top_customers
    where
        revenue_rank <= cast(:top_n as integer)
        and (cast(:country as varchar) is null or country = cast(:country as varchar))

),

all_revenue as (

    select sum(lifetime_revenue) as total_revenue
    from dim_customers

),

final as (

    select
        ranked.revenue_rank,
        ranked.customer_id,
        ranked.customer_name,
        ranked.country,
        ranked.acquisition_channel,
        ranked.first_order_date,
        ranked.last_order_date,
        ranked.last_order_date - ranked.first_order_date as customer_tenure_days,
        ranked.lifetime_revenue_orders,
        ranked.lifetime_revenue,
        ranked.average_order_value,
        round(ranked.lifetime_revenue / nullif(all_revenue.total_revenue, 0), 6) as share_of_all_revenue
    from ranked
    cross join all_revenue

)

select * from final
order by revenue_rank
