-- One row per order. `revenue` is the sum of its landed lines when the order status earns
-- revenue; `order_amount` is what the ERP reported on the header. Incremental like fct_order_items
-- (docs/incremental.md), whose lines it sums: built after it, from the same changed orders.

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
orders as (

    -- Joined to the few changed keys on incremental runs, so the optimiser filters early.
    select orders.*
    from {{ ref('stg_shop__orders') }} as orders
    {% if is_incremental() %}
        inner join candidates
            on orders.order_id = candidates.order_id
    {% endif %}

),

order_items as (

    -- Joined to the few changed keys on incremental runs, so the optimiser filters early.
    select order_items.*
    from {{ ref('fct_order_items') }} as order_items
    {% if is_incremental() %}
        inner join candidates
            on order_items.order_id = candidates.order_id
    {% endif %}

),

line_summary as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as units,
        sum(line_amount) as lines_amount,
        max(ingested_at) as ingested_at
    from order_items
    group by order_id

),

joined as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        orders.ordered_at,
        orders.order_status,
        orders.sales_channel,
        orders.order_amount,
        coalesce(line_summary.line_count, 0) as line_count,
        cast(coalesce(line_summary.units, 0) as bigint) as units,
        cast(coalesce(line_summary.lines_amount, 0) as numeric(18, 2)) as lines_amount,
        {{ is_revenue_status('orders.order_status') }} as is_revenue,
        greatest(orders.ingested_at, coalesce(line_summary.ingested_at, orders.ingested_at)) as ingested_at

    from orders
    left join line_summary
        on orders.order_id = line_summary.order_id

),

final as (

    select
        order_id,
        customer_id,
        order_date,
        ordered_at,
        order_status,
        sales_channel,
        order_amount,
        line_count,
        units,
        lines_amount,
        is_revenue,
        cast(case when is_revenue then lines_amount else 0 end as numeric(18, 2)) as revenue,
        ingested_at

    from joined

)

{{ replace_changed_rows('final', 'order_id', 'candidates') }}
