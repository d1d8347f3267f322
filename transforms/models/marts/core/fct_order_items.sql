-- One row per order line. Incremental (docs/incremental.md): each run recomputes the lines of the
-- orders that changed since its newest row (`changed_orders`: a header or line ingested since then,
-- a line that moved, a product whose category changed) and replaces the orders whose lines differ.

-- The change feed the incremental runs read (refs inside `changed_orders`):
-- depends_on: {{ ref('stg_shop__order_changes') }}, {{ ref('stg_shop__order_items') }}, {{ ref('stg_shop__products') }}

{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='replace_keys',
        on_schema_change='fail',
    )
}}

with

{% if is_incremental() -%}
candidates as (

    {{ changed_orders(shop_changes_since()) }}

),

{% endif -%}
order_items as (

    -- Joined to the few changed keys on incremental runs, so the optimiser filters early.
    select order_items.*
    from {{ ref('int_order_items_joined_to_orders') }} as order_items
    {% if is_incremental() %}
        inner join candidates
            on order_items.order_id = candidates.order_id
    {% endif %}

),

final as (

    select
        order_item_key,
        order_item_id,
        order_id,
        product_id,
        category_id,
        customer_id,
        order_date,
        sales_channel,
        quantity,
        unit_price,
        line_amount,
        is_revenue,
        revenue,
        ingested_at

    from order_items

)

{{ replace_changed_rows('final', 'order_id', 'candidates') }}
