-- table: silver.delivered_order_timestamp
-- One row per delivered order and distinct shipping_limit_date of its items, with every
-- timestamp. Rows missing any of them are left out and counted by reason (_drop_reason).
-- scope: order_id IN (SELECT order_id FROM affected_orders)
-- scope within: {affected_delivery_months}
-- check error not_null: order_id, shipping_limit_date, customer_id, purchase, approved
-- check error not_null: delivered_carrier, delivered_customer, estimated_delivery_date
-- check error unique: order_id, shipping_limit_date
-- check error references: order_id -> order_timestamp(order_id)
-- check warn expect: approved >= purchase
-- check warn expect: delivered_carrier >= approved
-- check warn expect: delivered_customer >= delivered_carrier
SELECT o.order_id,
       l.shipping_limit_date,
       o.customer_id,
       o.purchase,
       o.approved,
       o.delivered_carrier,
       o.delivered_customer,
       o.estimated_delivery_date,
       CASE
           WHEN l.shipping_limit_date IS NULL THEN 'no shipping_limit_date'
           WHEN o.customer_id IS NULL THEN 'no customer_id'
           WHEN o.purchase IS NULL THEN 'no purchase time'
           WHEN o.approved IS NULL THEN 'no approved time'
           WHEN o.delivered_carrier IS NULL THEN 'no delivered_carrier time'
           WHEN o.estimated_delivery_date IS NULL THEN 'no estimated_delivery_date'
       END AS _drop_reason
FROM order_timestamp o
LEFT JOIN (SELECT DISTINCT order_id, shipping_limit_date FROM latest_order_item) l
       ON l.order_id = o.order_id
WHERE o.delivered_customer IS NOT NULL
