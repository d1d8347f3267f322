{{ config(severity='warn') }}
-- Orders whose header amount differs from the sum of their landed lines. Expected to warn, not
-- fail: a line quarantined at ingest (bad quantity, unknown product) leaves its order short.

select
    order_id,
    order_amount,
    lines_amount

from {{ ref('fct_orders') }}
where abs(order_amount - lines_amount) > 0.01
