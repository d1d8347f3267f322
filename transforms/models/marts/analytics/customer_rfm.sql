-- Recency, frequency and monetary scores (quintiles, 5 = best) and a named segment for every
-- customer with at least one revenue-earning order, as of the newest order in the warehouse.
-- Pre-computed so the dashboard's segment chart is a small group-by.

with

customers as (

    select * from {{ ref('dim_customers') }}

),

buyers as (

    select
        customer_id,
        last_order_date,
        lifetime_revenue_orders as frequency,
        lifetime_revenue as monetary
    from customers
    where lifetime_revenue_orders > 0

),

reference as (

    select max(last_order_date) as as_of_date
    from buyers

),

scored as (

    select
        buyers.customer_id,
        reference.as_of_date,
        buyers.last_order_date,
        buyers.frequency,
        buyers.monetary,
        {{ dbt.datediff('buyers.last_order_date', 'reference.as_of_date', 'day') }} as recency_days,  -- noqa: LT05
        ntile(5) over (order by buyers.last_order_date asc, buyers.customer_id asc) as r_score,
        ntile(5) over (order by buyers.frequency asc, buyers.customer_id asc) as f_score,
        ntile(5) over (order by buyers.monetary asc, buyers.customer_id asc) as m_score

    from buyers
    cross join reference

),

final as (

    select
        *,
        case
            when r_score >= 4 and f_score >= 4 then 'Champions'
            when r_score >= 3 and f_score >= 3 then 'Loyal'
            when r_score >= 4 then 'Promising'
            when r_score <= 2 and f_score >= 3 then 'At risk'
            when r_score <= 2 then 'Hibernating'
            else 'Needs attention'
        end as segment

    from scored

)

select * from final
