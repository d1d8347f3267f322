-- Customers with their lifetime order figures. A customer id that appears on orders but whose
-- CRM row was quarantined (or has not arrived yet) becomes an inferred member, so no order is lost.

with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

inferred as (

    select distinct orders.customer_id
    from orders
    left join customers
        on orders.customer_id = customers.customer_id
    where customers.customer_id is null

),

all_customers as (

    select
        customer_id,
        customer_name,
        email,
        signup_date,
        country,
        acquisition_channel,
        false as is_inferred
    from customers

    union all

    select
        customer_id,
        'Unknown customer' as customer_name,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as date) as signup_date,
        'unknown' as country,
        'unknown' as acquisition_channel,
        true as is_inferred
    from inferred

),

order_summary as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as lifetime_orders,
        sum(case when is_revenue then 1 else 0 end) as lifetime_revenue_orders,
        sum(revenue) as lifetime_revenue
    from orders
    group by customer_id

),

final as (

    select
        all_customers.customer_id,
        all_customers.customer_name,
        all_customers.email,
        all_customers.signup_date,
        all_customers.country,
        all_customers.acquisition_channel,
        all_customers.is_inferred,
        order_summary.first_order_date,
        order_summary.last_order_date,
        coalesce(order_summary.lifetime_orders, 0) as lifetime_orders,
        cast(coalesce(order_summary.lifetime_revenue_orders, 0) as bigint) as lifetime_revenue_orders,
        cast(coalesce(order_summary.lifetime_revenue, 0) as numeric(18, 2)) as lifetime_revenue

    from all_customers
    left join order_summary
        on all_customers.customer_id = order_summary.customer_id

)

select * from final
