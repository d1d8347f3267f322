-- Daily revenue, revenue-earning orders and units per category, with a row for every category on
-- every trading day (zero when nothing sold). The dashboard's trends and the forecast read it.

with

category_sales as (

    select * from {{ ref('int_category_daily_sales') }}

),

final as (

    select
        sales_date,
        category_id,
        category_name,
        revenue,
        orders,
        units

    from category_sales

)

select * from final
