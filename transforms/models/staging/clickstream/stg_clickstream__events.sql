-- One row per event_id. The producer side is at-least-once, so a resent event can land twice
-- under different offsets; the first one landed wins. A resend carries the same event time and
-- so the same event_date: deduplicating within (event_date, event_id) is the same thing, and
-- lets a filter on event_date reach the Parquet partitions through this view.

with

source as (

    select * from {{ source('clickstream', 'clickstream_events') }}

),

renamed as (

    select
        event_id,
        event_type,
        {{ to_utc_timestamp('event_time') }} as event_at,
        {{ clickstream_event_date() }} as event_date,
        session_id,
        anonymous_id,
        customer_id,
        product_id,
        order_id,
        page_url,
        referrer,
        device,
        channel,
        extra as extra_json,
        source_log,
        source_partition,
        source_offset,
        {{ to_utc_timestamp('ingested_at') }} as ingested_at

    from source

    qualify row_number() over (
        partition by event_date, event_id
        order by ingested_at, source_log, source_partition, source_offset
    ) = 1

)

select * from renamed
