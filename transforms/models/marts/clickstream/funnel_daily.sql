-- Sessions per day and channel and how far down the funnel they got:
-- product view -> add to cart -> checkout -> purchase, with step and overall rates.
-- Incremental: each run rebuilds the days from the cutoff (latest day minus the lookback var).

{{
    config(
        materialized='incremental',
        unique_key=['session_date', 'channel'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

sessions as (

    select * from {{ ref('fct_sessions') }}

    {% if is_incremental() %}
    where session_date >= {{ clickstream_cutoff_date('session_date') }}
    {% endif %}

),

counted as (

    select
        session_date,
        coalesce(channel, 'unknown') as channel,
        count(*) as session_count,
        sum(case when has_product_view then 1 else 0 end) as product_view_sessions,
        sum(case when has_add_to_cart then 1 else 0 end) as add_to_cart_sessions,
        sum(case when has_checkout_start then 1 else 0 end) as checkout_sessions,
        sum(case when is_converted then 1 else 0 end) as purchase_sessions

    from sessions
    group by session_date, coalesce(channel, 'unknown')

),

final as (

    select
        session_date,
        channel,
        session_count,
        product_view_sessions,
        add_to_cart_sessions,
        checkout_sessions,
        purchase_sessions,
        {{ safe_ratio('add_to_cart_sessions', 'product_view_sessions') }} as view_to_cart_rate,
        {{ safe_ratio('checkout_sessions', 'add_to_cart_sessions') }} as cart_to_checkout_rate,
        {{ safe_ratio('purchase_sessions', 'checkout_sessions') }} as checkout_to_purchase_rate,
        {{ safe_ratio('purchase_sessions', 'session_count') }} as conversion_rate

    from counted

)

select * from final
