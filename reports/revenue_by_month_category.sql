-- title: Revenue by month and category
-- answers: How much revenue, how many revenue-earning orders and how many units did each category
-- answers: bring in per calendar month, and what share of that month's revenue is it?
-- requires: product_category_sales
-- param: start_date date = null | first sales day included (null = from the first day)
-- param: end_date date = null | last sales day included (null = up to the latest day)
-- param: category string = null | only this category name, exact match (null = every category)
-- Revenue counts only revenue-earning order statuses (see var revenue_statuses). An order has one
-- date, so summing the mart's daily order counts gives the month's distinct orders per category.

with

daily_sales as (

    select * from product_category_sales
    where
        (cast(:start_date as date) is null or sales_date >= cast(:start_date as date))
        and (cast(:end_date as date) is null or sales_date <= cast(:end_date as date))
        and (cast(:category as varchar) is null or category_name = cast(:category as varchar))

),

monthly as (

    select
        cast(date_trunc('month', sales_date) as date) as sales_month,
        category_id,
        category_name,
        sum(revenue) as revenue,
        sum(orders) as orders,
        sum(units) as units
    from daily_sales
    group by 1, 2, 3

),

final as (

    select
        sales_month,
        category_name,
        category_id,
        revenue,
        orders,
        units,
        round(revenue / nullif(sum(revenue) over (partition by sales_month), 0), 4) as share_of_month_revenue
    from monthly

)

select * from final
order by sales_month, revenue desc, category_id
