-- title: Funnel conversion by channel
-- answers: Per traffic channel, how many product views led to an add-to-cart, a checkout and a
-- answers: purchase, and what are the step-by-step and overall conversion rates?
-- requires: funnel_daily
-- param: start_date date = null | first event day included (null = from the first day)
-- param: end_date date = null | last event day included (null = up to the latest day)
-- Assumed columns of funnel_daily (one row per event_date and channel): event_date, channel,
-- views, carts, checkouts, purchases (event counts). Rates are recomputed from summed counts,
-- never averaged from daily rates, so busy and quiet days weigh what they should.

with

funnel as (

    select * from funnel_daily
    where
        (cast(:start_date as date) is null or event_date >= cast(:start_date as date))
        and (cast(:end_date as date) is null or event_date <= cast(:end_date as date))

),

by_channel as (

    select
        channel,
        min(event_date) as first_event_date,
        max(event_date) as last_event_date,
        sum(views) as views,
        sum(carts) as carts,
        sum(checkouts) as checkouts,
        sum(purchases) as purchases
    from funnel
    group by channel

),

final as (

    select
        channel,
        first_event_date,
        last_event_date,
        views,
        carts,
        checkouts,
        purchases,
        round(carts * 1.0 / nullif(views, 0), 4) as view_to_cart_rate,
        round(checkouts * 1.0 / nullif(carts, 0), 4) as cart_to_checkout_rate,
        round(purchases * 1.0 / nullif(checkouts, 0), 4) as checkout_to_purchase_rate,
        round(purchases * 1.0 / nullif(views, 0), 4) as view_to_purchase_rate
    from by_channel

)

select * from final
order by views desc, channel
