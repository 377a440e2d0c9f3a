-- table: silver.order_timestamp
-- One row per order seen in the status stream: the first time of each status (a repeated
-- event never moves a time later), the customer from the order's payments and the latest
-- estimated delivery date. Every order is kept, delivered or not.
-- scope: order_id IN (SELECT order_id FROM touched_orders)
-- check error not_null: order_id
-- check error unique: order_id
-- check warn not_null: purchase, customer_id, estimated_delivery_date
-- check warn expect: approved >= purchase
-- check warn expect: delivered_customer >= purchase
SELECT s.order_id,
       c.customer_id,
       s.purchase,
       s.approved,
       s.delivered_carrier,
       s.delivered_customer,
       s.canceled_at,
       e.estimated_delivery_date
FROM status_first s
LEFT JOIN order_customer c ON c.order_id = s.order_id
LEFT JOIN latest_estimated_delivery e ON e.order_id = s.order_id
