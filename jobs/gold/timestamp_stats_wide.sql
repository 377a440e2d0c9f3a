-- table: gold.timestamp_stats_wide
-- Lead times and lateness per delivered order (and shipping_limit_date).
-- *_days are calendar-day differences (as Spark's datediff: the dates of the two instants
-- subtracted, so 23:59 -> 00:01 is one day); *_hours are exact, to 4 places.
-- is_late_delivery: delivered on a later calendar day than the estimate (the estimate's own
-- day is on time). is_late_shipping: handed to the carrier after the shipping limit instant.
-- Each row is one row of silver.delivered_order_timestamp (unique on the same key), read for
-- the touched quarters only: a `references` check back to it would read all of silver.
-- scope: order_id IN (SELECT order_id FROM touched_orders)
-- scope within: {delivered_in_touched_periods}
-- check error not_null: order_id, shipping_limit_date, is_late_delivery, is_late_shipping
-- check error unique: order_id, shipping_limit_date
-- check error expect: is_late_delivery = (delivery_delay_days > 0)
-- check error expect: total_delivery_days >= 0
-- check warn expect: lead_time_approve_days >= 0
-- check warn expect: lead_time_carrier_days >= 0
-- check warn expect: lead_time_customer_days >= 0
SELECT order_id,
       shipping_limit_date,
       purchase,
       approved,
       delivered_carrier,
       delivered_customer,
       estimated_delivery_date,
       days_between(approved, purchase) AS lead_time_approve_days,
       days_between(delivered_carrier, approved) AS lead_time_carrier_days,
       days_between(delivered_customer, delivered_carrier) AS lead_time_customer_days,
       days_between(delivered_customer, purchase) AS total_delivery_days,
       days_between(delivered_customer, estimated_delivery_date) AS delivery_delay_days,
       hours_between(approved, purchase) AS lead_time_approve_hours,
       hours_between(delivered_carrier, approved) AS lead_time_carrier_hours,
       hours_between(delivered_customer, delivered_carrier) AS lead_time_customer_hours,
       hours_between(delivered_customer, purchase) AS total_delivery_hours,
       days_between(delivered_customer, estimated_delivery_date) > 0 AS is_late_delivery,
       delivered_carrier > shipping_limit_date AS is_late_shipping
FROM silver.delivered_order_timestamp
-- the quarters of the touched orders' deliveries (every partition the scope can name)
WHERE {delivered_in_touched_periods}
