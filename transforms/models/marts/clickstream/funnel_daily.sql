-- Sessions per day and channel and how far down the funnel they got: `views`, `carts`,
-- `checkouts` and `purchases` count the sessions that reached each step (a session that views
-- ten products is one view), with step and overall rates. `event_date` is the day the
-- session started in the business time zone (fct_sessions.session_date). Incremental: each run rebuilds the days from the cutoff (latest day minus
-- the lookback var).

{{
    config(
        materialized='incremental',
        unique_key=['event_date', 'channel'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

sessions as (

    select * from {{ ref('fct_sessions') }}

    {% if is_incremental() %}
    where session_date >= {{ clickstream_cutoff_date('event_date') }}
    {% endif %}

),

counted as (

    select
        session_date as event_date,
        coalesce(channel, 'unknown') as channel,
        count(*) as session_count,
        -- `views` is a keyword to sqlfluff, but it is the name reports/funnel_conversion_by_channel.sql reads
        cast(sum(case when has_product_view then 1 else 0 end) as bigint) as views,  -- noqa: RF04
        cast(sum(case when has_add_to_cart then 1 else 0 end) as bigint) as carts,
        cast(sum(case when has_checkout_start then 1 else 0 end) as bigint) as checkouts,
        cast(sum(case when is_converted then 1 else 0 end) as bigint) as purchases

    from sessions
    group by session_date, coalesce(channel, 'unknown')

),

final as (

    select
        event_date,
        channel,
        session_count,
        views,
        carts,
        checkouts,
        purchases,
        {{ safe_ratio('carts', 'views') }} as view_to_cart_rate,
        {{ safe_ratio('checkouts', 'carts') }} as cart_to_checkout_rate,
        {{ safe_ratio('purchases', 'checkouts') }} as checkout_to_purchase_rate,
        {{ safe_ratio('purchases', 'session_count') }} as conversion_rate

    from counted

)

select * from final
