-- One row per order header, the latest ingested version. A table kept incrementally: each run
-- re-reads only the orders with a row ingested since its newest row (minus the lookback) and
-- replaces those whose winning row changed (docs/incremental.md), instead of ranking all history.

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
changed_keys as (

    select distinct order_id
    from {{ source('shop', 'orders') }}
    where _ingested_at > {{ shop_changes_since() }}

),

{% endif -%}
source as (

    select * from {{ source('shop', 'orders') }}

    {% if is_incremental() -%}
    where order_id in (select changed_keys.order_id from changed_keys)
    {% endif -%}

    {{ latest_row_per_key('orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        {{ contract_date('orders', 'order_date') }} as order_date,
        {{ contract_instant('orders', 'order_date') }} as ordered_at,
        cast(order_amount as numeric(18, 2)) as order_amount,
        order_status,
        sales_channel,
        _ingested_at as ingested_at

    from source

)

{{ replace_changed_rows('renamed', 'order_id', 'changed_keys') }}
