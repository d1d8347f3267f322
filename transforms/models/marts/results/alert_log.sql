-- Every alert the router logged: sent to the webhook, logged only, or failed to deliver. Alerts
-- suppressed as duplicates within the dedup window are not logged.

with

alerts as (

    select * from {{ ref('stg_results__alert_log') }}

),

final as (

    select
        raised_at,
        alert_key,
        source,
        severity,
        title,
        detail,
        context,
        delivery,
        delivery_attempts,
        delivery_error

    from alerts

)

select * from final
