-- The customers who brought the most revenue, ranked; the app and reports read this.

with

customers as (

    select * from {{ ref('dim_customers') }}

),

ranked as (

    select
        customer_id,
        customer_name,
        email,
        country,
        acquisition_channel,
        is_inferred,
        first_order_date,
        last_order_date,
        lifetime_revenue_orders,
        lifetime_revenue,
        cast(
            lifetime_revenue / nullif(lifetime_revenue_orders, 0) as numeric(18, 2)
        ) as average_order_value,
        row_number() over (order by lifetime_revenue desc, customer_id asc) as revenue_rank

    from customers
    where lifetime_revenue > 0

),

final as (

    select * from ranked
    where revenue_rank <= {{ var('top_customers_limit') }}

)

select * from final
