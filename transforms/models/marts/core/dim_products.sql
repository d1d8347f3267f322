with

products as (

    select * from {{ ref('stg_shop__products') }}

),

categories as (

    select * from {{ ref('stg_shop__categories') }}

),

final as (

    select
        products.product_id,
        products.product_name,
        products.category_id,
        categories.category_name,
        products.list_price

    from products
    left join categories
        on products.category_id = categories.category_id

)

select * from final
