-- One row per order line, the latest ingested version. A table kept incrementally like
-- stg_shop__orders: each run re-reads only the lines (by the key the order_items contract declares)
-- with a row ingested since its newest row, minus the lookback (docs/incremental.md).

{{
    config(
        materialized='incremental',
        unique_key='order_item_key',
        incremental_strategy='replace_keys',
        on_schema_change='fail',
    )
}}

{%- set key = contract_key('order_items') %}

with

{% if is_incremental() -%}
changed_keys as (

    select distinct
        {{ key | join(', ') }},
        {{ surrogate_key(key) }} as order_item_key
    from {{ source('shop', 'order_items') }}
    where _ingested_at > {{ shop_changes_since() }}

),

{% endif -%}
source as (

    select order_items.*
    from {{ source('shop', 'order_items') }} as order_items
    {% if is_incremental() %}
        where exists (
            select 1 from changed_keys
            where
                {% for column in key -%}
                changed_keys.{{ column }} = order_items.{{ column }}{{ ' and' if not loop.last }}
                {% endfor %}
        )
    {% endif %}

    {{ latest_row_per_key('order_items') }}

),

renamed as (

    select
        {{ surrogate_key(key) }} as order_item_key,
        order_item_id,
        order_id,
        product_id,
        quantity,
        cast(price as numeric(18, 2)) as unit_price,
        _ingested_at as ingested_at

    from source

)

{{ replace_changed_rows('renamed', 'order_item_key', 'changed_keys') }}
