-- table: silver.order_timestamp
-- One row per order seen in the status stream: the first time of each status (a repeated
-- event never moves a time later), the customer from the order's payments and the latest
-- estimated delivery date. Every order is kept, delivered or not.
-- scope: order_id IN (SELECT order_id FROM affected_orders)
-- scope within: {affected_purchase_months}
-- check error not_null: order_id
-- check error unique: order_id
-- check warn not_null: purchase, customer_id, estimated_delivery_date
-- check warn expect: approved >= purchase
-- check warn expect: delivered_customer >= purchase
-- An order with a time outside 1990..2099 is left out (counted, and reported as a warning):
-- one corrupt event must not reach gold, whose lead-time checks would then fail every run.
SELECT s.order_id,
       c.customer_id,
       s.purchase,
       s.approved,
       s.delivered_carrier,
       s.delivered_customer,
       s.canceled_at,
       e.estimated_delivery_date,
       CASE WHEN s.purchase NOT BETWEEN TIMESTAMP '1990-01-01' AND TIMESTAMP '2099-12-31 23:59:59'
              OR s.approved NOT BETWEEN TIMESTAMP '1990-01-01' AND TIMESTAMP '2099-12-31 23:59:59'
              OR s.delivered_carrier NOT BETWEEN TIMESTAMP '1990-01-01' AND TIMESTAMP '2099-12-31 23:59:59'
              OR s.delivered_customer NOT BETWEEN TIMESTAMP '1990-01-01' AND TIMESTAMP '2099-12-31 23:59:59'
              OR s.canceled_at NOT BETWEEN TIMESTAMP '1990-01-01' AND TIMESTAMP '2099-12-31 23:59:59'
              OR e.estimated_delivery_date NOT BETWEEN TIMESTAMP '1990-01-01' AND TIMESTAMP '2099-12-31 23:59:59'
            THEN 'invalid: timestamp outside 1990..2099'
       END AS _drop_reason
FROM status_first s
LEFT JOIN order_customer c ON c.order_id = s.order_id
LEFT JOIN latest_estimated_delivery e ON e.order_id = s.order_id
