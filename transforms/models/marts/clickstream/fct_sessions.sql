-- One row per session: when it started and ended, what happened, whether it converted, and
-- the customer once known (a visitor who logs in mid-session is that customer for the whole
-- session). `session_date` is the day the session started in the business time zone; instants
-- stay UTC. Incremental: each run rebuilds every session with an event on or after the cutoff
-- date (latest session date minus the lookback var; events are filtered by their UTC date, at most
-- a day apart), from all of its events.

{{
    config(
        materialized='incremental',
        unique_key='session_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

events as (

    select * from {{ ref('stg_clickstream__events') }}

),

session_events as (

    select * from events

    {% if is_incremental() %}
    -- Sessions with an event since the cutoff, with all their events (a session can start
    -- the day before the cutoff when it runs over midnight).
    where
        event_date >= {{ dbt.dateadd('day', -1, clickstream_cutoff_date('session_date')) }}
        and session_id in (
            select session_id from events
            where event_date >= {{ clickstream_cutoff_date('session_date') }}
        )
    {% endif %}

),

ordered as (

    select
        *,
        row_number() over (
            partition by session_id order by event_at, event_id
        ) as event_number

    from session_events

),

first_events as (

    select
        session_id,
        anonymous_id,
        device,
        channel,
        referrer,
        page_url as landing_page_url

    from ordered
    where event_number = 1

),

aggregated as (

    select
        session_id,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        max(customer_id) as customer_id,
        count(*) as event_count,
        cast(sum(case when event_type = 'page_view' then 1 else 0 end) as bigint) as page_view_count,
        cast(sum(case when event_type = 'product_view' then 1 else 0 end) as bigint) as product_view_count,
        cast(sum(case when event_type = 'search' then 1 else 0 end) as bigint) as search_count,
        max(case when event_type = 'product_view' then 1 else 0 end) = 1 as has_product_view,
        max(case when event_type = 'add_to_cart' then 1 else 0 end) = 1 as has_add_to_cart,
        max(case when event_type = 'checkout_start' then 1 else 0 end) = 1 as has_checkout_start,
        max(case when event_type = 'purchase' then 1 else 0 end) = 1 as is_converted,
        count(distinct order_id) as order_count

    from ordered
    group by session_id

),

final as (

    select
        aggregated.session_id,
        first_events.anonymous_id,
        aggregated.customer_id,
        aggregated.customer_id is not null as is_known_customer,
        {{ business_date('aggregated.started_at') }} as session_date,
        aggregated.started_at,
        aggregated.ended_at,
        {{ dbt.datediff('aggregated.started_at', 'aggregated.ended_at', 'second') }} as duration_seconds, -- noqa: LT05
        first_events.device,
        first_events.channel,
        first_events.referrer,
        first_events.landing_page_url,
        aggregated.event_count,
        aggregated.page_view_count,
        aggregated.product_view_count,
        aggregated.search_count,
        aggregated.has_product_view,
        aggregated.has_add_to_cart,
        aggregated.has_checkout_start,
        aggregated.is_converted,
        aggregated.order_count

    from aggregated
    inner join first_events
        on aggregated.session_id = first_events.session_id

)

select * from final
