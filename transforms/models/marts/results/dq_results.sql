-- Every check of every quality run (the dashboard shows the newest run; the history shows trends).

with

checks as (

    select * from {{ ref('stg_results__dq_results') }}

),

final as (

    select
        run_id,
        checked_at,
        check_type,
        check_name,
        target,
        severity,
        status,
        failing_rows,
        detail,
        check_date

    from checks

)

select * from final
